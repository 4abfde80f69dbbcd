"""A render worker: plain-data jobs in, outcomes out. It owns a renderer and the prepared
characters (handles) of that renderer, so ``prepare`` (possibly slow: embeddings) runs
here, on the worker's own thread or process, never on the daemon's I/O thread.

The same class serves every executor: the in-process lane, one lane per local device, and
each Ray actor (facecast.server.ray_executor). It has no threads and no sockets.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import time
from typing import Any, Callable, Sequence

from facecast.characters.assets import CharacterAssets
from facecast.core.pixels import encode_pixels
from facecast.core.throttled_log import ThrottledLog
from facecast.protocol import ErrorCode
from facecast.config import AppConfig
from facecast.render.base import PoseRefused, Renderer, RenderRequest, create_renderer, renderer_config_keys
from facecast.server.render_jobs import BatchReport, CharacterRef, FrameOutcome, RenderJob

log = logging.getLogger(__name__)
_refusals = ThrottledLog(log)

AssetSource = Callable[[CharacterRef], CharacterAssets]


def make_renderer(config: AppConfig, device: str | None = None) -> Renderer:
    """The renderer ``[render] renderer`` names, given the ``[render]`` knobs it takes
    (``device`` replaces ``[render] device`` for renderers that take one)."""
    name = config.render.renderer
    render = config.render if device is None else dataclasses.replace(config.render, device=device)
    options = {key: getattr(render, key) for key in renderer_config_keys(name)}
    return create_renderer(name, **options)


class CharacterUnavailable(LookupError):
    """The worker could not get or prepare a job's character (its poses get RENDER_FAILED)."""


