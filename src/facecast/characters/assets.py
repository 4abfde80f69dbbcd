"""What a renderer receives of one character: images, landmarks, matte, shots.

Built by the store (``Character.assets()``) or in memory by tests and benchmarks; the
renderers' ``prepare`` takes it (``facecast.render.base``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class CharacterAssets:
    """Everything a renderer may use of one character.

    image: S x S x 3 uint8 RGB square crop around the head.
    neutral: 478 x 3 float32 MediaPipe landmarks of ``image``, normalized to it.
    matte: optional S x S uint8 head matte (255 = head), from enrollment.
    shot_images: every shot's S x S x 3 uint8 crop (``shot_images[0]`` is ``image``);
        empty when only the reference is known.
    shots: K x 478 x 3 float32 landmarks of ``shot_images``, each normalized to its crop.
    directory: the character's folder in the store, where renderers find per-character
        files they made at enrollment (the neural renderer's AdaIN parameters); None for
        characters that live only in memory. Renderers read it, never write it.
    """

    name: str
    image: np.ndarray
    neutral: np.ndarray
    matte: np.ndarray | None = None
    shot_images: tuple[np.ndarray, ...] = ()
    shots: np.ndarray | None = None
    directory: Path | None = None
