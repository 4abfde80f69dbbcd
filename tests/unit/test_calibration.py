"""Neutral calibration on real driving video (MediaPipe on the shared videos): a driver who
starts with eyes nearly closed (d3 looking down) or talking (d10, mouth open) still gets a
neutral with eyes open and mouth closed, from a later window; a poor neutral is warned
about and replaced automatically when a better one appears; ``demo --video`` does the same."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest

from facecast.config import TrackerConfig
from facecast.tracking.calibration import check_window, frame_badness
from facecast.tracking.driver import DriverPipeline
from facecast.tracking.face import FaceLandmarks
from facecast.tracking.retarget import face_frame, to_pixels

CFG = TrackerConfig()
# (video, first frame, frames): the first second(s) of each clip are not neutral.
CLIPS = {"eyes": ("d3.mp4", 100, 100), "mouth": ("d10.mp4", 5, 90)}


def _cut(src_path: Path, first: int, count: int, out: Path) -> Path:
    from facecast.capture.camera import open_source

    with open_source(video=src_path, max_frames=first + count) as src:
        frames = [src.read().rgb for _ in range(first + count)][first:]
        fps = src.fps
    h, w = frames[0].shape[:2]
    writer = imageio_ffmpeg.write_frames(str(out), (w, h), fps=fps, codec="libx264", pix_fmt_in="rgb24",
                                         output_params=["-pix_fmt", "yuv420p", "-crf", "12"], macro_block_size=1,
                                         ffmpeg_log_level="error")
    writer.send(None)
    for f in frames:
        writer.send(np.ascontiguousarray(f))
    writer.close()
    return out


@pytest.fixture(scope="module")
def clips(tmp_path_factory, shared_videos, model_dir) -> dict[str, tuple[Path, list[tuple[FaceLandmarks | None, float]]]]:
    """Each clip cut into tmp and tracked once with the real MediaPipe (VIDEO mode)."""
    from facecast.capture.camera import open_source
    from facecast.capture.live import StreamLandmarker, detections

    out = {}
    tmp = tmp_path_factory.mktemp("calibration")
    for name, (video, first, count) in CLIPS.items():
        path = _cut(shared_videos / video, first, count, tmp / f"{name}.mp4")
        with open_source(video=path) as src, StreamLandmarker("video") as lm:
            out[name] = (path, [(det.face, det.frame.timestamp_s) for det in detections(src, lm)])
    return out


@pytest.fixture(scope="module")
def character(default_store) -> np.ndarray:
    return np.asarray(default_store.load("default").neutral)


def _run(track, character, cfg: TrackerConfig) -> tuple[DriverPipeline, list]:
    pipe = DriverPipeline(cfg, character)
    events = []
    for face, t in track:
        before = pipe.calibrations
        out = pipe.update(face, t)
        if pipe.calibrations != before:
            events.append((t, pipe.calibrator.current))
        assert out is not None
    return pipe, events


def _first_window(track) -> tuple:
    faces = [f for f, _ in track[: CFG.calibration_frames]]
    assert all(f is not None for f in faces)
    pts = np.stack([f.points for f in faces])
    return check_window(pts, faces[0].image_size, np.stack([frame_badness(f) for f in faces]))


def _eye_ratio(points: np.ndarray, size: tuple[int, int]) -> float:
    f = face_frame(to_pixels(points, size))
    return f.eye_opening / f.eye_width


def _lip_gap(neutral_points: np.ndarray, size: tuple[int, int]) -> float:
    face = FaceLandmarks(neutral_points.astype(np.float32), np.zeros(52, np.float32), None, size)
    return float(frame_badness(face)[1])  # landmark lip gap (no blendshapes), in units of its limit


def test_eyes_closed_at_the_start_the_neutral_comes_from_a_later_window(clips, character, caplog):
    _, track = clips["eyes"]
    first = _first_window(track)
    assert "eyes nearly closed" in first.problems  # the clip does start looking down
    with caplog.at_level(logging.INFO, logger="facecast.tracking"):
        pipe, events = _run(track, character, CFG)
    assert pipe.calibrations == 1 and len(events) == 1
    t, neutral = events[0]
    assert neutral.check.good and t > 1.0  # not the first frames: a later, better window
    size = neutral.image_size
    assert _eye_ratio(neutral.points, size) > 1.6 * _eye_ratio(track[0][0].points, size)
    assert not any("poor neutral" in r.getMessage() for r in caplog.records)


def test_poor_neutral_is_warned_about_and_replaced(clips, character, caplog):
    _, track = clips["eyes"]
    cfg = dataclasses.replace(CFG, calibration_search_s=1.0)  # no good window within 1 s
    with caplog.at_level(logging.INFO, logger="facecast.tracking"):
        pipe, events = _run(track, character, cfg)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("poor neutral" in w and "eyes nearly closed" in w for w in warnings), warnings
    assert any("re-calibrated the neutral face" in w and "a better one appeared" in w for w in warnings), warnings
    assert pipe.calibrations == 2
    (t0, poor), (t1, better) = events
    assert not poor.check.good and better.check.good and t1 > t0
    size = better.image_size
    assert _eye_ratio(better.points, size) > 1.5 * _eye_ratio(poor.points, size)
    assert not pipe.calibrator.watching  # a good neutral: no more automatic re-calibration


def test_open_mouth_neutral_is_warned_about_and_replaced(clips, character, caplog):
    _, track = clips["mouth"]
    assert "mouth open" in _first_window(track).problems  # the clip starts talking
    cfg = dataclasses.replace(CFG, calibration_search_s=0.5)  # no good window within 0.5 s
    with caplog.at_level(logging.INFO, logger="facecast.tracking"):
        pipe, events = _run(track, character, cfg)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("poor neutral" in w and "mouth open" in w for w in warnings), warnings
    assert pipe.calibrations == 2
    (_, poor), (_, better) = events
    assert better.check.good and better.check.badness[1] < 0.5 * poor.check.badness[1]
    assert _lip_gap(better.points, better.image_size) < _lip_gap(poor.points, poor.image_size)


def test_demo_video_takes_the_best_neutral_not_the_first_frame(clips, character):
    """``facecast demo --video``: the character's eyes, once the driver's eyes are open,
    open as wide as the character's own (a first-frame neutral with closed eyes made them
    open far wider: the issue's brown holes)."""
    from facecast.apps.demo import video_performance

    path, _ = clips["eyes"]
    performance, _ = video_performance(path, character)
    neutral_ratio = _eye_ratio(character, (1, 1))
    late = np.median([_eye_ratio(p, (1, 1)) for p in performance[-25:]])  # the driver's eyes are open
    early = np.median([_eye_ratio(p, (1, 1)) for p in performance[:20]])  # ... nearly closed
    assert 0.7 * neutral_ratio < late < 1.4 * neutral_ratio
    assert early < 0.6 * neutral_ratio
