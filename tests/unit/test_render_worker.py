"""The render worker and executor contract: plain-data jobs in, outcomes out; characters
prepared by the worker (once per version), failures contained per pose; the I/O thread's
fast path; and the reply encoding that writes raw pixels once."""

from __future__ import annotations

import pickle
import time
from typing import Any, Sequence

import numpy as np
import pytest

from facecast.characters.assets import CharacterAssets
from facecast.core.pixels import encode_pixels, write_raw_pixels
from facecast.protocol import TIMING_KEYS, ErrorCode, Frame, decode, encode, encode_with_blob
from facecast.render.base import PoseRefused, RenderRequest
from facecast.render.copy import CopyRenderer
from facecast.server.executor import ExecutorContext, LocalExecutor
from facecast.server.render_jobs import CharacterRef, OutputSpec, RenderJob, RenderResult
from facecast.server.render_worker import RenderWorker
from facecast.server.scheduler import LatestWinsScheduler
from facecast.server.stats import DaemonStats

POISON = 42.0


def _assets(name: str, shade: int) -> CharacterAssets:
    image = np.full((64, 64, 3), shade, np.uint8)
    return CharacterAssets(name=name, image=image, neutral=np.zeros((478, 3), np.float32))


class CountingRenderer(CopyRenderer):
    """The copy renderer, counting prepares; a pose whose first z is POISON raises."""

    name = "counting"

    def __init__(self, delay_s: float = 0.0) -> None:
        self.prepares: list[str] = []
        self.delay_s = delay_s

    def prepare(self, assets: CharacterAssets) -> Any:
        self.prepares.append(assets.name)
        return super().prepare(assets)

    def render(self, batch: Sequence[RenderRequest]) -> list[np.ndarray]:
        if any(float(r.landmarks[0, 2]) == POISON for r in batch):
            raise ValueError("poisoned pose")
        time.sleep(self.delay_s)
        return super().render(batch)


def _job(ref: CharacterRef, seq: int, key: bytes = b"k", mode: str = "inline", fmt: str = "rgba8",
         poison: bool = False) -> RenderJob:
    lm = np.zeros((478, 3), np.float32)
    if poison:
        lm[0, 2] = POISON
    return RenderJob(key=key, session_id="s", binding_id=1, seq=seq, character=ref, landmarks=lm,
                     landmark_format="mediapipe478", output=OutputSpec(32, 24, fmt, 90, mode), t_send=0.0,
                     t_receive=time.time())


class Source:
    def __init__(self) -> None:
        self.table = {"a": _assets("a", 10), "b": _assets("b", 200)}

    def __call__(self, ref: CharacterRef) -> CharacterAssets:
        return self.table[ref.name]


def test_jobs_and_reports_are_plain_data():
    worker = RenderWorker(CountingRenderer())
    job = _job(CharacterRef("a", "v1"), 1)
    report = worker.render([job], Source())
    again = pickle.loads(pickle.dumps((job, report)))  # what a Ray actor receives and returns
    assert again[0].character == job.character and np.array_equal(again[0].landmarks, job.landmarks)
    assert np.array_equal(again[1].outcomes[0].rgba, report.outcomes[0].rgba)
    assert len(pickle.dumps(job)) < 8_000  # landmarks, not images or handles


def test_each_character_prepared_once_per_version_and_capped():
    renderer = CountingRenderer()
    worker = RenderWorker(renderer, capacity=1)
    a1, a2, b1 = CharacterRef("a", "v1"), CharacterRef("a", "v2"), CharacterRef("b", "v1")
    src = Source()
    report = worker.render([_job(a1, 1, b"x"), _job(a1, 2, b"y")], src)
    assert report.prepared == ["a"] and renderer.prepares == ["a"]
    worker.render([_job(a1, 3)], src)
    assert renderer.prepares == ["a"]  # kept
    worker.render([_job(a2, 4)], src)
    assert renderer.prepares == ["a", "a"] and worker.prepared() == [a2]  # a new version replaces the old
    worker.render([_job(b1, 5)], src)
    assert worker.prepared() == [b1]  # capacity 1: least recently used dropped
    assert report.outcomes[0].rgba[0, 0, 0] == 10


