"""Bounds that make a render's cost a function of the frame, never of the pose.

A valid, finite pose can still ask for unbounded work: landmarks a hundred frames away
make every triangle of a warp mesh cover the whole frame (rasterizing T triangles of
W x H pixels each), and a mouth scaled up a hundredfold asks for a blur whose kernel
grows with it. Renderers apply these bounds before doing the work:

- ``clip_to_frame``: driven points are clipped to ``DRIVE_LIMIT`` frames beyond each edge
  (anything further is off screen anyway);
- ``check_coverage``: the driven triangles may cover at most ``MAX_COVERAGE`` frames in
  all (a mesh that neither folds nor leaves the frame covers about one); a pose that asks
  for more is refused before any pixel is touched;
- ``Deadline``: a per-pose time budget checked between stages, after which that pose is
  refused and the rest of the batch goes on.

A refused pose is a ``PoseRefused`` put in place of its frame (render/base.py).
"""

from __future__ import annotations

import time

import numpy as np

from facecast.render.base import PoseRefused

DRIVE_LIMIT = 1.0  # driven points are clipped to this many frame sizes outside each edge
MAX_COVERAGE = 4.0  # driven triangles may cover at most this many frames in all
BUDGET_MEGAPIXELS = 1.0  # the per-pose budget is given per this many output pixels (x 1e6)


def clip_to_frame(points_norm: np.ndarray) -> np.ndarray:
    """Normalized x, y (``N x 2``, 0..1 over the frame) clipped to ``DRIVE_LIMIT`` frames
    beyond each edge: a new array."""
    return np.clip(points_norm, -DRIVE_LIMIT, 1.0 + DRIVE_LIMIT)


def check_coverage(corners_px: np.ndarray, width: int, height: int) -> np.ndarray:
    """Raise ``PoseRefused`` when triangles ``T x 3 x 2`` (pixels) cover more than
    ``MAX_COVERAGE`` frames in all; else return their ``T`` areas (px^2).

    Each triangle counts at most one frame (rasterizing clips it to the frame), so the
    sum bounds the pixels a rasterizer writes.
    """
    e1 = corners_px[:, 1] - corners_px[:, 0]
    e2 = corners_px[:, 2] - corners_px[:, 0]
    area = 0.5 * np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
    frame = float(width) * float(height)
    coverage = float(np.minimum(area, frame).sum()) / frame
    if coverage > MAX_COVERAGE:
        raise PoseRefused(
            f"pose refused: its driven mesh would cover {coverage:.1f} frames (limit {MAX_COVERAGE:g}); "
            "landmarks far outside the image or folded over each other?"
        )
    return area


def budget_seconds(pose_budget_ms: float, width: int, height: int) -> float | None:
    """The time one pose of ``width x height`` may take: ``pose_budget_ms`` per megapixel
    of output, never less than ``pose_budget_ms``; None (no budget) when it is 0."""
    if pose_budget_ms <= 0:
        return None
    megapixels = max(1.0, width * height / (BUDGET_MEGAPIXELS * 1e6))
    return pose_budget_ms * megapixels / 1000.0


class Deadline:
    """A pose's time budget, checked between the stages of its render."""

    __slots__ = ("budget_s", "end")

    def __init__(self, budget_s: float | None) -> None:
        self.budget_s = budget_s
        self.end = None if budget_s is None else time.monotonic() + budget_s

    def check(self, stage: str) -> None:
        """Raise ``PoseRefused`` when the budget is spent (``stage``: where, for the message)."""
        if self.end is not None and time.monotonic() > self.end:
            raise PoseRefused(f"render ran past its budget of {self.budget_s * 1000:.0f} ms ({stage}); "
                              "see [render] pose_budget_ms")
