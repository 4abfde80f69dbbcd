"""Starting, stopping and binding the real daemon process."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from facecast.client import Client, FacecastError
from tests.integration.daemon_process import start_daemon


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_daemon_cleanly_while_clients_stream(default_store, tmp_path: Path, sig: int):
    d = start_daemon(tmp_path, default_store.root)
    with Client(d.endpoint) as client:
        bound = client.bind("default")
        for _ in range(5):
            client.send_pose(bound.neutral)
        client.recv_frame()
        assert d.stop(sig) == 0
    log = d.log()
    assert "shutting down" in log and "daemon stopped" in log and "Traceback" not in log


def test_ipc_endpoint(default_store, tmp_path: Path):
    sock = tmp_path / "facecast.sock"
    d = start_daemon(tmp_path, default_store.root, bind=f"ipc://{sock}")
    try:
        assert d.endpoint == f"ipc://{sock}"
        with Client(d.endpoint) as client:
            bound = client.bind("default", width=64, height=64)
            assert client.render(bound.neutral).image.shape == (64, 64, 4)
    finally:
        assert d.stop() == 0


@pytest.mark.parametrize("endpoint", ["tcp://0.0.0.0:5555", "tcp://192.168.1.10:5555", "udp://127.0.0.1:1"])
def test_refuses_non_loopback_and_unknown_endpoints(default_store, endpoint: str):
    proc = subprocess.run([sys.executable, "-m", "facecast.apps.cli", "serve", "--bind", endpoint,
                           "--store", str(default_store.root)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "refusing to bind" in proc.stderr or "not supported" in proc.stderr


def test_idle_sessions_are_reclaimed(default_store, tmp_path: Path):
    d = start_daemon(tmp_path, default_store.root, "--set", "server.session_timeout_s=0.5",
                     "--set", "server.stats_interval_s=0.2")
    try:
        with Client(d.endpoint) as idle, Client(d.endpoint) as watcher:
            idle.bind("default")
            watcher.hello()  # only hello and bind open a session
            assert watcher.stats().daemon["sessions"] == 2
            deadline = time.monotonic() + 20
            while watcher.stats().daemon["sessions"] > 1 and time.monotonic() < deadline:
                time.sleep(0.1)  # the watcher stays alive by asking; the idle one times out
            report = watcher.stats().daemon
            assert report["sessions"] == 1 and report["counters"]["sessions_timed_out"] >= 1
    finally:
        assert d.stop() == 0


def test_only_hello_or_bind_opens_a_session_and_unbound_ones_expire_fast(default_store, tmp_path: Path):
    """Issue 12 #10: 300 connections sending one ping (or garbage) each used to fill the 256
    sessions until the idle timeout, refusing real clients SESSION_LIMIT. Now pings and
    garbage open no session, and a session that said hello but never bound is reclaimed
    after unbound_session_timeout_s."""
    import zmq

    from facecast.protocol import Ping, encode

    d = start_daemon(tmp_path, default_store.root, "--set", "server.max_sessions=8",
                     "--set", "server.unbound_session_timeout_s=0.5", "--set", "server.stats_interval_s=0.2")
    ctx = zmq.Context()
    try:
        floods = []
        for i in range(300):
            s = ctx.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.connect(d.endpoint)
            s.send(encode(Ping(t_send=0.0, seq=i)) if i % 2 else b"\xc1garbage")
            floods.append(s)
        for s in floods:  # every one is answered (pong or MALFORMED), none holds a session
            assert s.poll(10000), "no reply"
            s.recv()
        with Client(d.endpoint) as real:
            bound = real.bind("default", width=32, height=32)  # not refused: the table is empty
            assert real.render(bound.neutral).image.shape == (32, 32, 4)
            assert real.stats().daemon["sessions"] == 1
            lurkers = [Client(d.endpoint) for _ in range(7)]
            for c in lurkers:
                c.hello()  # sessions without a binding fill the table ...
            with Client(d.endpoint, auto_rebind=False) as late:
                with pytest.raises(FacecastError):
                    late.hello()  # ... for now
                deadline = time.monotonic() + 20
                while real.stats().daemon["sessions"] > 1 and time.monotonic() < deadline:
                    real.render(bound.neutral)  # the bound session stays alive by working
                    time.sleep(0.1)
                assert real.stats().daemon["sessions"] == 1  # the unbound ones were reclaimed
                assert late.hello().session  # and there is room again
            for c in lurkers:
                c.close()
    finally:
        for s in floods:
            s.close(0)
        ctx.term()
        assert d.stop() == 0
