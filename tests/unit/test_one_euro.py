"""The One Euro filter: its defining behaviour on synthetic signals, then on real tracking
(a still face: jitter goes down; a moving one: the lag stays under one frame)."""

from __future__ import annotations

import numpy as np
import pytest

from facecast.apps.bench.tracker import jitter_px, lag_s
from facecast.config import TrackerConfig
from facecast.tracking.one_euro import OneEuroFilter, smoothing_factor

FPS = 30.0


def _run(filt: OneEuroFilter, values: np.ndarray, times: np.ndarray) -> np.ndarray:
    return np.stack([filt(v, t) for v, t in zip(values, times)])


def test_smoothing_factor_matches_the_paper():
    # alpha = 1 / (1 + tau / T), tau = 1 / (2 pi fc)
    assert smoothing_factor(1.0, 1 / 30) == pytest.approx(1 / (1 + (1 / (2 * np.pi)) * 30))
    assert smoothing_factor(1e9, 1 / 30) == pytest.approx(1.0)


def test_first_sample_passes_and_constants_stay():
    f = OneEuroFilter(1.0, 0.5)
    x = np.random.default_rng(0).random((478, 3))
    np.testing.assert_array_equal(f(x, 0.0), x)
    for i in range(1, 10):
        np.testing.assert_allclose(f(x, i / FPS), x, atol=1e-12)


def test_jitter_is_reduced_and_beta_cuts_lag_on_a_ramp():
    rng = np.random.default_rng(1)
    t = np.arange(300) / FPS
    noisy = 0.5 + rng.normal(0, 1e-3, (300, 10, 2))
    out = _run(OneEuroFilter(1.0, 30.0), noisy, t)
    assert np.diff(out[30:], axis=0).std() < 0.3 * np.diff(noisy[30:], axis=0).std()
    ramp = np.repeat((0.3 * t)[:, None, None], 2, axis=2)  # 0.3 units/s, one point
    lag = {}
    for beta in (0.0, 30.0):
        out = _run(OneEuroFilter(1.0, beta), ramp, t)
        lag[beta] = float((ramp[-1, 0, 0] - out[-1, 0, 0]) / 0.3)  # seconds behind
    assert lag[0.0] == pytest.approx(1 / (2 * np.pi), rel=0.15)  # tau of a 1 Hz cutoff
    assert lag[30.0] < 0.3 * lag[0.0]


def test_per_point_speed_treats_diagonal_like_axis_motion():
    t = np.arange(60) / FPS
    axis = np.stack([np.stack([0.5 * t, 0 * t], axis=1)], axis=1)  # (60, 1, 2)
    diag = np.stack([np.stack([0.5 * t, 0.5 * t], axis=1) / np.sqrt(2)], axis=1)
    a = _run(OneEuroFilter(1.0, 10.0), axis, t)
    d = _run(OneEuroFilter(1.0, 10.0), diag, t)
    np.testing.assert_allclose(np.linalg.norm(a[-1] - axis[-1]), np.linalg.norm(d[-1] - diag[-1]), rtol=1e-9)


def test_reset_repeated_timestamps_and_bad_input():
    f = OneEuroFilter(1.0, 1.0)
    f(np.zeros(3), 0.0)
    first = f(np.ones(3), 1 / FPS)
    np.testing.assert_array_equal(f(np.full(3, 5.0), 1 / FPS), first)  # time did not advance
    f.reset(np.full(3, 2.0), 1.0)
    np.testing.assert_allclose(f(np.full(3, 2.0), 1.0 + 1 / FPS), 2.0)
    with pytest.raises(ValueError, match="shape"):
        f(np.zeros(4), 2.0)
    with pytest.raises(ValueError, match="min_cutoff"):
        OneEuroFilter(0.0, 1.0)


# ------------------------------------------------------------------ real tracking


@pytest.fixture(scope="module")
def tracked(model_dir, shared_videos):
    """Landmarks of a moving segment (d12, all 183 frames, fast head and mouth motion) and of
    a still one: one real frame of d3 repeated 60 times with camera noise (sigma 8 grey
    levels, an indoor webcam)."""
    from facecast.capture.camera import CapturedFrame, open_source
    from facecast.capture.live import StreamLandmarker, detections

    with open_source(video=shared_videos / "d12.mp4") as src, StreamLandmarker("video") as lm:
        dets = list(detections(src, lm))
    moving = np.stack([d.face.points for d in dets if d.face is not None]).astype(np.float64)
    t_moving = np.array([d.frame.timestamp_s for d in dets if d.face is not None])
    with open_source(video=shared_videos / "d3.mp4", max_frames=11) as src:
        frames = [src.read() for _ in range(11)]
    base = frames[10].rgb.astype(np.float32)
    rng = np.random.default_rng(0)
    still = []
    with StreamLandmarker("video") as lm:
        for i in range(60):
            noisy = np.clip(base + rng.normal(0, 8.0, base.shape), 0, 255).astype(np.uint8)
            det = lm.detect(CapturedFrame(i, i / FPS, 0.0, noisy))
            assert det.face is not None
            still.append(det.face.points)
    return moving, t_moving, np.stack(still).astype(np.float64), frames[10].size


def test_defaults_cut_still_jitter_and_keep_lag_under_one_frame(tracked):
    """Figures quoted in docs/tracker.md; the defaults are [tracker] min_cutoff/beta."""
    moving, t_moving, still, size = tracked
    cfg = TrackerConfig()
    t_still = np.arange(len(still)) / FPS
    out = _run(OneEuroFilter(cfg.min_cutoff, cfg.beta, cfg.d_cutoff), still, t_still)
    assert jitter_px(out, size) < 0.5 * jitter_px(still, size), (jitter_px(out, size), jitter_px(still, size))
    filtered = _run(OneEuroFilter(cfg.min_cutoff, cfg.beta, cfg.d_cutoff), moving, t_moving)
    lag_all = lag_s(moving[:, :, :2], filtered[:, :, :2], t_moving)
    mouth = lambda p: p[:, 14, 1] - p[:, 13, 1]  # noqa: E731 (inner lip gap)
    lag_mouth = lag_s(mouth(moving), mouth(filtered), t_moving)
    frame = 1.0 / 25.0  # d12 is 25 fps
    assert lag_all < frame and lag_mouth < frame, (lag_all, lag_mouth)
    # The VTuber-style setting (beta 0.5 on normalised coordinates) lags by several frames here.
    slow = _run(OneEuroFilter(1.0, 0.5, 1.0), moving, t_moving)
    assert lag_s(moving[:, :, :2], slow[:, :, :2], t_moving) > 1.5 * frame
