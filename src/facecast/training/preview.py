"""Preview grid of a training run: one row per episode of a fixed batch.

Columns: first shot (whose identity is used), the target's landmark image, the generated
frame, the target frame, and the generated alpha (gray).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from torch import Tensor

__all__ = ["preview_grid", "write_preview"]


def _to_uint8(images: Tensor, lo: float, hi: float) -> np.ndarray:
    """(B, C, S, S) in [lo, hi] -> (B, S, S, 3) uint8 (1 channel is repeated)."""
    x = ((images.detach().float().cpu() - lo) / (hi - lo)).clamp(0, 1)
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    return (x.permute(0, 2, 3, 1).numpy() * 255.0 + 0.5).astype(np.uint8)


def preview_grid(shots: Tensor, landmark_images: Tensor, output: Tensor, targets: Tensor) -> np.ndarray:
    """(B, 3, S, S) first shots and targets in [-1, 1], landmark images in [0, 1], the
    generator's (B, 4, S, S) output -> one RGB uint8 image (B*S, 5*S, 3)."""
    columns = [_to_uint8(shots, -1, 1), _to_uint8(landmark_images, 0, 1), _to_uint8(output[:, :3], -1, 1),
               _to_uint8(targets, -1, 1), _to_uint8(output[:, 3:4], 0, 1)]
    rows = [np.concatenate([col[i] for col in columns], axis=1) for i in range(shots.shape[0])]
    return np.ascontiguousarray(np.concatenate(rows, axis=0))


def write_preview(path: str | Path, grid: np.ndarray) -> Path:
    """Write an RGB uint8 grid as PNG (atomically: temporary name, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"could not encode preview {path}")
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(buf.tobytes())
    tmp.replace(path)
    return path
