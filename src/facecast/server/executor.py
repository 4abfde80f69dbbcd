"""Render executors: where the scheduler's batches are rendered.

An executor runs *lanes*. Each lane takes a batch from the latest-wins scheduler when it
is free (so a lane never has more than one batch, and latest-wins holds end to end),
renders it somewhere, and delivers the results to the I/O thread. Jobs and results are
plain data (facecast.server.render_jobs); the renderer's prepared characters live with the
worker that renders them.

- ``LocalExecutor``: lanes are threads of this process, each with its own renderer —
  one lane is today's in-process render thread (``--executor inprocess``), one lane per
  local device is ``--executor devices``.
- ``RayExecutor`` (facecast.server.ray_executor): each lane drives one Ray actor, on any
  machine of a Ray cluster (``--executor ray``).
"""

from __future__ import annotations

import abc
import logging
import threading
import time
from typing import Any, Callable, Sequence

from facecast.protocol import ErrorCode
from facecast.render.base import Renderer
from facecast.server.render_jobs import BatchReport, CharacterRef, FrameOutcome, RenderJob, RenderResult
from facecast.server.render_worker import AssetSource, RenderWorker
from facecast.server.scheduler import LatestWinsScheduler
from facecast.server.stats import DaemonStats

log = logging.getLogger(__name__)

Deliver = Callable[[list[RenderResult]], None]


class ExecutorContext:
    """What every lane shares: the scheduler it takes batches from, where characters'
    assets come from, where results go, and the daemon's counters."""

    def __init__(self, scheduler: LatestWinsScheduler, assets: AssetSource, deliver: Deliver,
                 stats: DaemonStats) -> None:
        self.scheduler = scheduler
        self.assets = assets
        self.deliver = deliver
        self.stats = stats

    def account(self, jobs: Sequence[RenderJob], report: BatchReport) -> list[RenderResult]:
        """Count one rendered batch and pair its outcomes with its jobs."""
        if len(report.outcomes) != len(jobs):
            raise RuntimeError(f"worker answered {len(report.outcomes)} outcomes for {len(jobs)} jobs")
        self.stats.batch_rendered(len(jobs), report.seconds)
        failures = sum(1 for o in report.outcomes if o.error_code == ErrorCode.RENDER_FAILED)
        if failures:
            self.stats.count("render_failures", failures)
        if report.retries:
            self.stats.count("batch_retries", report.retries)
        if report.refused:
            self.stats.count("poses_refused", report.refused)
        if report.prepared:
            self.stats.count("characters_prepared", len(report.prepared))
        return [RenderResult(job, outcome) for job, outcome in zip(jobs, report.outcomes)]

    def fail(self, jobs: Sequence[RenderJob], message: str) -> None:
        """Answer ``jobs`` RENDER_FAILED (no worker could render them)."""
        if not jobs:
            return
        now = time.time()
        self.stats.count("render_failures", len(jobs))
        self.deliver([RenderResult(j, FrameOutcome.failed(ErrorCode.RENDER_FAILED, message, now, now))
                      for j in jobs])


class Lane(threading.Thread):
    """One render worker's loop: take a batch when free, render it, deliver the results."""

    def __init__(self, name: str, ctx: ExecutorContext) -> None:
        super().__init__(name=name, daemon=True)
        self.ctx = ctx
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()

    @property
    def stopping(self) -> bool:
        return self._stop_event.is_set()

    def run(self) -> None:
        while not self._stop_event.is_set():
            if not self.ready():
                continue
            batch = self.ctx.scheduler.next_batch(timeout_s=0.1)
            if batch:
                results = self.render_batch([job.item for job in batch])
                if results:
                    self.ctx.deliver(results)

    def ready(self) -> bool:
        """Whether this lane can take work now (a remote lane waits here for its worker)."""
        return True

    @abc.abstractmethod
    def render_batch(self, jobs: list[RenderJob]) -> list[RenderResult]:
        """Results for ``jobs`` (or fewer, when some were handed back to the scheduler)."""

    def describe(self) -> dict[str, Any]:
        return {"lane": self.name}


def stop_lanes(lanes: Sequence[Lane], ctx: ExecutorContext | None, timeout_s: float = 5.0) -> None:
    """Ask every lane to stop, wake those waiting on the scheduler, and join them (a lane
    stuck in a render is left to finish on its own: lanes are daemon threads)."""
    for lane in lanes:
        lane.stop()
    if ctx is not None:
        ctx.scheduler.close()
    for lane in lanes:
        if lane.is_alive():
            lane.join(timeout=timeout_s)


