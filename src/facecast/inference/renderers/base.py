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
- Landmarks are ``N x 3`` float32, x and y normalized to ``[0, 1]`` over the character's
  reference image (x right, y down), z in MediaPipe's convention (same scale as x,
  smaller is nearer the camera).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np


class RenderError(RuntimeError):
    """The renderer could not render a batch."""


@dataclass(frozen=True)
class CharacterAssets:
    """Everything a renderer may use of one character.

    image: S x S x 3 uint8 RGB square crop around the head.
    neutral: 478 x 3 float32 MediaPipe landmarks of ``image``, normalized to it.
    matte: optional S x S uint8 head matte (255 = head), from enrollment.
    """

    name: str
    image: np.ndarray
    neutral: np.ndarray
    matte: np.ndarray | None = None


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


_REGISTRY: dict[str, Callable[..., Renderer]] = {}


def register_renderer(name: str) -> Callable[[Callable[..., Renderer]], Callable[..., Renderer]]:
    """Class decorator: make a renderer constructible by name."""

    def deco(factory: Callable[..., Renderer]) -> Callable[..., Renderer]:
        _REGISTRY[name] = factory
        return factory

    return deco


def available_renderers() -> list[str]:
    return sorted(_REGISTRY)


def create_renderer(name: str, **kwargs: Any) -> Renderer:
    """Construct a registered renderer by name, or any ``Renderer`` subclass given as
    ``package.module:ClassName`` (your own renderer, or a test double); unknown names list
    the known ones."""
    # Import the built-in renderers so they register themselves.
    from facecast.inference.renderers import copy as _copy  # noqa: F401
    from facecast.inference.renderers import stamp as _stamp  # noqa: F401
    from facecast.inference.renderers import warp as _warp  # noqa: F401

    if ":" in name:
        return _import_renderer(name)(**kwargs)
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown renderer {name!r}; available: {', '.join(available_renderers())}"
        ) from None
    return factory(**kwargs)


def _import_renderer(spec: str) -> Callable[..., Renderer]:
    import importlib

    module_name, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot load renderer {spec!r}: {exc}") from None
    if not (isinstance(factory, type) and issubclass(factory, Renderer)):
        raise ValueError(f"renderer {spec!r} is not a facecast Renderer subclass")
    return factory