def test_failures_stay_with_their_poses():
    worker = RenderWorker(CountingRenderer())
    good, gone = CharacterRef("a", "v1"), CharacterRef("zz", "v1")
    jobs = [_job(good, 1, b"1"), _job(gone, 2, b"2"), _job(good, 3, b"3", poison=True), _job(good, 4, b"4")]
    report = worker.render(jobs, Source())
    codes = [o.error_code for o in report.outcomes]
    assert codes == [None, ErrorCode.RENDER_FAILED, ErrorCode.RENDER_FAILED, None]
    assert "zz" in report.outcomes[1].error_message and "poisoned" in report.outcomes[2].error_message
    assert report.retries >= 1  # the batch failed as a whole first, then in halves
    assert all(o.render_end >= o.render_start > 0 for o in report.outcomes)


class RefusingRenderer(CountingRenderer):
    """Puts a PoseRefused in place of poisoned poses' frames, as a cost-bounded renderer does."""

    def render(self, batch: Sequence[RenderRequest]) -> list[Any]:
        return [PoseRefused("pose refused: too costly") if float(r.landmarks[0, 2]) == POISON
                else super(RefusingRenderer, self).render([r])[0] for r in batch]


def test_a_pose_refused_in_place_fails_alone_without_retries():
    worker = RenderWorker(RefusingRenderer())
    ref = CharacterRef("a", "v1")
    report = worker.render([_job(ref, 1, b"x"), _job(ref, 2, b"y", poison=True), _job(ref, 3, b"z")], Source())
    codes = [o.error_code for o in report.outcomes]
    assert codes == [None, ErrorCode.RENDER_FAILED, None]
    assert "too costly" in report.outcomes[1].error_message
    assert report.refused == 1 and report.retries == 0
    stats = DaemonStats()
    ExecutorContext(LatestWinsScheduler(8, 2.0), Source(), lambda r: None, stats).account(
        [_job(ref, 1), _job(ref, 2), _job(ref, 3)], report)
    assert stats.counters["poses_refused"] == 1 and stats.counters["render_failures"] == 1


@pytest.mark.parametrize("mode,fmt,encoded,rgba", [("inline", "rgba8", False, True), ("inline", "jpeg", True, False),
                                                   ("shm", "bgra8", False, True), ("inline", "png", True, False)])
def test_what_the_worker_returns_follows_the_output(mode, fmt, encoded, rgba):
    out = RenderWorker(CountingRenderer()).render([_job(CharacterRef("a", "v"), 1, mode=mode, fmt=fmt)],
                                                  Source()).outcomes[0]
    assert (out.data is not None) == encoded and (out.rgba is not None) == rgba
    sinks = OutputSpec(8, 8, fmt, 90, mode, to_sinks=True)
    assert sinks.needs_rgba  # a sink always gets RGBA


@pytest.mark.parametrize("fmt", ["rgba8", "rgb8", "bgra8"])
def test_reply_with_pixels_written_in_place_decodes_like_encode(fmt):
    rgba = np.random.default_rng(0).integers(0, 256, (24, 32, 4), dtype=np.uint8)
    data = encode_pixels(rgba, fmt)
    frame = Frame(seq=7, character="a", width=32, height=24, pixel_format=fmt, data=b"",
                  timings={k: float(i) for i, k in enumerate(TIMING_KEYS)}, superseded=2, slot=None)
    payload, hole = encode_with_blob(frame, "data", len(data))
    write_raw_pixels(rgba, fmt, hole)
    frame.data = data
    assert decode(bytes(payload)) == decode(encode(frame))


