"""Revoking and adding CurveZMQ client keys while the real daemon runs (no restart)."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Callable

import pytest

from facecast.client import Client, ClientTimeout, FacecastError
from facecast.protocol import Error
from facecast.transport.curve import generate_keys
from tests.integration.daemon_process import DaemonProcess, start_daemon


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    """The daemon's pair; alice, bob and carol each generate theirs in their own folder;
    the allow-list folder holds alice's and bob's public keys."""
    out: dict[str, Path] = {}
    out["server_pub"], out["server_sec"] = generate_keys(tmp_path / "keys", "server")
    allowed = out["allowed"] = tmp_path / "allowed"
    allowed.mkdir()
    for name in ("alice", "bob", "carol"):
        out[f"{name}_pub"], out[f"{name}_sec"] = generate_keys(tmp_path / f"client-{name}", name)
    for name in ("alice", "bob"):
        (allowed / f"{name}.key").write_bytes(out[f"{name}_pub"].read_bytes())
    return out


def _daemon(tmp_path: Path, store_root: Path, keys: dict[str, Path], *args: str) -> DaemonProcess:
    return start_daemon(tmp_path, store_root, "--renderer", "copy", "--curve-secret-key", str(keys["server_sec"]),
                        "--curve-clients", str(keys["allowed"]), *args)


def _client(d: DaemonProcess, keys: dict[str, Path], name: str, timeout_s: float = 10.0) -> Client:
    return Client(d.endpoint, timeout_s=timeout_s, curve_server_key=str(keys["server_pub"]),
                  curve_client_secret=str(keys[f"{name}_sec"]))


def _eventually(check: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    """Poll ``check`` until it holds; ``timeout_s`` is a bound of cost, not a claim of speed."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        time.sleep(0.1)


def _admitted(d: DaemonProcess, keys: dict[str, Path], name: str) -> bool:
    """Whether a new connection with ``name``'s key gets an answer (refused handshakes get none)."""
    with _client(d, keys, name, timeout_s=2.0) as c:
        try:
            c.ping()
            return True
        except ClientTimeout:
            return False


def test_a_removed_key_loses_its_open_connection_and_cannot_connect_again(default_store, tmp_path: Path, keys):
    d = _daemon(tmp_path, default_store.root, keys)
    try:
        with _client(d, keys, "alice") as alice, _client(d, keys, "bob") as bob:
            a, b = alice.bind("default", width=32, height=32), bob.bind("default", width=32, height=32)
            assert alice.render(a.neutral).image.shape == (32, 32, 4)
            assert bob.render(b.neutral).image.shape == (32, 32, 4)

            (keys["allowed"] / "alice.key").unlink()  # revoke alice; the daemon keeps running
            # the daemon notices by itself and ends alice's session while she is silent
            _eventually(lambda: bob.stats().daemon["counters"].get("sessions_revoked") == 1,
                        "alice's session ended after her key was removed")
            assert bob.stats().daemon["sessions"] == 1

            # her open connection gets no more frames: every message is refused with a code
            for _ in range(5):
                alice.send_pose(a.neutral)
            replies = [alice.recv(timeout_s=10) for _ in range(5)]
            assert all(isinstance(r, Error) and r.code == 205 and r.name == "KEY_REVOKED" for r in replies), replies
            with pytest.raises(FacecastError) as refused:
                alice.hello()
            assert refused.value.name == "KEY_REVOKED"
            # and a new connection with her key is refused at the handshake
            assert not _admitted(d, keys, "alice")

            # bob carries on undisturbed
            for _ in range(3):
                assert bob.render(b.neutral).image.shape == (32, 32, 4)
            report = bob.stats().daemon
            assert report["errors"]["KEY_REVOKED"] == 6
            assert report["counters"]["messages_refused_revoked"] == 6
    finally:
        assert d.stop() == 0, d.log()


def test_an_added_key_is_admitted_without_restart(default_store, tmp_path: Path, keys):
    d = _daemon(tmp_path, default_store.root, keys)
    try:
        assert not _admitted(d, keys, "carol")
        (keys["allowed"] / "carol.key").write_bytes(keys["carol_pub"].read_bytes())
        _eventually(lambda: _admitted(d, keys, "carol"), "carol admitted after her key was added")
        with _client(d, keys, "carol") as carol, _client(d, keys, "alice") as alice:
            c = carol.bind("default", width=32, height=32)
            assert carol.render(c.neutral).image.shape == (32, 32, 4)
            assert alice.ping()
    finally:
        assert d.stop() == 0, d.log()


def test_sighup_reloads_the_allow_list(default_store, tmp_path: Path, keys):
    d = _daemon(tmp_path, default_store.root, keys, "--set", "server.curve_reload_s=0")  # no watching
    try:
        with _client(d, keys, "alice") as alice, _client(d, keys, "bob") as bob:
            b = bob.bind("default", width=32, height=32)
            alice.ping()
            (keys["allowed"] / "bob.key").unlink()
            (keys["allowed"] / "carol.key").write_bytes(keys["carol_pub"].read_bytes())
            d.proc.send_signal(signal.SIGHUP)
            _eventually(lambda: alice.stats().daemon["counters"].get("sessions_revoked") == 1,
                        "bob's session ended after SIGHUP")
            with pytest.raises(FacecastError) as refused:
                bob.render(b.neutral)
            assert refused.value.name == "KEY_REVOKED"
            assert _admitted(d, keys, "carol")
            assert alice.ping()
    finally:
        assert d.stop() == 0, d.log()