class RenderWorker:
    """Renders batches of jobs with one renderer; prepared characters are kept LRU-capped."""

    def __init__(self, renderer: Renderer, capacity: int = 64) -> None:
        self.renderer = renderer
        self.capacity = max(1, capacity)
        self._handles: collections.OrderedDict[CharacterRef, Any] = collections.OrderedDict()

    def prepared(self) -> list[CharacterRef]:
        return list(self._handles)

    def has(self, ref: CharacterRef) -> bool:
        return ref in self._handles

    def prepare(self, ref: CharacterRef, assets: AssetSource) -> Any:
        """The renderer's handle for ``ref``, preparing it (once) from ``assets(ref)``."""
        handle = self._handles.get(ref)
        if handle is not None:
            self._handles.move_to_end(ref)
            return handle
        try:
            source = assets(ref)
        except Exception as exc:  # noqa: BLE001 - named in the poses' error replies
            raise CharacterUnavailable(f"character {ref.name!r} unavailable: {exc}") from exc
        t0 = time.perf_counter()
        try:
            handle = self.renderer.prepare(source)
        except Exception as exc:  # noqa: BLE001
            raise CharacterUnavailable(f"cannot prepare character {ref.name!r}: {type(exc).__name__}: {exc}") from exc
        log.info("character %r prepared for %s in %.1f ms", ref.name, self.renderer.name,
                 (time.perf_counter() - t0) * 1000.0)
        for old in [r for r in self._handles if r.name == ref.name]:  # an older version of it
            del self._handles[old]
        self._handles[ref] = handle
        while len(self._handles) > self.capacity:
            self._handles.popitem(last=False)
        return handle

    def render(self, jobs: Sequence[RenderJob], assets: AssetSource) -> BatchReport:
        """One outcome per job, in order. A job whose character cannot be prepared, or whose
        pose the renderer fails on alone, gets RENDER_FAILED; the others get frames."""
        start = time.time()
        outcomes: list[FrameOutcome | None] = [None] * len(jobs)
        handles: dict[int, Any] = {}
        prepared: list[str] = []
        for i, job in enumerate(jobs):
            try:
                fresh = job.character not in self._handles
                handles[i] = self.prepare(job.character, assets)
                if fresh:
                    prepared.append(job.character.name)
            except CharacterUnavailable as exc:
                log.warning("seq %d: %s", job.seq, exc)
                outcomes[i] = FrameOutcome.failed(ErrorCode.RENDER_FAILED, str(exc))
        todo = [i for i in range(len(jobs)) if outcomes[i] is None]
        retries = [0]
        render_start = time.time()
        frames = self._bisecting([jobs[i] for i in todo], [handles[i] for i in todo], retries)
        render_end = time.time()
        for i, frame in zip(todo, frames):
            outcomes[i] = self._outcome(jobs[i], frame, render_start, render_end)
        for o in outcomes:
            if o is not None and not o.render_end:
                o.render_start, o.render_end = render_start, render_end
        return BatchReport(outcomes=[o for o in outcomes if o is not None], seconds=time.time() - start,
                           render_seconds=render_end - render_start, retries=retries[0], prepared=prepared,
                           refused=sum(1 for f in frames if isinstance(f, PoseRefused)))

    def render_one(self, job: RenderJob) -> BatchReport | None:
        """The lean path for one job whose character is prepared (the I/O thread's fast
        path): None when it is not prepared or the renderer fails (then use ``render``)."""
        handle = self._handles.get(job.character)
        if handle is None:
            return None
        start = time.time()
        try:
            frame = self.renderer.render([RenderRequest(character=handle, landmarks=job.landmarks,
                                                        landmark_format=job.landmark_format,
                                                        width=job.output.width, height=job.output.height)])[0]
        except Exception:  # noqa: BLE001 - ``render`` retries it and reports the failure
            return None
        end = time.time()
        return BatchReport(outcomes=[self._outcome(job, frame, start, end)], seconds=end - start,
                           render_seconds=end - start, refused=int(isinstance(frame, PoseRefused)))

    @staticmethod
    def _outcome(job: RenderJob, frame: Any, start: float, end: float) -> FrameOutcome:
        if isinstance(frame, FrameOutcome):
            frame.render_start, frame.render_end = start, end
            return frame
        if isinstance(frame, PoseRefused):
            _refusals.warning("seq %d: %s", job.seq, frame)
            return FrameOutcome.failed(ErrorCode.RENDER_FAILED, str(frame), start, end)
        out = FrameOutcome(render_start=start, render_end=end)
        spec = job.output
        frame.setflags(write=False)
        if spec.needs_rgba:
            out.rgba = frame
        if spec.encoded:
            try:
                out.data = encode_pixels(frame, spec.pixel_format, spec.jpeg_quality)
            except ValueError as exc:
                return FrameOutcome.failed(ErrorCode.RENDER_FAILED, str(exc), start, end)
        return out

    def _bisecting(self, jobs: list[RenderJob], handles: list[Any], retries: list[int]) -> list[Any]:
        """Frames for ``jobs``; when the renderer fails on a batch (a bad pose, GPU out of
        memory), the two halves are retried on their own, down to single poses, so only
        the poses that fail alone get RENDER_FAILED and the rest render."""
        if not jobs:
            return []
        try:
            return self._frames(jobs, handles)
        except Exception as exc:  # noqa: BLE001 - any renderer failure is contained here
            if len(jobs) == 1:
                log.warning("render failed for seq %d: %s", jobs[0].seq, exc)
                return [FrameOutcome.failed(ErrorCode.RENDER_FAILED, f"render failed: {type(exc).__name__}: {exc}")]
            log.warning("render of a batch of %d failed (%s: %s); retrying in halves",
                        len(jobs), type(exc).__name__, exc)
            retries[0] += 1
            half = len(jobs) // 2
            return (self._bisecting(jobs[:half], handles[:half], retries)
                    + self._bisecting(jobs[half:], handles[half:], retries))

    def _frames(self, jobs: list[RenderJob], handles: list[Any]) -> list[Any]:
        requests = [RenderRequest(character=h, landmarks=j.landmarks, landmark_format=j.landmark_format,
                                  width=j.output.width, height=j.output.height) for j, h in zip(jobs, handles)]
        frames = self.renderer.render(requests)
        if len(frames) != len(requests):
            raise RuntimeError(f"renderer returned {len(frames)} frames for {len(requests)} requests")
        return frames

    def close(self) -> None:
        self._handles.clear()
        self.renderer.close()
