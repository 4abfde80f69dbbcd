"""The tracker against the real daemon: `facecast track --video` end to end as a user runs
it, record -> replay giving back the same poses (checked inside the daemon's frames), and
clear errors for user mistakes."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import pyvirtualcam

from facecast.apps.cli import main as cli_main
from facecast.apps.track import TrackOptions, run_replay, run_track
from facecast.capture.camera import open_source
from facecast.capture.recording import read_recording
from facecast.client.pose_link import STAGES, DeliveredFrame
from facecast.config import AppConfig, VirtualCamConfig
from facecast.render.stamp import stamp_is_consistent, stamp_word
from facecast.tracking.driver import TRACKING
from tests.integration.daemon_process import start_daemon
from tests.integration.test_virtualcam import RecordingBackend


@pytest.fixture(scope="module")
def warp_daemon(default_store, tmp_path_factory):
    """One real daemon (warp renderer) for the tests of this module."""
    d = start_daemon(tmp_path_factory.mktemp("tracker-daemon"), default_store.root)
    yield d
    assert d.stop() == 0, d.log()


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "facecast.apps.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_track_video_end_to_end(warp_daemon, tmp_path: Path, shared_videos: Path):
    out, rec = tmp_path / "out.mp4", tmp_path / "take.fcrec"
    proc = _cli("track", "--video", str(shared_videos / "d0.mp4"), "--connect", warp_daemon.endpoint,
                "--character", "default", "--output", str(out), "--record", str(rec), "--preview")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "--preview: no display" in proc.stderr or "preview window open" in proc.stderr
    for label in ("capture -> landmarks", "landmarks -> smoothing", "send -> daemon -> back", "frame handled",
                  "total (capture -> frame)"):
        assert label in proc.stdout, proc.stdout
    assert "frames 78 (face in 78)" in proc.stdout and "tracking states: tracking 78" in proc.stdout
    frames = np.stack(list(iio.imiter(out, extension=".mp4")))
    # 78 video frames, minus the calibration frames, each pose one output frame (superseded: repeated).
    assert 60 <= frames.shape[0] <= 78 and frames.shape[1:] == (256, 256, 3)
    diffs = np.abs(np.diff(frames.astype(np.int16), axis=0)).mean(axis=(1, 2, 3))
    assert diffs.max() > 1.0  # the character moves with the video
    assert len(read_recording(rec).frames) == 78


@pytest.mark.skipif(not (shutil.which("Xvfb") and shutil.which("xwininfo")),
                    reason="needs Xvfb and xwininfo (Debian: xvfb, x11-utils) for a display")
def test_preview_window_opens_on_a_display(warp_daemon, shared_videos: Path):
    """--preview on a real (virtual) X display: the window "facecast track" appears while
    tracking; --calibrate-after takes the neutral again."""
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", "1", "-screen", "0", "1280x720x24", "-nolisten", "tcp"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        display = ":" + xvfb.stdout.readline().decode().strip()
        env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb")
        # The whole of d0 (3.1 s), no wall-clock --seconds: on a loaded machine 2 s of wall
        # time did not reach the re-calibration 1 s into the video. d0 talks from 1 s on: no
        # neutral window there, so the best of the next 1 s is taken (with a warning).
        track = subprocess.Popen([sys.executable, "-m", "facecast.apps.cli", "track", "--video",
                                  str(shared_videos / "d0.mp4"), "--connect", warp_daemon.endpoint, "--preview",
                                  "--calibrate-after", "1.0", "--set", "tracker.calibration_search_s=1.0"],
                                 env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        seen = False
        while track.poll() is None and not seen:
            tree = subprocess.run(["xwininfo", "-root", "-tree", "-display", display], capture_output=True, text=True)
            seen = '"facecast track"' in tree.stdout
            time.sleep(0.2)
        out, err = track.communicate(timeout=120)
    finally:
        xvfb.terminate()
        xvfb.wait(timeout=10)
    assert track.returncode == 0, err
    assert seen, "no preview window on the display"
    assert "preview window open" in err and "re-calibrated the neutral face" in err
    assert "total (capture -> frame)" in out


def test_ibug68_output_renders(warp_daemon, tmp_path: Path, shared_videos: Path):
    cfg = AppConfig()
    got: list[DeliveredFrame] = []
    opts = TrackOptions(endpoint=warp_daemon.endpoint, character="default", size=128,
                        landmark_format="ibug68", keep_poses=True, on_frame=got.append)
    with open_source(video=shared_videos / "d0.mp4", max_frames=30) as src:
        report = run_track(cfg, src, opts)
    assert report.errors == 0 and report.frames_received > 0
    assert all(points.shape == (68, 3) for _seq, points, _state in report.poses)
    assert got[-1].image.shape == (128, 128, 4) and got[-1].image[..., :3].std() > 10
    assert set(report.stages) == set(STAGES) and report.stages["total"]["count"] == report.frames_received


def test_blendshape_poses_drive_the_daemons_basis(warp_daemon, shared_videos: Path):
    """--send blendshapes: the tracked ARKit-52 weights and head rotation, rendered by the
    daemon through its blendshape basis; the character talks and turns."""
    got: list[DeliveredFrame] = []
    opts = TrackOptions(endpoint=warp_daemon.endpoint, character="default", size=128, send="blendshapes",
                        keep_poses=True, on_frame=got.append)
    cfg = AppConfig()  # d11 talks from the start: the neutral is the best window of its first 1 s
    cfg = dataclasses.replace(cfg, tracker=dataclasses.replace(cfg.tracker, calibration_search_s=1.0))
    with open_source(video=shared_videos / "d11.mp4", max_frames=75) as src:
        report = run_track(cfg, src, opts)
    assert report.errors == 0 and report.frames_received >= 40, report.summary()
    weights = np.stack([w for _seq, w, _state in report.poses])
    assert weights.shape[1] == 52 and np.ptp(weights[:, 24]) > 0.1  # jawOpen (ARKit index 24) moves
    images = np.stack([f.image[..., :3].astype(np.float32) for f in got])
    assert np.abs(np.diff(images, axis=0)).mean(axis=(1, 2, 3)).max() > 1.0


def test_virtual_cam_gets_the_frames(warp_daemon, shared_videos: Path, caplog):
    """--virtual-cam through the project's virtualcam sink, on a recording pyvirtualcam
    backend (no v4l2loopback here); without a device the run stops with the sink's advice."""
    pyvirtualcam.register_backend("facecast-track-recorder", RecordingBackend)
    RecordingBackend.instances.clear()
    cfg = dataclasses.replace(AppConfig(), virtualcam=VirtualCamConfig(backend="facecast-track-recorder", fps=30.0))
    opts = TrackOptions(endpoint=warp_daemon.endpoint, character="default", virtual_cam=True)
    with open_source(video=shared_videos / "d0.mp4", max_frames=40, realtime=True) as src:
        report = run_track(cfg, src, opts)
    camera = RecordingBackend.instances[-1]  # the first one was start()'s probe
    assert camera.closed and (camera.width, camera.height) == (256, 256)
    lit = [f for _, f in camera.snapshot() if f.mean() > 20]  # black before the first frame
    assert report.frames_received > 20 and len(lit) >= 20
    with caplog.at_level(logging.ERROR):
        rc = cli_main(["track", "--video", str(shared_videos / "d0.mp4"), "--connect", warp_daemon.endpoint,
                       "--virtual-cam", "--set", "virtualcam.backend=v4l2loopback"])
    if rc == 0:
        pytest.skip("a real v4l2loopback device exists here")
    assert rc == 2 and any("cannot open a virtual camera" in r.getMessage() for r in caplog.records)


