"""What crosses between the daemon's front end and its render workers: plain data only.

A job names its character by (name, version) instead of carrying a renderer handle, and
says how its frame goes out (an output spec) instead of carrying the session's ring, so a
job can be rendered by a thread of this process, another local device, or a Ray actor on
another machine, and pickles to a few kilobytes (the landmarks dominate).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from facecast.protocol import RAW_PIXEL_FORMATS, ErrorCode, ProtocolError


@dataclass(frozen=True)
class CharacterRef:
    """A character as loaded by the front end: ``version`` changes when its files do, so a
    worker never renders with a stale prepared handle."""

    name: str
    version: str


@dataclass(frozen=True)
class OutputSpec:
    """How one frame leaves the daemon: ``mode`` "inline" (in the reply) or "shm" (the
    session's ring); ``to_sinks`` when a sink wants this character's frames too."""

    width: int
    height: int
    pixel_format: str
    jpeg_quality: int
    mode: str
    to_sinks: bool = False

    @property
    def encoded(self) -> bool:
        """The worker returns the frame encoded (inline jpeg/png: compressing is work
        for the worker, and fewer bytes come back)."""
        return self.mode == "inline" and self.pixel_format not in RAW_PIXEL_FORMATS

    @property
    def needs_rgba(self) -> bool:
        """The worker returns the raw RGBA frame: the I/O thread writes raw pixels once,
        straight into the reply or the ring, and sinks take RGBA."""
        return not self.encoded or self.to_sinks


@dataclass
class RenderJob:
    """One pose to render, as the scheduler queues it (latest-wins per ``key``)."""

    key: bytes  # the session's routing identity (the scheduler's key)
    session_id: str  # a frame rendered for an ended session never reaches its successor
    binding_id: int  # ... nor a frame rendered before a re-bind (its ring may be gone)
    seq: int
    character: CharacterRef
    landmarks: np.ndarray  # N x 3 float32, normalized to the character's image
    landmark_format: str
    output: OutputSpec
    t_send: float  # client clock (0 when the client did not say)
    t_receive: float  # daemon clock
    attempts: int = 0  # times re-routed after a worker was lost


@dataclass
class FrameOutcome:
    """A worker's answer for one job: the frame (encoded and/or raw) or an error."""

    data: bytes | None = None
    rgba: np.ndarray | None = None
    error_code: int | None = None  # an ErrorCode value
    error_message: str = ""
    render_start: float = 0.0
    render_end: float = 0.0
    superseded: bool = False  # lost with its worker while a newer pose waited: no frame, counted

    @classmethod
    def failed(cls, code: ErrorCode, message: str, start: float = 0.0, end: float = 0.0) -> FrameOutcome:
        return cls(error_code=int(code), error_message=message, render_start=start, render_end=end)

    def error(self) -> ProtocolError | None:
        if self.error_code is None:
            return None
        return ProtocolError(ErrorCode(self.error_code), self.error_message)


@dataclass
class BatchReport:
    """What a worker returns for a batch: one outcome per job, in order, and what it cost."""

    outcomes: list[FrameOutcome]
    seconds: float = 0.0  # the whole batch: preparing characters, rendering (retries included), encoding
    render_seconds: float = 0.0  # the renderer's part alone
    retries: int = 0  # sub-batches retried after the renderer failed on a batch
    prepared: list[str] = field(default_factory=list)  # characters prepared for this batch
    refused: int = 0  # poses the renderer refused on cost (render/cost_bounds.py)


@dataclass
class RenderResult:
    """A job with its outcome, back on the front end (the I/O thread sends it out)."""

    job: RenderJob
    outcome: FrameOutcome

    def timings(self) -> dict[str, float]:
        return {"client_send": self.job.t_send, "receive": self.job.t_receive,
                "render_start": self.outcome.render_start, "render_end": self.outcome.render_end}
