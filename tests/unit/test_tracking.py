"""Tracking loss (hold, ease to neutral, lost, back), the no-face warning, calibration and
the tracking state on the wire."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest

from facecast.config import TrackerConfig
from facecast.protocol import TRACKING_STATES, Pose, decode, encode
from facecast.tracking.driver import EASING, HOLDING, LOST, TRACKING, DriverPipeline
from facecast.tracking.face import BLENDSHAPE_NAMES, FaceLandmarks
from facecast.tracking.procedural import ExpressionRig

FPS = 30.0
CFG = dataclasses.replace(TrackerConfig(), hold_s=0.5, ease_s=1.0, no_face_warning_s=1.0, calibration_frames=3)


@pytest.fixture(scope="module")
def neutral(default_store) -> np.ndarray:
    return np.asarray(default_store.load("default").neutral)


def _face(points: np.ndarray, size: tuple[int, int] = (640, 480), scores: float = 0.5) -> FaceLandmarks:
    return FaceLandmarks(points=points.astype(np.float32), blendshapes=np.full(len(BLENDSHAPE_NAMES), scores, np.float32),
                         transform=None, image_size=size)


def test_loss_holds_then_eases_to_neutral_then_comes_back(neutral, caplog):
    """1 s of face (mouth open), 3 s without, 1 s with: every state in order, the held pose,
    a monotone ease to the character's exact neutral, warnings at most every N s."""
    driver = ExpressionRig(neutral).pose(jaw=0.8)  # the driver's face, mouth open
    driver_neutral = neutral.copy()
    character = neutral.copy()
    character[:, 1] = 0.1 + 0.8 * character[:, 1]  # another face shape
    pipe = DriverPipeline(CFG, character)
    pipe.set_driver_neutral(driver_neutral, (640, 480))
    frames = [(driver, True)] * 30 + [(None, False)] * 90 + [(driver, True)] * 30
    outs = []
    with caplog.at_level(logging.INFO, logger="facecast.tracking.driver"):
        for i, (points, seen) in enumerate(frames):
            outs.append(pipe.update(_face(points) if seen else None, i / FPS, i, (640, 480)))
    states = [o.state for o in outs]
    runs = [s for j, s in enumerate(states) if j == 0 or s != states[j - 1]]
    assert runs == [TRACKING, HOLDING, EASING, LOST, TRACKING]
    t_of = {s: [i / FPS for i, x in enumerate(states) if x == s] for s in TRACKING_STATES}
    seen = 29 / FPS  # the last frame with a face: hold and ease count from there
    assert max(t_of[HOLDING]) - seen < CFG.hold_s <= min(t_of[EASING]) - seen + 1e-9
    assert max(t_of[EASING]) - seen < CFG.hold_s + CFG.ease_s <= min(t_of[LOST]) - seen + 1e-9
    tracked = outs[29].landmarks
    assert not np.allclose(tracked, character, atol=1e-3)  # the open mouth shows
    for o in outs[30:45]:  # holding: the last pose, unchanged
        np.testing.assert_array_equal(o.landmarks, tracked)
    easing = [o for o in outs if o.state == EASING]
    dist = [np.abs(o.landmarks - character).max() for o in easing]
    assert all(a >= b for a, b in zip(dist, dist[1:])) and dist[0] > dist[-1]
    assert all(abs(o.blendshapes.mean() - 0.5 * (1 - o.tracked.ease)) < 1e-6 for o in easing)
    for o in outs:
        if o.state == LOST:
            np.testing.assert_array_equal(o.landmarks, character)
    back = outs[120:]  # eases back in over REACQUIRE_S, then shows the face again
    assert np.abs(back[0].landmarks - character).max() < np.abs(back[-1].landmarks - character).max()
    np.testing.assert_allclose(back[-1].landmarks, tracked, atol=1e-4)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings and all("no face for" in r.getMessage() for r in warnings)
    assert 2 <= len(warnings) <= 3  # 3 s without a face, warned after 1 s and then at most every 1 s
    infos = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
    assert "face lost" in infos and "easing to the neutral face" in infos and "face found again" in infos


