"""A built-in procedural performance: blinks, speech-like mouth motion, small head turns
and brow raises, generated on a character's own neutral landmarks. It drives the demo and
the benchmarks when no camera or video is at hand."""

from __future__ import annotations

import numpy as np

from facecast.core import topology as topo
from facecast.tracking.head_pose import rotation_matrix


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


class ExpressionRig:
    """Applies blink, jaw opening, brow raise and head rotation to one neutral face."""

    def __init__(self, neutral: np.ndarray) -> None:
        if neutral.shape != (478, 3):
            raise ValueError(f"neutral must be 478 x 3 mediapipe landmarks, got {neutral.shape}")
        self.neutral = neutral.astype(np.float32)
        oval = self.neutral[list(topo.MP_FACE_OVAL)]
        self.center = oval.mean(axis=0)
        self.face_height = float(oval[:, 1].max() - oval[:, 1].min())
        self.face_width = float(oval[:, 0].max() - oval[:, 0].min())
        # Jaw weights: full below the mouth line near the chin, fading towards the ears.
        mouth_y = self.neutral[list(topo.MP_UPPER_INNER_LIP) + list(topo.MP_LOWER_INNER_LIP), 1].mean()
        pts = self.neutral
        vertical = _smoothstep((pts[:, 1] - mouth_y) / (0.04 * self.face_height))
        horizontal = _smoothstep(1.0 - np.abs(pts[:, 0] - self.center[0]) / (0.55 * self.face_width)) ** 0.5
        below_chin = pts[:, 1] > oval[:, 1].max() + 0.02  # (no such points; kept general)
        self.jaw_weight = (vertical * horizontal * ~below_chin).astype(np.float32)
        self.jaw_weight[list(topo.MP_LOWER_INNER_LIP)] = 1.0
        brow_idx = list(topo.MP_RIGHT_EYEBROW) + list(topo.MP_LEFT_EYEBROW)
        brow_y = self.neutral[brow_idx, 1].mean()
        self.brow_weight = _smoothstep(1.0 - np.abs(pts[:, 1] - brow_y) / (0.12 * self.face_height)).astype(np.float32)
        self.brow_weight *= (pts[:, 1] < brow_y + 0.03 * self.face_height)
        self.lids = [
            (list(topo.MP_RIGHT_UPPER_LID), list(topo.MP_RIGHT_LOWER_LID)),
            (list(topo.MP_LEFT_UPPER_LID), list(topo.MP_LEFT_LOWER_LID)),
        ]
        # Irises (centre + ring) move with the gaze, by a fraction of their eye's width.
        self.irises = [[468, *topo.MP_RIGHT_IRIS], [473, *topo.MP_LEFT_IRIS]]
        self.eye_widths = [float(np.ptp(self.neutral[upper + lower, 0])) for upper, lower in self.lids]

    def pose(self, blink: float = 0.0, jaw: float = 0.0, brows: float = 0.0, smile: float = 0.0,
             yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0, wide: float = 0.0,
             gaze_x: float = 0.0, gaze_y: float = 0.0, rise: float = 0.0) -> np.ndarray:
        """478 x 3 landmarks. blink/jaw/brows/smile in [0, 1] (negative: the other way —
        eyes wide, brows lowered, corners down and in); angles in radians (``head_pose``
        convention, the protocol's ``pose.head``); ``wide`` in [-1, 1] spreads (+) or rounds (-)
        the mouth corners sideways; ``gaze_x``/``gaze_y`` in [-1, 1] move the irises (+x: image
        right, +y: down); ``rise`` lifts the whole head by that fraction of its height."""
        p = self.neutral.copy()
        if gaze_x or gaze_y:
            for iris, width in zip(self.irises, self.eye_widths):
                p[iris, 0] += gaze_x * 0.12 * width
                p[iris, 1] += gaze_y * 0.08 * width
        for upper, lower in self.lids:
            gap = p[lower, 1] - p[upper, 1]
            p[upper, 1] += 0.85 * blink * gap
            p[lower, 1] -= 0.10 * blink * gap
        p[:, 1] += jaw * 0.06 * self.face_height * self.jaw_weight
        p[:, 1] -= brows * 0.035 * self.face_height * self.brow_weight
        if smile:
            for idx, side in zip(topo.MP_MOUTH_CORNERS, (-1.0, 1.0)):
                p[idx, 0] += side * smile * 0.04 * self.face_width
                p[idx, 1] -= smile * 0.02 * self.face_height
        if wide:
            for idx, side in zip(topo.MP_MOUTH_CORNERS, (-1.0, 1.0)):
                p[idx, 0] += side * wide * 0.03 * self.face_width
        if rise:
            p[:, 1] -= rise * self.face_height
        if yaw or pitch or roll:
            p = (p - self.center) @ rotation_matrix(yaw, pitch, roll).astype(np.float32).T + self.center
        return p.astype(np.float32)


def procedural_performance(neutral: np.ndarray, seconds: float = 6.0, fps: float = 25.0, seed: int = 0) -> np.ndarray:
    """T x 478 x 3 landmarks of a short performance on ``neutral``, T = seconds * fps."""
    rig = ExpressionRig(neutral)
    rng = np.random.default_rng(seed)
    n = max(1, int(round(seconds * fps)))
    t = np.arange(n) / fps
    # Blinks every 2.5-4 s, 0.2 s long.
    blink = np.zeros(n)
    at = 0.8
    while at < seconds:
        blink += np.clip(1.0 - np.abs(t - at) / 0.1, 0.0, 1.0)
        at += rng.uniform(2.5, 4.0)
    # Speech: ~4 syllables/s inside phrases that come and go.
    phrase = _smoothstep(0.5 + 0.5 * np.sin(2 * np.pi * t / 3.0 + 0.3) + 0.3)
    syllables = np.clip(np.sin(2 * np.pi * 4.1 * t) * 0.5 + np.sin(2 * np.pi * 2.3 * t + 1.0) * 0.35 + 0.35, 0, 1)
    jaw = phrase * syllables
    brows = 0.6 * _smoothstep((np.sin(2 * np.pi * t / 4.5 - 1.2) - 0.6) / 0.4)
    smile = 0.5 * _smoothstep((np.sin(2 * np.pi * t / 5.5 + 2.0) - 0.3) / 0.7)
    yaw = np.deg2rad(9.0) * np.sin(2 * np.pi * t / 4.0)
    pitch = np.deg2rad(4.0) * np.sin(2 * np.pi * t / 3.1 + 0.7)
    roll = np.deg2rad(3.0) * np.sin(2 * np.pi * t / 5.3 + 1.9)
    return np.stack([
        rig.pose(blink=min(1.0, blink[i]), jaw=jaw[i], brows=brows[i], smile=smile[i],
                 yaw=yaw[i], pitch=pitch[i], roll=roll[i])
        for i in range(n)
    ])
