"""The `copy` renderer: returns the character's reference image (and matte, as alpha) at
the requested size, ignoring the landmarks. It costs one memory copy per frame, so `facecast bench bridge`
measures the daemon's own overhead rather than rendering."""

from __future__ import annotations

from typing import Any, Sequence

import cv2
import numpy as np

from facecast.characters.assets import CharacterAssets
from facecast.render.base import Renderer, RenderRequest, register_renderer


class _CopyHandle:
    def __init__(self, assets: CharacterAssets) -> None:
        self.assets = assets
        self.frames: dict[tuple[int, int], np.ndarray] = {}

    def frame(self, width: int, height: int) -> np.ndarray:
        key = (width, height)
        if key not in self.frames:
            rgb = cv2.resize(self.assets.image, (width, height), interpolation=cv2.INTER_AREA)
            matte = self.assets.matte
            alpha = (np.full((height, width), 255, np.uint8) if matte is None
                     else cv2.resize(matte, (width, height), interpolation=cv2.INTER_AREA))
            self.frames[key] = np.dstack([rgb, alpha])
        return self.frames[key]


@register_renderer("copy")
class CopyRenderer(Renderer):
    name = "copy"

    def prepare(self, assets: CharacterAssets) -> Any:
        return _CopyHandle(assets)

    def render(self, batch: Sequence[RenderRequest]) -> list[np.ndarray]:
        return [req.character.frame(req.width, req.height).copy() for req in batch]