def test_calibration_waits_for_faces_and_can_be_redone(neutral):
    character = neutral.copy()
    pipe = DriverPipeline(CFG, character)
    assert pipe.update(None, 0.0).landmarks is None  # nothing to calibrate on yet
    outs = [pipe.update(_face(neutral, scores=0.0), (i + 1) / FPS, i + 1) for i in range(CFG.calibration_frames)]
    assert [o.landmarks is None for o in outs] == [True] * (CFG.calibration_frames - 1) + [False]
    np.testing.assert_allclose(outs[-1].landmarks, character, atol=1e-5)  # the neutral maps to the neutral
    smiling = ExpressionRig(neutral).pose(smile=1.0)
    pipe.calibrate()  # the driver's neutral is now the smile: smiling shows the character's neutral
    for i in range(30):  # (the filter needs a moment to settle on the smile)
        out = pipe.update(_face(smiling, scores=0.0), 1.0 + i / FPS, 10 + i)
    assert pipe.calibrations == 2 and not pipe.calibrating
    np.testing.assert_allclose(out.landmarks, character, atol=1e-4)
    with pytest.raises(ValueError, match="calibration_frames"):
        DriverPipeline(dataclasses.replace(CFG, calibration_frames=0), character)


def test_head_rotation_is_relative_to_the_calibrated_neutral(neutral):
    from facecast.tracking.head_pose import HeadPose

    def face(yaw: float, pitch: float) -> FaceLandmarks:
        transform = np.eye(4, dtype=np.float32)  # MediaPipe's matrix: OpenGL axes (y up, z towards the viewer)
        flip = np.diag([1.0, -1.0, -1.0])
        transform[:3, :3] = flip @ HeadPose(yaw, pitch, 0.0).matrix() @ flip
        return FaceLandmarks(neutral, np.zeros(len(BLENDSHAPE_NAMES), np.float32), transform, (512, 512))

    pipe = DriverPipeline(dataclasses.replace(CFG, head_min_cutoff=1e6), neutral)
    for i in range(CFG.calibration_frames):
        out = pipe.update(face(0.1, -0.05), i / FPS)  # the driver's neutral looks a little aside
    np.testing.assert_allclose(out.head, 0.0, atol=1e-5)
    out = pipe.update(face(0.3, -0.05), 1.0)
    np.testing.assert_allclose(out.head, [0.2, 0.0, 0.0], atol=1e-4)


def test_tracking_state_travels_in_the_pose(neutral):
    for state in TRACKING_STATES:
        back = decode(encode(Pose(seq=3, landmarks=neutral, tracking=state)))
        assert isinstance(back, Pose) and back.tracking == state
    assert decode(encode(Pose(seq=4, landmarks=neutral))).tracking is None  # optional: older clients


def _write_video(path: Path, frames: list[np.ndarray], fps: float) -> None:
    h, w = frames[0].shape[:2]
    writer = imageio_ffmpeg.write_frames(str(path), (w, h), fps=fps, codec="libx264", pix_fmt_in="rgb24",
                                         output_params=["-pix_fmt", "yuv420p", "-crf", "12"], macro_block_size=1,
                                         ffmpeg_log_level="error")
    writer.send(None)
    for f in frames:
        writer.send(np.ascontiguousarray(f))
    writer.close()


def test_real_face_leaving_the_video_is_reported(tmp_path, model_dir, shared_videos, default_store, caplog):
    """A real video whose face disappears for 3 s (grey frames): MediaPipe loses it, the
    pipeline reports every state in order, and the face is found again."""
    from facecast.capture.camera import open_source
    from facecast.capture.live import StreamLandmarker, detections

    with open_source(video=shared_videos / "d0.mp4", max_frames=25) as src:
        face_frames = [src.read().rgb for _ in range(25)]
    grey = np.full_like(face_frames[0], 128)
    video = tmp_path / "leaves.mp4"
    _write_video(video, face_frames + [grey] * 75 + face_frames, 25.0)
    pipe = DriverPipeline(CFG, default_store.load("default").neutral)
    states = []
    with caplog.at_level(logging.WARNING, logger="facecast.tracking.driver"):
        with open_source(video=video) as src, StreamLandmarker("video") as lm:
            for det in detections(src, lm):
                out = pipe.update(det.face, det.frame.timestamp_s, det.frame.index, det.frame.size)
                states.append(out.state)
    runs = [s for j, s in enumerate(states) if j == 0 or s != states[j - 1]]
    assert runs == [TRACKING, HOLDING, EASING, LOST, TRACKING]
    assert states[:25].count(TRACKING) >= 24 and states[-20:] == [TRACKING] * 20
    assert any("no face for" in r.getMessage() for r in caplog.records)