class RenderExecutor(abc.ABC):
    """Starts lanes on a scheduler; stops them. ``render_now`` is an optional fast path."""

    name: str = "abstract"

    @abc.abstractmethod
    def start(self, ctx: ExecutorContext) -> None:
        """Start the lanes; raise with a clear message when the workers cannot start."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop the lanes and release the workers (idempotent)."""

    @abc.abstractmethod
    def renderer_name(self) -> str:
        """The name of the renderer the workers run (the `welcome` capabilities say it)."""

    def render_now(self, job: RenderJob) -> RenderResult | None:
        """Render ``job`` on the calling (I/O) thread when that is cheaper than a hand-off,
        or return None and let the scheduler queue it."""
        return None

    def forget(self, ref: CharacterRef) -> None:
        """The front end unloaded ``ref``; workers may drop what they keep of it."""

    def describe(self) -> dict[str, Any]:
        return {"executor": self.name}


class LocalLane(Lane):
    def __init__(self, name: str, ctx: ExecutorContext, worker: RenderWorker) -> None:
        super().__init__(name, ctx)
        self.worker = worker
        self.lock = threading.Lock()  # the renderer is used by one thread at a time
        self.job_seconds = float("inf")  # running mean render time per pose; inf until measured

    def render_batch(self, jobs: list[RenderJob]) -> list[RenderResult]:
        with self.lock:
            report = self.worker.render(jobs, self.ctx.assets)
        self._measured(report, len(jobs))
        return self.ctx.account(jobs, report)

    def _measured(self, report: BatchReport, n: int) -> None:
        per_job = report.render_seconds / max(1, n)  # preparing a character is not what a render costs
        self.job_seconds = per_job if self.job_seconds == float("inf") else 0.8 * self.job_seconds + 0.2 * per_job

    def describe(self) -> dict[str, Any]:
        return {"lane": self.name, "renderer": self.worker.renderer.name,
                "characters_prepared": [r.name for r in self.worker.prepared()]}


class LocalExecutor(RenderExecutor):
    """Lanes as threads of this process, one renderer each (one per device).

    inline_render_ms: with a single lane, a pose is rendered right on the I/O thread —
    no hand-off to the render thread and back — when nothing else is queued, the lane is
    idle, its character is prepared, and renders have recently averaged below this many
    milliseconds (0 = never). Slower renders go to the lane, so the I/O thread is never
    held for long."""

    def __init__(self, renderers: Sequence[Renderer], capacity: int = 64, inline_render_ms: float = 0.0,
                 name: str = "inprocess") -> None:
        if not renderers:
            raise ValueError("a local executor needs at least one renderer")
        self.name = name
        self.renderers = list(renderers)
        self.capacity = capacity
        self.inline_s = max(0.0, inline_render_ms) / 1000.0
        self.lanes: list[LocalLane] = []
        self._ctx: ExecutorContext | None = None

    def start(self, ctx: ExecutorContext) -> None:
        self._ctx = ctx
        n = len(self.renderers)
        self.lanes = [LocalLane("facecast-render" if n == 1 else f"facecast-render-{i}", ctx,
                                RenderWorker(r, self.capacity)) for i, r in enumerate(self.renderers)]
        for lane in self.lanes:
            lane.start()
        log.info("executor %s: %d lane(s) (%s)", self.name, n, ", ".join(r.name for r in self.renderers))

    def stop(self) -> None:
        stop_lanes(self.lanes, self._ctx)
        for lane in self.lanes:
            if lane.lock.acquire(timeout=5.0):  # not while a hung render still holds it
                try:
                    lane.worker.close()
                finally:
                    lane.lock.release()
        self.lanes = []

    def renderer_name(self) -> str:
        return self.renderers[0].name

    def render_now(self, job: RenderJob) -> RenderResult | None:
        if self.inline_s <= 0 or len(self.lanes) != 1 or self._ctx is None:
            return None
        lane = self.lanes[0]
        if lane.job_seconds > self.inline_s or not lane.worker.has(job.character):
            return None
        if not lane.lock.acquire(blocking=False):
            return None  # the lane is rendering
        try:
            if not self._ctx.scheduler.claim(job.key):
                return None  # others are queued, or this session has a frame in flight
            report = lane.worker.render_one(job) or lane.worker.render([job], self._ctx.assets)
        finally:
            lane.lock.release()
        lane._measured(report, 1)
        self._ctx.stats.count("rendered_inline")
        return self._ctx.account([job], report)[0]

    def describe(self) -> dict[str, Any]:
        return {"executor": self.name, "lanes": [lane.describe() for lane in self.lanes]}
