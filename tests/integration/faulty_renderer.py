"""A test double loaded by the real daemon with
``--renderer tests.integration.faulty_renderer:FaultyRenderer``: the copy renderer,
except that a pose whose first landmark has z == POISON raises, and a batch larger than
MAX_BATCH raises a simulated GPU out-of-memory error. (``faulty_neural_renderer`` puts
the same faults in front of the neural renderer.)"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from facecast.render.base import RenderRequest
from facecast.render.copy import CopyRenderer

POISON = 42.0
MAX_BATCH = 2


def raise_faults(batch: Sequence[RenderRequest]) -> None:
    """Raise as the faulty renderers do for ``batch``; return when it may render."""
    if len(batch) > MAX_BATCH:
        raise RuntimeError(f"CUDA out of memory (simulated) for a batch of {len(batch)}")
    for req in batch:
        if float(req.landmarks[0, 2]) == POISON:
            raise ValueError("poisoned pose (test)")


class FaultyRenderer(CopyRenderer):
    name = "faulty"

    def render(self, batch: Sequence[RenderRequest]) -> list[np.ndarray]:
        raise_faults(batch)
        return super().render(batch)
