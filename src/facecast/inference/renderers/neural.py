"""The ``neural`` renderer: the few-shot talking-head generator (Zakharov et al. 2019).

Knobs (``[render]``): ``checkpoint`` (a file written by ``facecast train``; required) and
``device`` (``auto`` = CUDA when available, else CPU).

``prepare`` loads the character's neural assets for this checkpoint (``<character>/
neural/<sha256>.pt``, written by ``facecast enroll --checkpoint`` or ``facecast
finetune``); a character without them gets its embedding computed on the spot from its
shots, with a warning. ``render`` rasterizes every request's landmarks on the device,
stacks the per-request AdaIN vectors and runs the shared generator once for all requests
that use it; characters with their own fine-tuned generator (``--full``) run as one
sub-batch each. Frames are resized on the device to each request's size and returned as
RGBA uint8, the alpha being the generator's.

The generator works on the character's square crop at the model's resolution; the
request's landmarks are normalized to that crop (see base.py), so they are the model's
landmark coordinates as they are.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from facecast.inference.models.generator import Generator
from facecast.inference.models.talking_head import TRAIN_HINT
from facecast.inference.neural_assets import NeuralAssets, NeuralAssetsError, load_assets
from facecast.inference.neural_engine import NeuralEngine, points_tensor, tensor_to_rgba8
from facecast.inference.renderers.base import (
    CharacterAssets,
    RenderError,
    Renderer,
    RenderRequest,
    check_request,
    register_renderer,
)

log = logging.getLogger(__name__)

USE_HINT = (f"{TRAIN_HINT} (see docs/training.md) and pass it as `facecast serve --checkpoint CKPT` "
            "or [render] checkpoint")


class NeuralCheckpointMissing(FileNotFoundError):
    """The neural renderer was asked for without a usable checkpoint file."""


@dataclass(frozen=True)
class NeuralCharacter:
    """Handle returned by ``NeuralRenderer.prepare``."""

    name: str
    adain: torch.Tensor  # (adain_size,) on the engine's device
    generator: Generator | None = field(default=None, repr=False)  # own fine-tuned weights, or shared
    source: str = "enrolled"  # enrolled | fine-tuned | on the fly


@register_renderer("neural", config_keys=("checkpoint", "device"))
class NeuralRenderer(Renderer):
    """Few-shot talking-head renderer (see module docstring)."""

    name = "neural"

    def __init__(self, checkpoint: str | Path = "", device: str = "auto",
                 engine: NeuralEngine | None = None) -> None:
        if engine is None:
            if not str(checkpoint).strip():
                raise NeuralCheckpointMissing(f"the neural renderer needs a model checkpoint: {USE_HINT}")
            path = Path(checkpoint).expanduser()
            if not path.is_file():
                raise NeuralCheckpointMissing(f"neural renderer: model checkpoint {path} not found; {USE_HINT}")
            engine = NeuralEngine.from_checkpoint(path, device)
        self.engine = engine

    @property
    def checkpoint_sha256(self) -> str:
        return self.engine.checkpoint_sha256

    def prepare(self, assets: CharacterAssets) -> NeuralCharacter:
        img = np.asarray(assets.image)
        if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] != img.shape[1] or img.dtype != np.uint8:
            raise ValueError(f"character image must be S x S x 3 uint8, got {img.shape} {img.dtype}")
        stored = self._stored_assets(assets)
        if stored is None:
            log.warning("neural: character %r has no neural assets for checkpoint %s; computing its embedding "
                        "from its %d shot(s) now. Enrolling with `facecast enroll ... --checkpoint CKPT` "
                        "(better: with --finetune) gives better results.", assets.name,
                        self.engine.checkpoint_sha256[:12] or "(in memory)", max(1, len(assets.shot_images)))
            images, landmarks = _shots(assets)
            embedding = self.engine.embed(images, landmarks)
            return NeuralCharacter(assets.name, self.engine.adain_for(embedding), None, "on the fly")
        if stored.adain.shape != (self.engine.adain_size,):
            raise ValueError(f"character {assets.name!r}: stored AdaIN vector has {tuple(stored.adain.shape)} "
                             f"values, the checkpoint's generator takes {self.engine.adain_size}")
        generator = None
        if stored.generator_state is not None:
            try:
                generator = self.engine.generator_with(stored.generator_state)
            except RuntimeError as exc:
                raise ValueError(f"character {assets.name!r}: its fine-tuned generator does not fit the "
                                 f"checkpoint: {exc}") from None
        adain = stored.adain.to(self.engine.device, torch.float32)
        source = "fine-tuned" if stored.steps > 0 else "enrolled"
        log.info("neural: prepared %r (%s, K=%d%s)", assets.name, source, stored.shots,
                 ", own generator" if generator is not None else "")
        return NeuralCharacter(assets.name, adain, generator, source)

    def _stored_assets(self, assets: CharacterAssets) -> NeuralAssets | None:
        if assets.directory is None or not self.engine.checkpoint_sha256:
            return None
        try:
            return load_assets(Path(assets.directory), self.engine.checkpoint_sha256)
        except NeuralAssetsError as exc:
            log.warning("neural: ignoring the stored assets of %r: %s", assets.name, exc)
            return None

    def render(self, batch: Sequence[RenderRequest]) -> list[np.ndarray]:
        """Render every request in order (one generator pass per generator in the batch)."""
        for i, req in enumerate(batch):
            try:
                check_request(req, NeuralCharacter)
            except ValueError as exc:
                raise ValueError(f"request {i}: {exc}") from None
        if not batch:
            return []
        try:
            return self._render(batch)
        except torch.cuda.OutOfMemoryError as exc:
            raise RenderError(f"out of GPU memory rendering a batch of {len(batch)}: {exc}") from None

    @torch.inference_mode()
    def _render(self, batch: Sequence[RenderRequest]) -> list[np.ndarray]:
        eng = self.engine
        s = eng.image_size
        n = len(batch)
        # Landmark images, one rasterizer call per landmark format: (B, 3, S, S).
        lm_images = torch.empty((n, 3, s, s), device=eng.device)
        by_format: dict[str, list[int]] = defaultdict(list)
        for i, req in enumerate(batch):
            by_format[req.landmark_format].append(i)
        for fmt, idx in by_format.items():
            points = points_tensor([batch[i].landmarks for i in idx], eng.device)  # (b, N, 3)
            lm_images[idx] = eng.landmark_images(points, fmt)
        # One generator pass per generator: the shared one for most characters, each
        # fully fine-tuned character's own. (B, adain_size) -> (B, 4, S, S)
        adain = torch.stack([req.character.adain for req in batch])
        frames = torch.empty((n, 4, s, s), device=eng.device)
        by_generator: dict[int, list[int]] = defaultdict(list)
        generators: dict[int, Generator | None] = {}
        for i, req in enumerate(batch):
            gen = req.character.generator
            by_generator[id(gen)].append(i)
            generators[id(gen)] = gen
        for key, idx in by_generator.items():
            frames[idx] = eng.generate(lm_images[idx], adain[idx], generators[key]).float()
        # Resize on the device, one call per output size, then to uint8 RGBA.
        out: list[np.ndarray | None] = [None] * n
        by_size: dict[tuple[int, int], list[int]] = defaultdict(list)
        for i, req in enumerate(batch):
            by_size[(int(req.width), int(req.height))].append(i)
        for (w, h), idx in by_size.items():
            sized = frames[idx]
            if (w, h) != (s, s):
                # (b, 4, S, S) -> (b, 4, h, w); antialiased when shrinking
                sized = F.interpolate(sized, size=(h, w), mode="bilinear", align_corners=False,
                                      antialias=w < s or h < s)
            rgba = tensor_to_rgba8(sized).cpu().numpy()  # (b, h, w, 4)
            for j, i in enumerate(idx):
                out[i] = rgba[j]
        assert all(frame is not None for frame in out)
        return out  # type: ignore[return-value]


def _shots(assets: CharacterAssets) -> tuple[list[np.ndarray], np.ndarray]:
    """The character's shot crops and their landmarks (the reference alone if no shots)."""
    if assets.shot_images and assets.shots is not None and len(assets.shot_images) == len(assets.shots):
        return list(assets.shot_images), np.asarray(assets.shots, np.float32)
    return [np.asarray(assets.image)], np.asarray(assets.neutral, np.float32)[None]
