"""Relative-motion retargeting: the maths on exact similarities, self-reenactment on real
videos (a character enrolled from frame 0 gets the video's own landmarks back), and a
long-faced character keeping its face shape under a round-faced driver."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from facecast.config import TrackerConfig
from facecast.core import topology as topo
from facecast.tracking.driver import DriverPipeline
from facecast.tracking.head_pose import rotation_matrix
from facecast.tracking.procedural import procedural_performance
from facecast.tracking.retarget import Retargeter, face_frame, similarity_fit, to_pixels


def test_similarity_fit_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(30, 3))
    rot = rotation_matrix(0.3, -0.2, 0.1)
    dst = 1.7 * src @ rot.T + np.array([3.0, -1.0, 0.5])
    s, r, t = similarity_fit(src, dst)
    assert s == pytest.approx(1.7) and np.allclose(r, rot) and np.allclose(t, [3.0, -1.0, 0.5])


def test_face_frame_turns_with_the_face(default_store):
    neutral = to_pixels(default_store.load("default").neutral, (512, 512))
    rot = rotation_matrix(0.2, 0.1, -0.15)
    turned = (neutral - neutral.mean(0)) @ rot.T + neutral.mean(0)
    a, b = face_frame(neutral), face_frame(turned)
    np.testing.assert_allclose(b.axes, rot @ a.axes, atol=1e-9)
    assert b.width == pytest.approx(a.width) and b.height == pytest.approx(a.height)


def test_exact_on_a_similar_copy_and_neutral_to_neutral(default_store):
    """A driver in a 640x480 video performing blinks, speech and head turns; the character
    is the same face scaled and moved: retargeting is that similarity exactly."""
    base = np.asarray(default_store.load("default").neutral, np.float64)
    perf = procedural_performance(base.astype(np.float32), seconds=2.0, fps=25.0)  # (50, 478, 3)
    size = (640, 480)
    driver = perf * np.array([1.0, 640 / 480, 1.0]) * 0.6 + np.array([0.2, 0.1, 0.0])  # normalised to 640x480
    driver_px = to_pixels(driver, size)
    to_char = lambda px: px / 700.0 + np.array([0.1, 0.05, 0.0])  # noqa: E731
    character = to_char(driver_px[0])
    out = Retargeter(driver[0], size, character).many(driver)
    np.testing.assert_allclose(out, to_char(driver_px), atol=2e-6)
    np.testing.assert_allclose(out[0], character, atol=1e-6)


def _mouth_open(points: np.ndarray) -> float:
    return float(points[topo.MP_LOWER_LIP_CENTER, 1] - points[topo.MP_UPPER_LIP_CENTER, 1])


def _aspect(points: np.ndarray) -> float:
    f = face_frame(points)
    return f.height / f.width


@pytest.fixture(scope="module")
def d11(model_dir, shared_videos):
    """The first 150 frames of d11 (VIDEO mode): a round face (height/width 1.0), talking,
    turning and nodding its head by up to 27 degrees."""
    from facecast.capture.camera import open_source
    from facecast.capture.live import StreamLandmarker, detections

    with open_source(video=shared_videos / "d11.mp4", max_frames=150) as src, StreamLandmarker("video") as lm:
        dets = list(detections(src, lm))
    assert all(d.face is not None for d in dets)
    return dets


def test_self_reenactment_reproduces_the_video(d11, tmp_path):
    """Enroll a character on frame 0 of the video, drive it with the same video: the sent
    landmarks are the video's landmarks in the character's crop — exactly without smoothing,
    and within the One Euro filter's lag with it (d11 moves fast)."""
    from facecast.characters.store import CharacterStore

    store = CharacterStore(tmp_path / "store")
    character = store.enroll("self", [d11[0].frame.rgb], video_shots=1)
    x0, y0, side, _ = character.manifest["crop_box"]
    w, h = d11[0].frame.size
    expected = (to_pixels(np.stack([d.face.points for d in d11]), (w, h)) - np.array([x0, y0, 0.0])) / side
    face_size = face_frame(expected[0]).height
    motion = np.linalg.norm((expected - expected[0])[:, :, :2], axis=-1) / face_size
    assert np.median(motion) > 0.05 and motion.max() > 0.3  # far more than the bounds below
    unsmoothed = dataclasses.replace(TrackerConfig(), calibration_frames=1, min_cutoff=1e6)
    smoothed = dataclasses.replace(TrackerConfig(), calibration_frames=1)
    for cfg, median_bound, p95_bound in ((unsmoothed, 1e-4, 1e-3), (smoothed, 0.02, 0.05)):
        pipe = DriverPipeline(cfg, character.neutral)
        out = np.stack([pipe.update(d.face, d.frame.timestamp_s, d.frame.index, d.frame.size).landmarks for d in d11])
        err = np.linalg.norm((out - expected)[:, :, :2], axis=-1) / face_size  # (T, 478), in face heights
        assert np.median(err) < median_bound and np.percentile(err, 95) < p95_bound, \
            (cfg.min_cutoff, np.median(err), np.percentile(err, 95))


def test_long_faced_character_keeps_its_shape(d11, full_store):
    """d11's round-faced driver drives the long-faced painted lady: her face keeps its own
    aspect (not the driver's) while the driver's motion comes through in proportion;
    stamping the driver's landmarks (absolute) would give her the driver's face shape."""
    lady = np.asarray(full_store.load("painted_lady").neutral, np.float64)
    size = d11[0].frame.size
    driver = np.stack([d.face.points for d in d11]).astype(np.float64)
    driver_px = to_pixels(driver, size)
    out = Retargeter(driver[0], size, lady).many(driver).astype(np.float64)
    np.testing.assert_allclose(out[0], lady, atol=1e-5)
    a_lady, a_driver = _aspect(lady), _aspect(driver_px[0])
    assert abs(a_lady - a_driver) > 0.1, (a_lady, a_driver)  # the two faces differ in shape
    aspects = np.array([_aspect(p) for p in out])
    driver_aspects = np.array([_aspect(p) for p in driver_px])
    # The driver's own aspect changes (mouth, nods); the character's follows that change, from its own.
    np.testing.assert_allclose(aspects / a_lady, driver_aspects / a_driver, rtol=0.05)
    assert (np.abs(aspects - a_lady) < np.abs(aspects - a_driver)).mean() > 0.9
    # Mouth opening relative to face height: the driver's, carried over.
    h_d, h_c = face_frame(driver_px[0]).height, face_frame(lady).height
    open_d = np.array([_mouth_open(p) - _mouth_open(driver_px[0]) for p in driver_px]) / h_d
    open_c = np.array([_mouth_open(p) - _mouth_open(lady) for p in out]) / h_c
    assert open_d.max() > 0.03  # the driver talks
    assert np.corrcoef(open_d, open_c)[0, 1] > 0.98
    np.testing.assert_allclose(open_c, open_d, rtol=0.1, atol=0.005)
    # Absolute stamping (the driver's face moved into Mona's frame) would carry the driver's shape.
    stamped = driver_px / h_d * h_c
    assert abs(_aspect(stamped[0]) - a_driver) < 1e-9 and abs(_aspect(stamped[0]) - a_lady) > 0.1
