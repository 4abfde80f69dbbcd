"""Relative-motion retargeting (simple form): the driver's motion relative to its own
neutral frame, scaled to the character's face size, applied to the character's neutral
landmarks — so the driver's face shape is not stamped onto the character."""

from __future__ import annotations

import numpy as np

from facecast import topology as topo


def _face_size(points_px: np.ndarray) -> float:
    oval = points_px[list(topo.MP_FACE_OVAL), :2]
    return float(np.linalg.norm(oval.max(axis=0) - oval.min(axis=0)))


def retarget_relative(
    driver: np.ndarray,
    driver_neutral: np.ndarray,
    driver_size: tuple[int, int],
    character_neutral: np.ndarray,
) -> np.ndarray:
    """Map ``T x 478 x 3`` driver landmarks (normalized to a ``(width, height)`` video)
    onto a character: returns ``T x 478 x 3`` normalized to the character's square image."""
    w, h = driver_size
    scale_in = np.array([w, h, w], np.float32)
    drv = np.asarray(driver, np.float32) * scale_in
    drv_neutral = np.asarray(driver_neutral, np.float32) * scale_in
    ratio = _face_size(character_neutral) / max(_face_size(drv_neutral), 1e-6)
    return (character_neutral[None] + (drv - drv_neutral[None]) * ratio).astype(np.float32)