def test_record_then_replay_sends_the_same_poses(tmp_path: Path, default_store, shared_videos: Path):
    """`facecast record` a video; track the same video live; replay the recording: the
    replay sends exactly the poses tracking sent (same seqs, states and float32 arrays),
    the daemon renders exactly those (its `stamp` renderer writes each pose's first point
    into the frame), and with the recording's timing."""
    video = shared_videos / "d0.mp4"
    rec = tmp_path / "d0.fcrec"
    proc = _cli("record", "--video", str(video), str(rec))
    assert proc.returncode == 0, proc.stderr
    assert "recorded 78 frames (78 with a face, 100.0%)" in proc.stdout
    daemon = start_daemon(tmp_path, default_store.root, "--renderer", "stamp")
    try:
        cfg = AppConfig()
        opts = TrackOptions(endpoint=daemon.endpoint, character="default", size=32, keep_poses=True)
        with open_source(video=video) as src:
            live = run_track(cfg, src, opts)
        frames: list[DeliveredFrame] = []
        replay = run_replay(cfg, read_recording(rec), dataclasses.replace(opts, on_frame=frames.append))
        cli = _cli("replay", str(rec), "--connect", daemon.endpoint, "--character", "default", "--speed", "4")
        assert cli.returncode == 0, cli.stderr
        assert "timing: poses sent" in cli.stdout and "send -> daemon -> back" in cli.stdout
    finally:
        assert daemon.stop() == 0, daemon.log()
    assert live.poses and len(replay.poses) == len(live.poses) == 78 - cfg.tracker.calibration_frames + 1
    for (seq_a, pts_a, state_a), (seq_b, pts_b, state_b) in zip(live.poses, replay.poses):
        assert seq_a == seq_b and state_a == state_b == TRACKING
        np.testing.assert_array_equal(pts_a, pts_b)
    sent = {seq: pts for seq, pts, _ in replay.poses}
    assert len(frames) >= 0.9 * len(sent) and replay.errors == 0
    for frame in frames:
        assert stamp_is_consistent(frame.image)
        assert frame.image.reshape(-1)[:8].view("<u8")[0] == stamp_word(sent[frame.seq])
    late = np.asarray(replay.send_offsets_s) - np.asarray(replay.due_offsets_s)
    assert (late >= 0).all()  # never early
    assert np.median(late) < 0.005 and np.percentile(late, 95) < 0.03, late  # loose: CI shares 2 cores
    duration = read_recording(rec).duration_s
    assert replay.send_offsets_s[-1] == pytest.approx(duration, abs=0.05)