def _local(renderer: CountingRenderer, inline_ms: float) -> tuple[LocalExecutor, LatestWinsScheduler,
                                                                    list[RenderResult]]:
    delivered: list[RenderResult] = []
    scheduler = LatestWinsScheduler(max_batch=4, max_wait_ms=0)
    executor = LocalExecutor([renderer], inline_render_ms=inline_ms)
    executor.start(ExecutorContext(scheduler, Source(), delivered.extend, DaemonStats()))
    return executor, scheduler, delivered


def _through_lane(scheduler: LatestWinsScheduler, delivered: list[RenderResult], job: RenderJob) -> None:
    scheduler.submit(job.key, job)
    deadline = time.monotonic() + 10
    while not delivered and time.monotonic() < deadline:
        time.sleep(0.01)
    scheduler.done(job.key)
    assert delivered.pop().outcome.error_code is None


def test_fast_path_renders_on_the_caller_only_when_cheap_idle_and_prepared():
    ref = CharacterRef("a", "v1")
    executor, scheduler, delivered = _local(CountingRenderer(), inline_ms=50.0)
    try:
        assert executor.render_now(_job(ref, 1)) is None  # not prepared yet: the lane prepares it
        _through_lane(scheduler, delivered, _job(ref, 1))
        result = executor.render_now(_job(ref, 2))
        assert result is not None and result.outcome.rgba is not None  # cheap, idle, prepared
        assert executor.render_now(_job(ref, 3)) is None  # 2 is still in flight (done() not called)
        scheduler.done(b"k")
        scheduler.submit(b"other", _job(ref, 9, b"other"))
        assert executor.render_now(_job(ref, 4)) is None  # someone is queued: no overtaking
    finally:
        executor.stop()


def test_fast_path_off_for_slow_renders():
    ref = CharacterRef("a", "v1")
    executor, scheduler, delivered = _local(CountingRenderer(delay_s=0.02), inline_ms=5.0)
    try:
        _through_lane(scheduler, delivered, _job(ref, 1))  # prepares
        _through_lane(scheduler, delivered, _job(ref, 2))  # measures ~20 ms a frame
        assert executor.render_now(_job(ref, 3)) is None
    finally:
        executor.stop()


def test_a_lost_workers_poses_are_rerouted_superseded_or_failed():
    """RayLane's loss handling (no cluster needed): a pose lost for the first time goes back
    first in line; one whose session has a newer pose waiting is reported superseded; one
    lost a second time gets RENDER_FAILED."""
    from ray.exceptions import ActorDiedError

    from facecast.config import AppConfig
    from facecast.server.ray_executor import RayExecutor, RayLane

    ref = CharacterRef("a", "v1")
    delivered: list[RenderResult] = []
    scheduler = LatestWinsScheduler(max_batch=8, max_wait_ms=0)
    ctx = ExecutorContext(scheduler, Source(), delivered.extend, DaemonStats())
    lane = RayLane("lane-test", ctx, RayExecutor(AppConfig()), actor=None, info={})
    first, newer_waits, second_loss = _job(ref, 1, b"x"), _job(ref, 2, b"y"), _job(ref, 3, b"z")
    second_loss.attempts = 1
    for job in (first, newer_waits, second_loss):
        scheduler.submit(job.key, job)
    assert len(scheduler.next_batch(1)) == 3  # all three in flight on the lost worker
    scheduler.submit(b"y", _job(ref, 4, b"y"))  # y sends a newer pose meanwhile
    lane._lost([first, newer_waits, second_loss], ActorDiedError())
    assert not lane.healthy and ctx.stats.counters["workers_lost"] == 1
    by_seq = {r.job.seq: r.outcome for r in delivered}
    assert by_seq[2].superseded and by_seq[3].error_code == ErrorCode.RENDER_FAILED and 1 not in by_seq
    again = [j.item.seq for j in scheduler.next_batch(1)]
    assert again[0] == 1 and sorted(again) == [1, 4]  # the rerouted pose first, then y's newer one
