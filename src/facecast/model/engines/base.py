"""The engine contract: the generator's per-frame work behind one small class.

An ``Engine`` runs the talking-head generator — the only per-frame network — on one
device in one precision. Every engine (``torch``, ``onnx``) keeps this contract:

- Load: constructing an engine loads its model and prepares the device (weights moved,
  precision set, graphs captured, sessions created). Construction either gives a working
  engine or raises ``EngineUnavailable`` whose message lists every reason it collected
  (each provider or precision it tried and why it was refused). Where an engine falls
  back (an ONNX provider, a CPU precision) it logs which path runs and why.
- ``run(landmark_images, adain)``: landmark images ``(B, 3, S, S)`` float32 in [0, 1]
  and per-row AdaIN parameters ``(B, A)`` float32 (torch tensors on any device, or numpy
  arrays) -> frames ``(B, 4, S, S)`` float32 torch tensor on ``device``: RGB in [-1, 1],
  alpha in [0, 1]. Rows are independent (row i of the output depends only on row i of
  the inputs), so a batch may mix characters. Inputs of the wrong rank, side, AdaIN size,
  dtype, or mismatched batch sizes raise ``ValueError`` naming what is wrong. The
  returned tensor is the caller's (never a buffer the engine overwrites later).
- ``close()`` releases the device memory and sessions; an engine is a context manager
  that closes on exit; ``run`` after ``close`` raises ``RuntimeError``.
- Descriptive attributes: ``name`` (registry name), ``device`` (torch.device where the
  outputs live), ``precision`` (``fp32`` | ``fp16`` | ``bf16``: what the convolutions run
  in), ``provider`` (one line saying what actually runs, e.g. ``torch eager fp32 on cpu``
  or ``CUDAExecutionProvider``), ``image_size`` S and ``adain_size`` A.

Engines register by name (``register_engine``) and are built with ``create_engine``
from a generator and the sha256 of its checkpoint (the ONNX engine checks its export's
manifest against both).
"""

from __future__ import annotations

import abc
import importlib
import logging
from typing import Any, Callable, Sequence

import numpy as np
import torch

from facecast.model.networks.generator import Generator

__all__ = ["Engine", "EngineUnavailable", "register_engine", "create_engine", "available_engines",
           "check_batch", "PRECISIONS"]

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "fp16", "bf16")

ArrayLike = torch.Tensor | np.ndarray


class EngineUnavailable(ValueError):
    """No way to run the engine here; the message lists every reason collected (a ValueError,
    so the CLI shows it as one line)."""

    def __init__(self, what: str, reasons: Sequence[str]) -> None:
        self.reasons = list(reasons)
        super().__init__(f"{what}: " + "; ".join(self.reasons) if self.reasons else what)


def check_batch(landmark_images: ArrayLike, adain: ArrayLike, image_size: int, adain_size: int) -> int:
    """Batch size B of a valid (landmark_images, adain) pair; ValueError naming the fault."""
    for label, x in (("landmark_images", landmark_images), ("adain", adain)):
        if not isinstance(x, (torch.Tensor, np.ndarray)):
            raise ValueError(f"{label} must be a torch tensor or numpy array, got {type(x).__name__}")
        if x.dtype not in (torch.float32, np.float32):
            raise ValueError(f"{label} must be float32, got {x.dtype}")
    s = image_size
    if landmark_images.ndim != 4 or tuple(landmark_images.shape[1:]) != (3, s, s):
        raise ValueError(f"landmark_images must be (B, 3, {s}, {s}), got {tuple(landmark_images.shape)}")
    if adain.ndim != 2 or adain.shape[1] != adain_size:
        raise ValueError(f"adain must be (B, {adain_size}), got {tuple(adain.shape)}")
    b = int(landmark_images.shape[0])
    if b < 1 or adain.shape[0] != b:
        raise ValueError(f"landmark_images and adain need the same batch size >= 1, got {b} and {adain.shape[0]}")
    return b


class Engine(abc.ABC):
    """Runs the generator on batches (see the module docstring for the contract)."""

    name: str = "abstract"

    def __init__(self, image_size: int, adain_size: int, device: torch.device, precision: str,
                 provider: str) -> None:
        self.image_size = int(image_size)
        self.adain_size = int(adain_size)
        self.device = device
        self.precision = precision
        self.provider = provider
        self._closed = False

    def run(self, landmark_images: ArrayLike, adain: ArrayLike) -> torch.Tensor:
        """(B, 3, S, S) float32, (B, A) float32 -> (B, 4, S, S) float32 on ``self.device``."""
        if self._closed:
            raise RuntimeError(f"{self.name} engine is closed")
        check_batch(landmark_images, adain, self.image_size, self.adain_size)
        return self._run(landmark_images, adain)

    @abc.abstractmethod
    def _run(self, landmark_images: ArrayLike, adain: ArrayLike) -> torch.Tensor:
        """``run`` after validation."""

    def close(self) -> None:
        """Release device memory and sessions (idempotent)."""
        self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> str:
        return f"{self.name} engine: {self.provider} ({self.precision}, outputs on {self.device})"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"


# name -> factory(generator, checkpoint_sha256, **options) -> Engine; options: the names it takes
EngineFactory = Callable[..., Engine]
_REGISTRY: dict[str, tuple[EngineFactory, tuple[str, ...]]] = {}
_BUILTIN = {"torch": "facecast.model.engines.torch_engine", "onnx": "facecast.model.engines.onnx_engine"}


def register_engine(name: str, options: tuple[str, ...]) -> Callable[[EngineFactory], EngineFactory]:
    """Decorator for ``factory(generator, checkpoint_sha256, **options) -> Engine``.

    options: the keyword options this engine takes; ``create_engine`` passes it only
    those (the daemon hands every engine knob of ``[render]`` to whichever engine runs).
    """

    def deco(factory: EngineFactory) -> EngineFactory:
        _REGISTRY[name] = (factory, tuple(options))
        return factory

    return deco


def available_engines() -> list[str]:
    _import_builtin()
    return sorted(_REGISTRY)


def _import_builtin() -> None:
    """Import the built-in engines so that they register (onnxruntime itself is imported
    only when an onnx engine is built)."""
    for module in _BUILTIN.values():
        importlib.import_module(module)


def create_engine(names: str | Sequence[str], generator: Generator, checkpoint_sha256: str = "",
                  **options: Any) -> Engine:
    """Build the first engine of ``names`` (one name, or a preference list tried in order)
    that loads; EngineUnavailable listing every engine's reason when none does.

    Options an engine does not take are ignored for it (the daemon passes every engine knob
    of ``[render]``); options no registered engine takes raise ValueError, so a typo does
    not pass silently.
    """
    _import_builtin()
    order = [names] if isinstance(names, str) else list(names)
    if not order:
        raise ValueError("create_engine: no engine named")
    for name in order:
        if name not in _REGISTRY:
            raise ValueError(f"unknown engine {name!r}; available: {', '.join(available_engines())}")
    known = {opt for _, takes in _REGISTRY.values() for opt in takes}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"unknown engine option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    reasons: list[str] = []
    for i, name in enumerate(order):
        factory, takes = _REGISTRY[name]
        try:
            engine = factory(generator, checkpoint_sha256, **{k: v for k, v in options.items() if k in takes})
        except EngineUnavailable as exc:
            if len(order) == 1:
                raise
            reasons.append(f"{name}: {exc}")
            if i + 1 < len(order):
                log.warning("engine %s unavailable (%s); trying %s", name, exc, order[i + 1])
            continue
        log.info("%s", engine.describe())
        return engine
    raise EngineUnavailable("no engine could run", reasons)
