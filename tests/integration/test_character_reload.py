"""A character re-enrolled while the daemon runs is served in its new version without a
restart (issue 12 #14): new binds get it, and sessions already bound to it switch."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from facecast.capture.landmarks import LandmarkDetector
from facecast.characters.store import CharacterStore
from facecast.client import Client
from tests.integration.daemon_process import start_daemon

REPO = Path(__file__).resolve().parents[2]
SIZE = 128


def _reference(root: Path, name: str) -> np.ndarray:
    image = CharacterStore(root).load(name).image
    return cv2.resize(image, (SIZE, SIZE), interpolation=cv2.INTER_AREA).astype(np.float32)


def _closer_to(frame: np.ndarray, new: np.ndarray, old: np.ndarray) -> str:
    rgb = frame[..., :3].astype(np.float32)
    return "new" if np.abs(rgb - new).mean() < np.abs(rgb - old).mean() else "old"


def _enroll_cli(root: Path, photo: Path) -> None:
    """Re-enroll "who" from ``photo`` with the real command, as a user would."""
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    done = subprocess.run([sys.executable, "-m", "facecast.apps.cli", "enroll", "who", str(photo), "--overwrite",
                           "--store", str(root)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr


def _store_of_who(tmp_path: Path, model_dir: Path, photo: Path) -> Path:
    root = tmp_path / "store"
    with LandmarkDetector(model_dir / "face_landmarker.task") as detector:
        CharacterStore(root).enroll("who", [photo], detector=detector)
    return root


def test_a_running_session_switches_to_a_re_enrolled_character_without_a_restart(
        tmp_path: Path, model_dir: Path, shared_characters: list[Path]) -> None:
    root = _store_of_who(tmp_path, model_dir, shared_characters[0])
    old_ref = _reference(root, "who")
    daemon = start_daemon(tmp_path, root)
    running = Client(daemon.endpoint, timeout_s=20)
    try:
        old_neutral = running.bind("who", width=SIZE, height=SIZE).neutral
        first = running.render(old_neutral)
        _enroll_cli(root, shared_characters[1])
        new_ref = _reference(root, "who")
        assert _closer_to(first.image, new_ref, old_ref) == "old"
        # No bind: the daemon checks loaded characters' manifests every
        # server.character_check_s (1 s) and moves their sessions to the new version.
        deadline = time.monotonic() + 30.0
        while _closer_to(running.render(old_neutral).image, new_ref, old_ref) == "old":
            assert time.monotonic() < deadline, "the running session still renders the old character"
            time.sleep(0.1)
        stats = running.stats().daemon
        assert stats["counters"].get("characters_reloaded") == 1
        assert stats["errors"] == {}  # no pose failed across the switch
        # Binding again gives the new neutral.
        np.testing.assert_allclose(running.bind("who", width=SIZE, height=SIZE).neutral,
                                   CharacterStore(root).load("who").neutral, atol=1e-6)
    finally:
        running.close()
        rc = daemon.stop()
    assert rc == 0, daemon.log()


def test_a_bind_gets_a_re_enrolled_character_with_periodic_checks_off(
        tmp_path: Path, model_dir: Path, shared_characters: list[Path]) -> None:
    root = _store_of_who(tmp_path, model_dir, shared_characters[0])
    old_ref = _reference(root, "who")
    daemon = start_daemon(tmp_path, root, "--set", "server.character_check_s=0")
    running, fresh = Client(daemon.endpoint, timeout_s=20), Client(daemon.endpoint, timeout_s=20)
    try:
        old_neutral = running.bind("who", width=SIZE, height=SIZE).neutral
        running.render(old_neutral)
        _enroll_cli(root, shared_characters[1])
        new_ref = _reference(root, "who")
        time.sleep(1.5)  # longer than the default check interval: off, nothing notices yet
        assert _closer_to(running.render(old_neutral).image, new_ref, old_ref) == "old"
        # A new bind checks the manifest (one stat), finds it changed and loads the new
        # version: its neutral and its picture; the earlier session moves with it.
        bound = fresh.bind("who", width=SIZE, height=SIZE)
        np.testing.assert_allclose(bound.neutral, CharacterStore(root).load("who").neutral, atol=1e-6)
        assert _closer_to(fresh.render(bound.neutral).image, new_ref, old_ref) == "new"
        assert _closer_to(running.render(old_neutral).image, new_ref, old_ref) == "new"
        stats = fresh.stats().daemon
        assert stats["counters"].get("characters_reloaded") == 1 and stats["errors"] == {}
    finally:
        running.close()
        fresh.close()
        rc = daemon.stop()
    assert rc == 0, daemon.log()
