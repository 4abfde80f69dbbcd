"""The CurveZMQ allow-list folder: what it admits and when it is re-read (real key files)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from facecast.transport.allow_list import MAX_KEY_FILE_BYTES, AllowList
from facecast.transport.curve import generate_keys, load_public


@pytest.fixture
def pairs(tmp_path: Path) -> dict[str, tuple[Path, Path]]:
    return {name: generate_keys(tmp_path / f"client-{name}", name) for name in ("alice", "bob", "carol")}


def _allow(folder: Path, pairs: dict[str, tuple[Path, Path]], *names: str) -> None:
    folder.mkdir(exist_ok=True)
    for name in names:
        shutil.copy(pairs[name][0], folder / f"{name}.key")


def test_admits_exactly_the_public_keys_in_the_folder(tmp_path: Path, pairs, caplog):
    folder = tmp_path / "allowed"
    _allow(folder, pairs, "alice")
    shutil.copy(pairs["bob"][1], folder / "bob.key_secret")  # a secret key does not belong here
    (folder / "junk.key").write_text("not a certificate\n")
    (folder / "huge.key").write_bytes(b"#" * (MAX_KEY_FILE_BYTES + 1))
    with caplog.at_level(logging.WARNING, logger="facecast.transport.allow_list"):
        allow = AllowList(folder)
    alice, bob = load_public(pairs["alice"][0]), load_public(pairs["bob"][0])
    assert len(allow) == 1
    assert allow.admits(alice) and allow.admits(alice.decode()) and allow.callback("*", alice)
    assert not allow.admits(bob) and not allow.admits(None) and not allow.callback("*", bob)
    warnings = caplog.text
    assert "secret key file" in warnings and "junk.key" in warnings and "huge.key" in warnings


def test_poll_rereads_only_when_the_folder_changed_or_when_asked(tmp_path: Path, pairs):
    folder = tmp_path / "allowed"
    _allow(folder, pairs, "alice", "bob")
    allow = AllowList(folder, interval_s=1.0)
    alice, bob, carol = (load_public(pairs[n][0]) for n in ("alice", "bob", "carol"))
    assert allow.poll(now=100.0) is None  # due, unchanged
    (folder / "bob.key").unlink()
    _allow(folder, pairs, "carol")
    assert allow.poll(now=100.5) is None  # not due yet: nothing re-read
    assert allow.admits(bob)
    assert allow.poll(now=101.0) == {bob}  # due and changed: the removed keys
    assert allow.admits(alice) and allow.admits(carol) and not allow.admits(bob)

    watch_off = AllowList(folder, interval_s=0)
    (folder / "alice.key").unlink()
    assert watch_off.poll(now=1e9) is None and watch_off.admits(alice)
    watch_off.request_reload()  # what SIGHUP does
    assert watch_off.poll(now=0.0) == {alice}
    assert not watch_off.admits(alice) and watch_off.admits(carol)


def test_a_folder_that_vanishes_admits_nobody_until_it_is_back(tmp_path: Path, pairs):
    folder = tmp_path / "allowed"
    _allow(folder, pairs, "alice")
    allow = AllowList(folder, interval_s=1.0)
    alice = load_public(pairs["alice"][0])
    shutil.rmtree(folder)
    assert allow.poll(now=10.0) == {alice}
    assert len(allow) == 0
    _allow(folder, pairs, "alice")
    assert allow.poll(now=20.0) == set()
    assert allow.admits(alice)
