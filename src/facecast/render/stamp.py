"""The `stamp` renderer: fills every frame with the raw bytes of the first landmark's x
and y (two float32, 8 bytes) repeated over the whole frame. A frame is therefore
consistent only if every 8-byte word equals the first, which lets a reader in another
process prove it never sees a torn frame (tests, `facecast bench delivery`)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from facecast.characters.assets import CharacterAssets
from facecast.render.base import Renderer, RenderRequest, register_renderer


def stamp_word(landmarks: np.ndarray) -> np.uint64:
    """The 8-byte word a stamp frame of ``landmarks`` is filled with."""
    return np.ascontiguousarray(landmarks[0, :2], dtype="<f4").view("<u8")[0]


def stamp_is_consistent(frame: np.ndarray) -> bool:
    """True when every 8-byte word of a stamp frame (any channel count) equals the first."""
    words = np.ascontiguousarray(frame).reshape(-1)
    usable = words.size - words.size % 8
    as_u64 = words[:usable].view("<u8")
    return bool((as_u64 == as_u64[0]).all())


@register_renderer("stamp")
class StampRenderer(Renderer):
    name = "stamp"

    def prepare(self, assets: CharacterAssets) -> Any:
        return assets.name

    def render(self, batch: Sequence[RenderRequest]) -> list[np.ndarray]:
        frames = []
        for req in batch:
            count = req.width * req.height * 4
            words = np.full((count + 7) // 8, stamp_word(req.landmarks), dtype="<u8")
            frames.append(words.view(np.uint8)[:count].reshape(req.height, req.width, 4).copy())
        return frames
