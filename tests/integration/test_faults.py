"""Faults the daemon and its clients survive: a failing renderer, a daemon restart, a
client killed mid-stream, SIGTERM under load."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from facecast.client import Client
from facecast.protocol import Error, Frame
from tests.integration.daemon_process import start_daemon
from tests.integration.faulty_renderer import POISON

FAULTY = "tests.integration.faulty_renderer:FaultyRenderer"


def _rings() -> set[str]:
    return {p.name for p in Path("/dev/shm").glob("facecast-*")}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_renderer_failures_get_error_replies_and_smaller_batches_are_retried(full_store, tmp_path: Path):
    d = start_daemon(tmp_path, full_store.root, "--renderer", FAULTY, "--max-batch", "8", "--max-wait-ms", "50")
    clients = [Client(d.endpoint) for _ in range(6)]
    try:
        neutrals = [c.bind(name).neutral for c, name in zip(clients, ["default", "mona_lisa", "bw_portrait",
                                                                      "cartoon_boy", "painted_girl", "default"])]
        frames = errors = 0
        for rnd in range(10):
            sent = {}
            for i, (c, n) in enumerate(zip(clients, neutrals)):
                pose = n.copy()
                poisoned = (i + rnd) % 4 == 0
                if poisoned:
                    pose[0, 2] = POISON
                sent[i] = (c.send_pose(pose), poisoned)
            for i, c in enumerate(clients):
                seq, poisoned = sent[i]
                msg = c.recv(timeout_s=20)
                assert getattr(msg, "seq", None) == seq
                if poisoned:
                    assert isinstance(msg, Error) and msg.code == 500 and "poisoned" in msg.message
                    errors += 1
                else:
                    assert isinstance(msg, Frame), msg
                    frames += 1
        report = clients[0].stats().daemon
    finally:
        for c in clients:
            c.close()
        assert d.stop() == 0
    assert errors == 15 and frames == 45
    assert report["counters"]["render_failures"] == errors
    assert report["counters"]["batch_retries"] > 0, "batches larger than the renderer takes are split"
    assert report["errors"]["RENDER_FAILED"] == errors


@pytest.mark.parametrize("output", ["inline", "shm"])
def test_client_reconnects_and_rebinds_after_a_daemon_restart(full_store, tmp_path: Path, output: str):
    endpoint = f"tcp://127.0.0.1:{_free_port()}"
    first = start_daemon(tmp_path, full_store.root, bind=endpoint)
    results: list = []
    restarted = threading.Event()
    second = None
    with Client(endpoint, timeout_s=30) as client:
        bound = client.bind("mona_lisa", width=128, height=128, pixel_format="rgba8", output=output)

        def stream() -> None:
            for i in range(120):
                if i == 30:
                    restarted.wait(60)
                try:
                    results.append(client.render(bound.neutral))
                except Exception as exc:  # noqa: BLE001 - reported by the assertions below
                    results.append(exc)

        t = threading.Thread(target=stream)
        t.start()
        while len(results) < 30:
            time.sleep(0.01)
        first.proc.kill()  # a crash: no goodbye to anyone
        first.proc.wait()
        second = start_daemon(tmp_path, full_store.root, bind=endpoint)
        restarted.set()
        t.join(120)
        rebinds = client.rebinds
        assert client.stats().session["character"] == "mona_lisa"
    assert second.stop() == 0
    failures = [r for r in results if isinstance(r, Exception)]
    assert not failures, failures[:3]
    assert len(results) == 120 and rebinds >= 1
    assert all(r.image.shape == (128, 128, 4) for r in results)


CLIENT_SCRIPT = """
import sys, time
from facecast.client import Client
with Client(sys.argv[1]) as c:
    b = c.bind("default", output="shm")
    print(b.shm["name"], flush=True)
    while True:
        c.render(b.neutral)
"""


def test_killed_client_session_and_ring_are_reclaimed(full_store, tmp_path: Path):
    d = start_daemon(tmp_path, full_store.root, "--set", "server.session_timeout_s=1",
                     "--set", "server.stats_interval_s=0.2")
    try:
        proc = subprocess.Popen([sys.executable, "-c", CLIENT_SCRIPT, d.endpoint], stdout=subprocess.PIPE, text=True)
        ring = proc.stdout.readline().strip()
        assert ring in _rings()
        time.sleep(0.5)  # mid-stream
        proc.kill()
        proc.wait()
        with Client(d.endpoint) as watcher:
            deadline = time.monotonic() + 20
            while ring in _rings() and time.monotonic() < deadline:
                watcher.ping()
                time.sleep(0.2)
            assert ring not in _rings()
            assert watcher.stats().daemon["counters"]["sessions_timed_out"] >= 1
    finally:
        assert d.stop() == 0


def test_sigterm_under_load_leaks_no_rings_and_no_processes(full_store, tmp_path: Path):
    before = _rings()
    d = start_daemon(tmp_path, full_store.root)
    daemon_proc = psutil.Process(d.proc.pid)
    stop = threading.Event()
    errors: list[BaseException] = []

    def stream(character: str) -> None:
        try:
            with Client(d.endpoint, timeout_s=5, retry_s=5) as c:
                b = c.bind(character, width=128, height=128, output="shm")
                while not stop.is_set():
                    c.send_pose(b.neutral)
                    try:
                        c.recv(timeout_s=0.5)
                    except TimeoutError:
                        pass
        except Exception as exc:  # noqa: BLE001 - only failures before the stop count
            if not stop.is_set():
                errors.append(exc)

    threads = [threading.Thread(target=stream, args=(n,)) for n in
               ["default", "mona_lisa", "bw_portrait", "cartoon_boy"] * 2]
    for t in threads:
        t.start()
    time.sleep(2.0)
    assert len(_rings() - before) == 8
    children = daemon_proc.children(recursive=True)
    assert d.stop(signal.SIGTERM) == 0
    stop.set()
    for t in threads:
        t.join(10)
    assert not errors, errors
    assert _rings() == before, "rings left in /dev/shm"
    deadline = time.monotonic() + 10
    while any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    leftovers = [c for c in children if c.is_running()]
    assert not leftovers, f"processes left behind: {leftovers}"
