"""The procedural performance and the simple relative retargeting, on a real face."""

from __future__ import annotations

import numpy as np

from facecast.core import topology as topo
from facecast.tracking.procedural import ExpressionRig, procedural_performance
from facecast.tracking.retarget import retarget_relative


def _eye_gap(p):
    return float((p[list(topo.MP_RIGHT_LOWER_LID), 1] - p[list(topo.MP_RIGHT_UPPER_LID), 1]).mean())


def _mouth_gap(p):
    return float(p[topo.MP_LOWER_LIP_CENTER, 1] - p[topo.MP_UPPER_LIP_CENTER, 1])


def test_rig_blinks_opens_jaw_and_turns(default_store):
    n = default_store.load("default").neutral
    rig = ExpressionRig(n)
    np.testing.assert_allclose(rig.pose(), n, atol=1e-6)
    assert _eye_gap(rig.pose(blink=1.0)) < 0.2 * _eye_gap(n)
    assert _mouth_gap(rig.pose(jaw=1.0)) > _mouth_gap(n) + 0.02
    forehead = 10
    assert abs(rig.pose(jaw=1.0)[forehead] - n[forehead]).max() < 1e-6
    turned = rig.pose(yaw=np.deg2rad(15))
    assert abs(turned[topo.MP_NOSE_TIP, 0] - n[topo.MP_NOSE_TIP, 0]) > 0.01


def test_performance_has_blinks_speech_and_motion(default_store):
    n = default_store.load("default").neutral
    perf = procedural_performance(n, seconds=6.0, fps=25.0)
    assert perf.shape == (150, 478, 3) and perf.dtype == np.float32 and np.isfinite(perf).all()
    eye = np.array([_eye_gap(p) for p in perf])
    mouth = np.array([_mouth_gap(p) for p in perf])
    assert (eye < 0.5 * _eye_gap(n)).sum() >= 2, "at least one blink"
    assert mouth.max() > _mouth_gap(n) + 0.02 and mouth.std() > 0.005, "speech-like mouth motion"
    assert perf[:, :, :2].min() > 0.0 and perf[:, :, :2].max() < 1.0
    np.testing.assert_array_equal(perf, procedural_performance(n, seconds=6.0, fps=25.0))  # deterministic


def test_retarget_keeps_character_shape_and_transfers_motion(default_store):
    char = default_store.load("default").neutral
    # A "driver" with another face shape: the character squashed and moved, in a 640x480 video.
    drv_neutral = char.copy()
    drv_neutral[:, 0] = 0.3 + drv_neutral[:, 0] * 0.5
    drv_neutral[:, 1] = 0.2 + drv_neutral[:, 1] * 0.6
    frames = np.stack([drv_neutral, drv_neutral + np.array([0.02, 0.0, 0.0], np.float32)])
    out = retarget_relative(frames, drv_neutral, (640, 480), char)
    np.testing.assert_allclose(out[0], char, atol=1e-6)  # neutral maps to the character's own face
    shift = out[1] - out[0]
    assert np.allclose(shift[:, 1:], 0, atol=1e-6) and (shift[:, 0] > 0).all()
