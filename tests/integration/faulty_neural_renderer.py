"""The neural renderer behind the faults of ``faulty_renderer`` (poisoned poses, batches
over MAX_BATCH), loaded by the real daemon with
``--renderer tests.integration.faulty_neural_renderer:FaultyNeuralRenderer``. A renderer
given by module path gets no ``[render]`` knobs, so the checkpoint comes from the
environment variable CHECKPOINT_ENV; it runs on the CPU."""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from facecast.render.base import RenderRequest
from facecast.render.neural import NeuralRenderer
from tests.integration.faulty_renderer import raise_faults

CHECKPOINT_ENV = "FACECAST_TEST_CHECKPOINT"


class FaultyNeuralRenderer(NeuralRenderer):
    name = "faulty-neural"

    def __init__(self) -> None:
        super().__init__(checkpoint=os.environ[CHECKPOINT_ENV], device="cpu")

    def render(self, batch: Sequence[RenderRequest]) -> list[np.ndarray]:
        raise_faults(batch)
        return super().render(batch)
