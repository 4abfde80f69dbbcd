"""CurveZMQ authentication, limits, and the keys command, against the real daemon."""

from __future__ import annotations

import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from facecast.transport.endpoints import check_bind_endpoint
from facecast.client import Client, ClientTimeout, FacecastError
from facecast.transport.curve import CurveError, generate_keys
from tests.integration.daemon_process import start_daemon


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    server_pub, server_sec = generate_keys(tmp_path / "keys", "server")
    allowed_pub, allowed_sec = generate_keys(tmp_path / "client-alice", "alice")
    _, stranger_sec = generate_keys(tmp_path / "client-mallory", "mallory")
    allow_list = tmp_path / "allowed"
    allow_list.mkdir()
    (allow_list / "alice.key").write_bytes(allowed_pub.read_bytes())
    return {"server_pub": server_pub, "server_sec": server_sec, "alice_sec": allowed_sec,
            "mallory_sec": stranger_sec, "allowed": allow_list}


def test_keys_generate_writes_safe_files(tmp_path: Path):
    proc = subprocess.run([sys.executable, "-m", "facecast.apps.cli", "keys", "generate", str(tmp_path / "k"),
                           "--name", "server"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    pub, sec = tmp_path / "k" / "server.key", tmp_path / "k" / "server.key_secret"
    assert stat.S_IMODE(sec.stat().st_mode) == 0o600
    assert stat.S_IMODE(pub.stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "k").stat().st_mode) == 0o700
    assert "secret-key" in sec.read_text() and "secret-key" not in pub.read_text()
    again = subprocess.run([sys.executable, "-m", "facecast.apps.cli", "keys", "generate", str(tmp_path / "k")],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "exists" in again.stderr  # never overwrites


def test_keys_generate_keeps_the_mode_of_an_existing_folder(tmp_path: Path):
    shared = tmp_path / "shared"  # e.g. a sticky, world-writable drop folder (like /tmp)
    shared.mkdir()
    shared.chmod(0o1777)
    proc = subprocess.run([sys.executable, "-m", "facecast.apps.cli", "keys", "generate", str(shared),
                           "--name", "alice"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777  # not made 0700: it is not ours to change
    assert stat.S_IMODE((shared / "alice.key_secret").stat().st_mode) == 0o600
    assert stat.S_IMODE((shared / "alice.key").stat().st_mode) == 0o644
    generate_keys(tmp_path / "new" / "deeper", "bob")  # a folder it creates is private
    assert stat.S_IMODE((tmp_path / "new" / "deeper").stat().st_mode) == 0o700


def test_non_loopback_refusal_keeps_secret_keys_out_of_the_allow_list():
    with pytest.raises(ValueError) as refused:
        check_bind_endpoint("tcp://0.0.0.0:5555")
    advice = str(refused.value)
    generated = re.findall(r"keys generate (\S+?)[`\s]", advice)
    allow_list = re.search(r"--curve-clients (\S+)", advice).group(1)
    assert generated and allow_list
    # following the advice never writes a .key_secret into the daemon's allow-list folder
    assert allow_list.rstrip("/") not in [g.rstrip("/") for g in generated], advice
    assert "public" in advice


def test_curve_admits_only_allow_listed_clients(default_store, tmp_path: Path, keys):
    d = start_daemon(tmp_path, default_store.root, "--curve-secret-key", str(keys["server_sec"]),
                     "--curve-clients", str(keys["allowed"]))
    try:
        with Client(d.endpoint, curve_server_key=str(keys["server_pub"]),
                    curve_client_secret=str(keys["alice_sec"])) as alice:
            bound = alice.bind("default", width=64, height=64)
            assert alice.render(bound.neutral).image.shape == (64, 64, 4)
        with Client(d.endpoint, timeout_s=2, curve_server_key=str(keys["server_pub"]),
                    curve_client_secret=str(keys["mallory_sec"])) as mallory:
            with pytest.raises(ClientTimeout):
                mallory.hello()  # the handshake is refused: no session, no reply
        with Client(d.endpoint, timeout_s=2) as plain:
            with pytest.raises(ClientTimeout):
                plain.hello()
        with Client(d.endpoint, curve_server_key=str(keys["server_pub"]),
                    curve_client_secret=str(keys["alice_sec"])) as alice_again:
            # neither stranger got a session (alice's first one ended with her bye, and a
            # stats request is answered without opening one)
            assert alice_again.stats().daemon["sessions"] == 0
    finally:
        assert d.stop() == 0


def test_non_loopback_needs_curve(keys, default_store, tmp_path: Path):
    with pytest.raises(ValueError, match="without CurveZMQ"):
        check_bind_endpoint("tcp://0.0.0.0:5555")
    assert check_bind_endpoint("tcp://0.0.0.0:5555", curve=True) == "tcp://0.0.0.0:5555"
    proc = subprocess.run([sys.executable, "-m", "facecast.apps.cli", "serve", "--bind", "tcp://0.0.0.0:0",
                           "--store", str(default_store.root), "--curve-secret-key", str(keys["server_sec"])],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "allow-list" in proc.stderr  # keys without an allow-list: refused
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CurveError, match="no .key files"):
        from facecast.transport.curve import secure_server
        import zmq

        ctx = zmq.Context()
        try:
            secure_server(ctx, ctx.socket(zmq.ROUTER), str(keys["server_sec"]), str(empty))
        finally:
            ctx.destroy(linger=0)


def test_pose_rate_limit(default_store, tmp_path: Path):
    d = start_daemon(tmp_path, default_store.root, "--renderer", "copy",
                     "--set", "server.max_poses_per_second=20")
    try:
        with Client(d.endpoint) as client:
            bound = client.bind("default", width=32, height=32)
            for i in range(60):  # a burst far above 20/s (bucket of 10)
                client.send_pose(bound.neutral, seq=i + 1)
            limited = frames = 0
            while frames + limited < 60:
                msg = client.recv(timeout_s=10)
                if msg.TYPE == "error":
                    assert msg.code == 204 and msg.name == "RATE_LIMITED" and msg.seq is not None
                    limited += 1
                elif msg.TYPE == "frame":
                    frames += 1 + msg.superseded
            assert limited >= 40
            assert client.stats().daemon["errors"]["RATE_LIMITED"] == limited
    finally:
        assert d.stop() == 0


def test_least_recently_bound_characters_are_unloaded(full_store, tmp_path: Path):
    d = start_daemon(tmp_path, full_store.root, "--set", "server.max_characters=2")
    try:
        with Client(d.endpoint) as first, Client(d.endpoint) as other:
            b = first.bind("mona_lisa", width=64, height=64)
            for name in ("default", "bw_portrait", "cartoon_boy"):
                other.bind(name, width=64, height=64)
            report = other.stats().daemon
            assert report["characters_loaded"] == ["bw_portrait", "cartoon_boy"]
            assert report["counters"]["characters_unloaded"] == 2
            frame = first.render(b.neutral)  # its session keeps its (unloaded) character
            assert frame.message.character == "mona_lisa"
            first.bind("mona_lisa", width=64, height=64)  # loads it again
            assert "mona_lisa" in first.stats().daemon["characters_loaded"]
    finally:
        assert d.stop() == 0


def test_session_limit_refuses_new_clients_and_keeps_the_others(default_store, tmp_path: Path):
    d = start_daemon(tmp_path, default_store.root, "--renderer", "copy", "--set", "server.max_sessions=2")
    try:
        with Client(d.endpoint) as a, Client(d.endpoint) as b:
            bound = a.bind("default", width=32, height=32)
            b.bind("default", width=32, height=32)
            with Client(d.endpoint, auto_rebind=False) as c:
                with pytest.raises(FacecastError) as refused:
                    c.hello()
                assert refused.value.code == 203 and refused.value.name == "SESSION_LIMIT"
                assert "2 sessions" in str(refused.value)
                # the admitted sessions are undisturbed
                assert a.render(bound.neutral).image.shape == (32, 32, 4)
                assert b.render(bound.neutral).image.shape == (32, 32, 4)
                assert a.stats().daemon["errors"]["SESSION_LIMIT"] == 1
                # a session that ends frees its place
                b.bye()
                assert c.hello().session
    finally:
        assert d.stop() == 0