@pytest.mark.parametrize("args,needle", [
    (["track", "--video", "/nonexistent/talk.mp4"], "cannot open video /nonexistent/talk.mp4: no such file"),
    (["track", "--camera", "63"], "no camera at index 63"),
    (["record", "--camera", "63", "/tmp/x.fcrec"], "no camera at index 63"),
    (["replay", "/nonexistent.fcrec"], "no recording at /nonexistent.fcrec"),
])
def test_user_mistakes_are_one_clear_line(args: list[str], needle: str, caplog, model_dir):
    if "--camera" in args and Path("/dev/video63").exists():
        pytest.skip("/dev/video63 exists here")
    with caplog.at_level(logging.ERROR, logger="facecast.apps.cli"):
        rc = cli_main(args)
    assert rc == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(needle in m for m in errors), errors


def test_not_a_recording_and_unknown_character(warp_daemon, tmp_path: Path, shared_videos: Path, caplog):
    junk = tmp_path / "junk.fcrec"
    junk.write_bytes(b"not msgpack at all \xc1")
    with caplog.at_level(logging.ERROR):
        assert cli_main(["replay", str(junk), "--connect", warp_daemon.endpoint]) == 2
        assert cli_main(["track", "--video", str(shared_videos / "d0.mp4"), "--connect", warp_daemon.endpoint,
                         "--character", "nobody"]) == 2
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "not a facecast recording" in text
    assert "nobody" in text and "Traceback" not in text
