"""Capture from video files and cameras: timestamps, pacing, and clear errors."""

from __future__ import annotations

import glob
import platform
import time
from pathlib import Path

import numpy as np
import pytest

from facecast.capture.camera import (
    CameraSource,
    CameraUnavailable,
    NoCamera,
    UnreadableMedia,
    VideoFileSource,
    open_source,
)


def test_video_file_frames_carry_media_timestamps(shared_videos):
    with open_source(video=shared_videos / "d0.mp4") as src:
        assert not src.live and src.size == (512, 512) and src.fps == 25.0
        frames = []
        while (frame := src.read()) is not None:
            frames.append(frame)
    assert len(frames) == 78  # docs of the shared data
    assert [f.index for f in frames] == list(range(78))
    np.testing.assert_allclose([f.timestamp_s for f in frames], np.arange(78) / 25.0)
    assert frames[0].rgb.shape == (512, 512, 3) and frames[0].rgb.dtype == np.uint8
    walls = np.array([f.wall for f in frames])
    assert (np.diff(walls) >= 0).all()


def test_realtime_pacing_releases_frames_no_earlier_than_their_time(shared_videos):
    with VideoFileSource(shared_videos / "d0.mp4", realtime=True, max_frames=10) as src:
        start = time.perf_counter()
        frames = [src.read() for _ in range(10)]
        assert src.read() is None  # max_frames
    # Frame 9 is due 9/25 s after frame 0: pacing may be late under load, never early.
    assert frames[-1].wall - frames[0].wall >= 9 / 25 - 0.002
    assert frames[-1].wall - start >= 9 / 25 - 0.002


def test_missing_and_undecodable_files_give_clear_errors(tmp_path: Path):
    with pytest.raises(UnreadableMedia, match=r"cannot open video .*nope\.mp4: no such file"):
        open_source(video=tmp_path / "nope.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_text("this is not a video")
    with pytest.raises(UnreadableMedia, match="junk.mp4"):
        with open_source(video=junk) as src:
            src.read()
    with pytest.raises(ValueError, match="exactly one"):
        open_source()


def test_a_camera_index_that_does_not_exist_is_named():
    index = 63
    if Path(f"/dev/video{index}").exists():
        pytest.skip(f"/dev/video{index} exists on this machine")
    with pytest.raises((NoCamera, CameraUnavailable)) as info:
        CameraSource(index)
    message = str(info.value)
    assert f"camera {index}" in message or f"index {index}" in message
    if platform.system() == "Linux":
        assert isinstance(info.value, NoCamera) and f"/dev/video{index} does not exist" in message
    with pytest.raises(NoCamera, match=">= 0"):
        CameraSource(-1)


@pytest.mark.camera
@pytest.mark.skipif(not glob.glob("/dev/video*"), reason="no camera device (/dev/video*) on this machine")
def test_camera_delivers_timestamped_frames():
    with CameraSource(int(sorted(glob.glob("/dev/video*"))[0].removeprefix("/dev/video"))) as cam:
        assert cam.live
        frames = [cam.read(timeout_s=5.0) for _ in range(5)]
    assert all(f is not None for f in frames)
    assert all(f.rgb.ndim == 3 and f.rgb.shape[2] == 3 for f in frames)
    stamps = [f.timestamp_s for f in frames]
    assert stamps == sorted(stamps) and len(set(f.index for f in frames)) == 5
