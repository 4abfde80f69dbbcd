"""Daemon-wide frame sinks: where rendered frames go besides the client's own reply
(a virtual camera, the OBS overlay page, an MJPEG stream).

Contract (every sink):
- ``start()`` opens the device or server; failures raise ``SinkError`` with a message
  that says how to fix them (which device to install, which port is taken).
- ``publish(frame)`` is called by the daemon's I/O thread for every frame rendered, of
  every session (a sink filters by ``character`` itself if configured). It must return at
  once: keep only the newest frame (latest-wins) and do the slow work on the sink's own
  thread. The frame's pixels are read-only and shared: copy what you keep past the call.
- ``close()`` stops the thread, releases the device or port; idempotent.
- ``stats()`` returns a small dict of counters for the daemon's `stats` reply.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np


class SinkError(RuntimeError):
    """A sink cannot start or run; the message tells the user what to do."""


@dataclass(frozen=True)
class PublishedFrame:
    rgba: np.ndarray  # H x W x 4 uint8, read-only
    character: str
    session: str  # session id
    seq: int  # the pose's seq
    render_end: float  # seconds since the epoch


class Sink(abc.ABC):
    name: str = "abstract"

    @abc.abstractmethod
    def start(self) -> None: ...

    @abc.abstractmethod
    def publish(self, frame: PublishedFrame) -> None: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    def stats(self) -> dict[str, Any]:
        return {}


_SINKS: dict[str, Callable[..., Sink]] = {}


def register_sink(name: str) -> Callable[[Callable[..., Sink]], Callable[..., Sink]]:
    def deco(factory: Callable[..., Sink]) -> Callable[..., Sink]:
        _SINKS[name] = factory
        return factory

    return deco


def _load_builtin_sinks() -> None:
    import importlib

    for module in ("virtualcam", "overlay", "mjpeg"):
        try:
            importlib.import_module(f"facecast.sinks.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"facecast.sinks.{module}":
                raise


def available_sinks() -> list[str]:
    _load_builtin_sinks()
    return sorted(_SINKS)


def create_sink(name: str, config: Any) -> Sink:
    """Construct a registered sink from the app config (each sink reads its own section)."""
    _load_builtin_sinks()
    try:
        factory = _SINKS[name]
    except KeyError:
        raise SinkError(f"unknown sink {name!r}; available: {', '.join(sorted(_SINKS)) or 'none'}") from None
    return factory(config)
