"""The ``neural`` renderer: the few-shot talking-head generator (Zakharov et al. 2019).

Knobs (``[render]``): ``checkpoint`` (a file written by ``facecast train``; required),
``device`` (``auto`` = CUDA when available, else CPU), ``engine`` (``torch`` | ``onnx``:
what runs the generator, see docs/engines.md) and that engine's options (``onnx_model``,
``precision``, ``compile``, ``cuda_graph_batches``, ``providers``, ``threads``,
``trt_cache_dir``, ``trt_fp16``, ``trt_max_batch``; defined in config.py).

``prepare`` loads the character's neural assets for this checkpoint (``<character>/
neural/<sha256>.pt``, written by ``facecast enroll --checkpoint`` or ``facecast
finetune``); a character without them gets its embedding computed on the spot from its
shots, with a warning. ``render`` rasterizes every request's landmarks on the device,
stacks the per-request AdaIN vectors and runs the shared generator once, through the
engine, for all requests that use it; characters with their own fine-tuned generator
(``--full``) run as one sub-batch each, in a torch engine of their own (an exported ONNX
graph carries only the checkpoint's weights; with ``engine = "onnx"`` this is logged once
per such character). Frames are resized on the device to each request's size and returned as
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
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from facecast.model.networks.generator import Generator
from facecast.model.networks.talking_head import TRAIN_HINT
from facecast.characters.neural_assets import NeuralAssets, NeuralAssetsError, load_assets
from facecast.model.neural_model import NeuralModel, points_tensor, tensor_to_rgba8
from facecast.model.engines.base import Engine, create_engine
from facecast.model.engines.torch_engine import TorchEngine
from facecast.characters.assets import CharacterAssets
from facecast.render.base import (
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
    engine: Engine | None = field(default=None, repr=False)  # runs `generator` (None: the shared engine)
    source: str = "enrolled"  # enrolled | fine-tuned | on the fly


ENGINE_KEYS = ("onnx_model", "precision", "compile", "cuda_graph_batches", "providers", "threads", "trt_cache_dir",
               "trt_fp16", "trt_max_batch")


@register_renderer("neural", config_keys=("checkpoint", "device", "engine", *ENGINE_KEYS))
class NeuralRenderer(Renderer):
    """Few-shot talking-head renderer (see module docstring).

    model: an already loaded NeuralModel (instead of ``checkpoint`` and ``device``);
    engine: the runtime engine's name; engine_options: its options (``ENGINE_KEYS``).
    """

    name = "neural"

    def __init__(self, checkpoint: str | Path = "", device: str = "auto", engine: str = "torch",
                 model: NeuralModel | None = None, **engine_options: Any) -> None:
        unknown = sorted(set(engine_options) - set(ENGINE_KEYS))
        if unknown:
            raise TypeError(f"NeuralRenderer: unknown option(s) {', '.join(unknown)}")
        if model is None:
            if not str(checkpoint).strip():
                raise NeuralCheckpointMissing(f"the neural renderer needs a model checkpoint: {USE_HINT}")
            path = Path(checkpoint).expanduser()
            if not path.is_file():
                raise NeuralCheckpointMissing(f"neural renderer: model checkpoint {path} not found; {USE_HINT}")
            model = NeuralModel.from_checkpoint(path, device)
        else:
            device = str(model.device)
        self.engine = model
        # The engine gets the device knob as given: "auto" lets ONNX Runtime use a GPU even
        # where torch (which rasterizes) is a CPU build.
        # share: a torch engine that needs no conversion (fp32 on CPU) runs the model's own
        # generator, which enrollment uses only for its AdaIN projection: weights held once
        self.runtime: Engine = create_engine(engine, model.generator, model.checkpoint_sha256, device=device,
                                             share=True, **engine_options)
        self._own_options = {"precision": engine_options.get("precision", "auto")}  # --full characters' engines

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
            return NeuralCharacter(assets.name, self.engine.adain_for(embedding), source="on the fly")
        if stored.adain.shape != (self.engine.adain_size,):
            raise ValueError(f"character {assets.name!r}: stored AdaIN vector has {tuple(stored.adain.shape)} "
                             f"values, the checkpoint's generator takes {self.engine.adain_size}")
        generator, own_engine = None, None
        if stored.generator_state is not None:
            try:
                generator = self.engine.generator_with(stored.generator_state)
            except RuntimeError as exc:
                raise ValueError(f"character {assets.name!r}: its fine-tuned generator does not fit the "
                                 f"checkpoint: {exc}") from None
            if self.runtime.name != "torch":
                log.warning("neural: character %r has its own fine-tuned generator (finetune --full); the shared "
                            "%s graph carries only the checkpoint's weights, so its frames run in the torch "
                            "engine", assets.name, self.runtime.name)
            own_engine = TorchEngine(generator, device=self.engine.device, share=True, **self._own_options)
            generator = own_engine.module  # the fp32 copy is dropped where the engine converted it
        adain = stored.adain.to(self.engine.device, torch.float32)
        source = "fine-tuned" if stored.steps > 0 else "enrolled"
        log.info("neural: prepared %r (%s, K=%d%s)", assets.name, source, stored.shots,
                 ", own generator" if generator is not None else "")
        return NeuralCharacter(assets.name, adain, generator, own_engine, source=source)

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
        # One engine pass per generator: the shared engine for most characters, each fully
        # fine-tuned character's own torch engine. (B, adain_size) -> (B, 4, S, S)
        adain = torch.stack([req.character.adain for req in batch]).float()
        frames = torch.empty((n, 4, s, s), device=eng.device)
        by_engine: dict[int, list[int]] = defaultdict(list)
        engines: dict[int, Engine] = {}
        for i, req in enumerate(batch):
            runner = req.character.engine or self.runtime
            by_engine[id(runner)].append(i)
            engines[id(runner)] = runner
        for key, idx in by_engine.items():
            frames[idx] = engines[key].run(lm_images[idx], adain[idx]).to(eng.device)
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

    def close(self) -> None:
        self.runtime.close()


def _shots(assets: CharacterAssets) -> tuple[list[np.ndarray], np.ndarray]:
    """The character's shot crops and their landmarks (the reference alone if no shots)."""
    if assets.shot_images and assets.shots is not None and len(assets.shot_images) == len(assets.shots):
        return list(assets.shot_images), np.asarray(assets.shots, np.float32)
    return [np.asarray(assets.image)], np.asarray(assets.neutral, np.float32)[None]
