"""`facecast demo` end to end, as a user runs it: a subprocess that starts the daemon,
drives a character through real ZeroMQ, and writes a video we then read back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest


def _run_demo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "facecast.apps.cli", "demo", "--out", str(tmp_path / "out"), *args],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return proc


def _frames(video: Path) -> np.ndarray:
    return np.stack(list(iio.imiter(video, extension=".mp4")))


def test_demo_default_character_writes_a_moving_video(tmp_path: Path, model_dir: Path):
    proc = _run_demo(tmp_path, "--store", str(tmp_path / "store"), "--seconds", "3")
    video = tmp_path / "out" / "demo_default.mp4"
    sheet = tmp_path / "out" / "demo_default_sheet.png"
    assert video.is_file() and sheet.is_file()
    assert "fps" in proc.stderr and "latency p50" in proc.stderr
    frames = _frames(video)
    assert frames.shape[0] == 75 and frames.shape[1:] == (256, 256, 3)
    diffs = np.abs(np.diff(frames.astype(np.int16), axis=0)).mean(axis=(1, 2, 3))
    assert (diffs > 0.3).mean() > 0.5, "most consecutive frames should differ: the face moves"
    assert iio.imread(sheet).shape == (512, 1024, 3)


def test_demo_drives_an_enrolled_character_from_a_video(tmp_path: Path, model_dir: Path,
                                                         shared_characters: list[Path], shared_videos: Path):
    store = tmp_path / "store"
    enroll = subprocess.run([sys.executable, "-m", "facecast.apps.cli", "enroll", "mona", str(shared_characters[0].parent /
                             "mona_lisa.jpg"), "--store", str(store)], capture_output=True, text=True, timeout=300)
    assert enroll.returncode == 0, enroll.stderr
    _run_demo(tmp_path, "--store", str(store), "--character", "mona", "--video", str(shared_videos / "d0.mp4"))
    frames = _frames(tmp_path / "out" / "demo_mona.mp4")
    assert frames.shape[0] == 78  # one frame per video frame
    diffs = np.abs(np.diff(frames.astype(np.int16), axis=0)).mean(axis=(1, 2, 3))
    assert diffs.max() > 1.0


def test_demo_unknown_character_is_a_clear_error(tmp_path: Path, model_dir: Path):
    proc = subprocess.run([sys.executable, "-m", "facecast.apps.cli", "demo", "--store", str(tmp_path / "s"),
                           "--character", "nobody"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "no character 'nobody'" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("args,needle", [
    (["enroll", "x", "/nonexistent.jpg"], "/nonexistent.jpg"),
    (["enroll", "../evil", "/nonexistent.jpg"], "invalid character name"),
])
def test_enroll_errors_are_clear(tmp_path: Path, model_dir: Path, args, needle):
    proc = subprocess.run([sys.executable, "-m", "facecast.apps.cli", *args, "--store", str(tmp_path / "s")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and needle in proc.stderr and "Traceback" not in proc.stderr
