"""Renderer contract shared by every renderer (warp, neural, copy).

A renderer turns driven landmarks into frames of a character. The daemon calls it from
one render thread with a *batch* of requests that may mix characters and output sizes.

Contract:
- ``prepare(assets)`` is called once per character (at load), may be slow, and returns an
  opaque handle that ``render`` receives back inside each request. It must not be called
  per frame.
- ``render(batch)`` returns one ``H x W x 4`` uint8 RGBA frame per request, in order,
  and keeps no reference to the returned arrays. It may raise (``ValueError`` for a bad
  request, ``RenderError`` when it cannot render at all); the daemon then retries the
  batch's requests one by one, so only the poses that fail alone get error replies.
  A renderer that renders requests independently may instead put a ``PoseRefused`` in
  place of one request's frame (a pose whose cost it will not pay, or that ran past its
  time budget: render/cost_bounds.py); that pose alone gets an error reply.
- Landmarks are ``N x 3`` float32, x and y normalized to ``[0, 1]`` over the character's
  reference image (x right, y down), z in MediaPipe's convention (same scale as x,
  smaller is nearer the camera).
"""

from __future__ import annotations

import abc
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from facecast.characters.assets import CharacterAssets
from facecast.core import topology as topo

MAX_SIZE = 4096  # largest output side a renderer accepts


class RenderError(RuntimeError):
    """The renderer could not render a batch."""


class PoseRefused(ValueError):
    """One request a renderer will not render: returned in place of its frame (see the
    module docstring), so the rest of the batch renders."""


@dataclass
class RenderRequest:
    """One frame to render: which character, driven by which landmarks, at what size."""

    character: Any  # the handle returned by Renderer.prepare
    landmarks: np.ndarray  # N x 3 float32, normalized to the character's image
    landmark_format: str  # "mediapipe478" | "ibug68"
    width: int
    height: int
    tag: Any = field(default=None)  # caller's bookkeeping, ignored by renderers


class Renderer(abc.ABC):
    """Turns batches of driven landmarks into RGBA frames (see module docstring)."""

    name: str = "abstract"

    @abc.abstractmethod
    def prepare(self, assets: CharacterAssets) -> Any:
        """Precompute per-character state once; return a handle for RenderRequest."""

    @abc.abstractmethod
    def render(self, batch: Sequence[RenderRequest]) -> list[np.ndarray]:
        """Render every request; returns H x W x 4 uint8 RGBA frames in request order."""

    def close(self) -> None:
        """Release resources (GPU memory, thread pools)."""


def check_request(req: RenderRequest, handle_type: type) -> None:
    """Raise ValueError describing what is wrong with one request (any renderer).

    handle_type: the class of the handles the renderer's ``prepare`` returns.
    """
    if not isinstance(req.character, handle_type):
        raise ValueError(
            f"character handle is {type(req.character).__name__}, not a {handle_type.__name__} from prepare"
        )
    if req.landmark_format not in topo.FORMATS:
        raise ValueError(f"unknown landmark_format {req.landmark_format!r}; known: {', '.join(topo.FORMATS)}")
    want = topo.point_count(req.landmark_format)
    lm = req.landmarks
    if not isinstance(lm, np.ndarray) or lm.ndim != 2 or lm.shape[1] not in (2, 3):
        raise ValueError(f"landmarks must be an N x 3 array, got {getattr(lm, 'shape', type(lm))}")
    if lm.shape[0] != want:
        raise ValueError(f"{req.landmark_format} needs {want} landmarks, got {lm.shape[0]}")
    if not np.all(np.isfinite(lm)):
        raise ValueError("landmarks contain NaN or infinite values")
    w, h = req.width, req.height
    if not (isinstance(w, (int, np.integer)) and isinstance(h, (int, np.integer))):
        raise ValueError(f"width and height must be integers, got {w!r} x {h!r}")
    if not (1 <= w <= MAX_SIZE and 1 <= h <= MAX_SIZE):
        raise ValueError(f"output size {w}x{h} outside 1..{MAX_SIZE}")


def local_devices() -> list[str]:
    """The devices of this machine a renderer can run on: ``cuda:0`` .. ``cuda:N-1`` when
    torch sees CUDA GPUs, else ``["cpu"]`` (torch is imported only here, on demand)."""
    try:
        import torch
    except ImportError:
        return ["cpu"]
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return [f"cuda:{i}" for i in range(count)] or ["cpu"]


_REGISTRY: dict[str, Callable[..., Renderer]] = {}
_CONFIG_KEYS: dict[str, tuple[str, ...]] = {}
# Built-in renderers imported only when asked for by name (they import torch, which a
# warp daemon need not load).
_LAZY_MODULES = {"neural": "facecast.render.neural"}


def register_renderer(
    name: str, config_keys: tuple[str, ...] = ()
) -> Callable[[Callable[..., Renderer]], Callable[..., Renderer]]:
    """Class decorator: make a renderer constructible by name.

    config_keys: ``[render]`` config knobs the daemon passes to the constructor as
    keyword arguments of the same names (e.g. the neural renderer's checkpoint).
    """

    def deco(factory: Callable[..., Renderer]) -> Callable[..., Renderer]:
        _REGISTRY[name] = factory
        _CONFIG_KEYS[name] = tuple(config_keys)
        return factory

    return deco


def renderer_config_keys(name: str) -> tuple[str, ...]:
    """The ``[render]`` knobs renderer ``name`` takes as constructor arguments."""
    _import_builtin(name)
    return _CONFIG_KEYS.get(name, ())


def available_renderers() -> list[str]:
    return sorted(set(_REGISTRY) | set(_LAZY_MODULES))


def create_renderer(name: str, **kwargs: Any) -> Renderer:
    """Construct a registered renderer by name, or any ``Renderer`` subclass given as
    ``package.module:ClassName`` (your own renderer, or a test double); unknown names list
    the known ones."""
    _import_builtin(name)
    if ":" in name:
        return _import_renderer(name)(**kwargs)
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown renderer {name!r}; available: {', '.join(available_renderers())}"
        ) from None
    return factory(**kwargs)


def _import_builtin(name: str) -> None:
    """Import the built-in renderers so they register themselves (``name``'s too, when it
    is one imported only on demand)."""
    from facecast.render import copy as _copy  # noqa: F401
    from facecast.render import stamp as _stamp  # noqa: F401
    from facecast.render import warp as _warp  # noqa: F401

    if name in _LAZY_MODULES and name not in _REGISTRY:
        importlib.import_module(_LAZY_MODULES[name])


def _import_renderer(spec: str) -> Callable[..., Renderer]:
    module_name, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot load renderer {spec!r}: {exc}") from None
    if not (isinstance(factory, type) and issubclass(factory, Renderer)):
        raise ValueError(f"renderer {spec!r} is not a facecast Renderer subclass")
    return factory
