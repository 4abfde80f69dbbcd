"""The warp renderer's fold-over guard: no triangle of the driven mesh may flip.

Whatever landmarks a client sends (a bad driver neutral, noisy tracking, a hostile pose),
the corners of triangles that wind against the character's neutral mesh are pulled
towards the head's rigid pose (``core.fold_guard.unfold``): the neutral mesh moved by the
similarity of the stable points, the ring likewise, the border fixed. Where even that pose
folds (the head pushed off the frame, squeezing the ring against the border), the rigid
pose itself is first unfolded towards the neutral mesh, which never folds. A pose that
would cover too many frames is refused as it was sent (``cost_bounds``), as before.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from facecast.core.fold_guard import flipped, signed_areas, unfold
from facecast.render.cost_bounds import check_coverage, clip_to_frame

__all__ = ["unfold_driven"]


class _MeshLike(Protocol):
    used: np.ndarray
    src_norm: np.ndarray
    ring_norm: np.ndarray
    triangles: np.ndarray


def unfold_driven(mesh: _MeshLike, drv_norm: np.ndarray, a: complex, b: complex, scale: np.ndarray,
                  ring_limits: tuple[float, float]) -> np.ndarray:
    """``M x 2`` driven vertices (normalised: landmarks, ring, border as in ``mesh.src_norm``)
    with no triangle flipped against ``mesh.src_norm``. ``a``, ``b``: the head's similarity
    in pixels (``z -> a z + b``), ``scale`` (2,) the output size."""
    rest = signed_areas(mesh.src_norm, mesh.triangles)  # (T,)
    if not flipped(drv_norm, rest, mesh.triangles).any():  # the usual case: one check
        return drv_norm
    # A pose that would cover too much is refused as sent (PoseRefused), not unfolded.
    check_coverage(drv_norm[mesh.triangles] * scale, int(scale[0]), int(scale[1]))
    n = len(mesh.used) + len(mesh.ring_norm)
    px = mesh.src_norm[:n].astype(np.float64) * scale
    moved = a * (px[:, 0] + 1j * px[:, 1]) + b
    rigid = mesh.src_norm.astype(np.float64).copy()  # (M, 2); border stays
    rigid[:n] = clip_to_frame(np.stack([moved.real, moved.imag], 1) / scale)
    rigid[len(mesh.used):n] = np.clip(rigid[len(mesh.used):n], *ring_limits)
    safe, _ = unfold(rigid, mesh.src_norm, rest, mesh.triangles)
    out, _ = unfold(drv_norm, safe, rest, mesh.triangles)
    return out
