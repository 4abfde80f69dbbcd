"""Keeping a driven 2-D triangle mesh from folding over.

A triangle whose driven corners wind the other way than in the rest pose shows its piece
of the image mirrored (a fold-over: torn hairlines, eyelids through the cheek). Whatever
drives the mesh, ``unfold`` pulls the corners of flipped triangles towards a ``safe`` pose
that has no flipped triangle (the rest pose, or the head's rigid motion of it), a little
at a time, until nothing is flipped; the last rounds put them (and the neighbours they
flip) at ``safe`` itself, and if that still leaves a flip every point goes to ``safe``, so
the result never has more flips than ``safe``. Triangles that are thin in the rest pose (eye and lip
strips that close) may collapse to nothing without counting as flipped, and a sliver may
turn over by less than 2 % of the median triangle's area (tracking noise on sub-pixel
triangles; invisible).
"""

from __future__ import annotations

import numpy as np

__all__ = ["signed_areas", "flipped", "unfold"]

PULL_STEPS = (0.05, 0.1, 0.2, 0.35, 0.5, 0.75) + (1.0,) * 12  # share of the way to ``safe`` per round
_SLACK = 1e-3  # a triangle counts as flipped below -(_SLACK x its rest area ...
_FLOOR = 0.02  # ... + _FLOOR x the median rest area): sub-pixel slivers may wobble


def signed_areas(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(T,) twice the signed area of each triangle of ``N x 2`` points (``T x 3`` ids)."""
    p = np.asarray(points, np.float64)[np.asarray(triangles)]  # (T, 3, 2)
    e1, e2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    return e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]


def flipped(points: np.ndarray, rest_areas: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(T,) bool: triangles of ``points`` wound against their ``rest_areas`` sign."""
    size = np.abs(rest_areas)
    floor = _FLOOR * float(np.median(size)) if len(size) else 0.0
    return signed_areas(points, triangles) * np.sign(rest_areas) < -(_SLACK * size + floor)


def unfold(points: np.ndarray, safe: np.ndarray, rest_areas: np.ndarray, triangles: np.ndarray) -> tuple[np.ndarray, int]:
    """``points`` (N x 2) with the corners of flipped triangles pulled towards ``safe``
    (N x 2); returns the new points (float32) and how many triangles were flipped at first."""
    out = np.array(points, np.float64)
    target = np.asarray(safe, np.float64)
    bad = flipped(out, rest_areas, triangles)
    first = int(bad.sum())
    for step in PULL_STEPS:
        if not bad.any():
            break
        ids = np.unique(triangles[bad])
        out[ids] += step * (target[ids] - out[ids])
        bad = flipped(out, rest_areas, triangles)
    if bad.any():  # still folded after every round: the safe pose everywhere
        out = target.copy()
    return out.astype(np.float32), first
