"""The render thread: takes batches from the scheduler, renders, encodes pixels, and hands
results back to the I/O thread (which alone owns the ZeroMQ ROUTER socket)."""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from facecast.server.scheduler import Job, LatestWinsScheduler
from facecast.server.sessions import Binding
from facecast.server.stats import DaemonStats
from facecast.render.base import Renderer, RenderRequest
from facecast.protocol import ErrorCode, ProtocolError, Pose
from facecast.core.pixels import encode_pixels

log = logging.getLogger(__name__)


@dataclass
class PoseJob:
    identity: bytes
    session_id: str  # a frame rendered for an ended session never reaches its successor
    binding: Binding
    pose: Pose
    t_receive: float


@dataclass
class RenderResult:
    identity: bytes
    job: PoseJob
    data: bytes | None = None  # the frame in the session's pixel format
    rgba: np.ndarray | None = None  # the rendered frame, for sinks
    error: ProtocolError | None = None
    timings: dict[str, float] = field(default_factory=dict)


class RenderWorker(threading.Thread):
    def __init__(
        self,
        renderer: Renderer,
        scheduler: LatestWinsScheduler,
        stats: DaemonStats,
        results: "queue.SimpleQueue[RenderResult]",
        wake: Callable[[], None],
    ) -> None:
        super().__init__(name="facecast-render", daemon=True)
        self.renderer = renderer
        self.scheduler = scheduler
        self.stats = stats
        self.results = results
        self.wake = wake  # tells the I/O thread that results are waiting
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()
        self.scheduler.close()

    def run(self) -> None:
        while not self._stop_event.is_set():
            batch = self.scheduler.next_batch(timeout_s=0.1)
            if batch:
                for result in self._render(batch):
                    self.results.put(result)
                self.wake()

    def _render(self, batch: list[Job]) -> list[RenderResult]:
        jobs: list[PoseJob] = [j.item for j in batch]
        start = time.time()
        frames = self._render_bisecting(jobs)
        end = time.time()
        self.stats.batch_rendered(len(jobs), end - start)
        results = []
        for job, frame in zip(jobs, frames):
            result = RenderResult(identity=job.identity, job=job)
            result.timings = {
                "client_send": job.pose.t_send,
                "receive": job.t_receive,
                "render_start": start,
                "render_end": end,
            }
            if isinstance(frame, ProtocolError):
                result.error = frame
            else:
                b = job.binding
                frame.setflags(write=False)
                result.rgba = frame
                if b.output != "inline":
                    pass  # the I/O thread writes it into the session's ring
                else:
                    try:
                        result.data = encode_pixels(frame, b.pixel_format, b.jpeg_quality)
                    except ValueError as exc:
                        result.error = ProtocolError(ErrorCode.RENDER_FAILED, str(exc))
            results.append(result)
        return results

    def _render_bisecting(self, jobs: list[PoseJob]) -> list:
        """Frames for ``jobs``; when the renderer fails on a batch (a bad pose, GPU out of
        memory), the two halves are retried on their own, down to single poses, so only
        the poses that fail alone get RENDER_FAILED and the daemon carries on."""
        try:
            return self._frames(jobs)
        except Exception as exc:  # noqa: BLE001 - any renderer failure is contained here
            if len(jobs) == 1:
                log.warning("render failed for seq %d: %s", jobs[0].pose.seq, exc)
                self.stats.count("render_failures")
                return [ProtocolError(ErrorCode.RENDER_FAILED, f"render failed: {type(exc).__name__}: {exc}")]
            log.warning("render of a batch of %d failed (%s: %s); retrying in halves",
                        len(jobs), type(exc).__name__, exc)
            self.stats.count("batch_retries")
            half = len(jobs) // 2
            return self._render_bisecting(jobs[:half]) + self._render_bisecting(jobs[half:])

    def _frames(self, jobs: list[PoseJob]) -> list:
        requests = [
            RenderRequest(
                character=j.binding.handle,
                landmarks=j.pose.landmarks,
                landmark_format=j.pose.landmark_format,
                width=j.binding.width,
                height=j.binding.height,
            )
            for j in jobs
        ]
        frames = self.renderer.render(requests)
        if len(frames) != len(requests):
            raise RuntimeError(f"renderer returned {len(frames)} frames for {len(requests)} requests")
        return frames
