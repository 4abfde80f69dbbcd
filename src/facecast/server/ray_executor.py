"""Render on a Ray cluster (``facecast serve --executor ray``; docs/scale.md).

Each render worker is a Ray actor (``RenderActor``: a RenderWorker with its own renderer
and prepared characters) placed by Ray on any node of the cluster, spread across nodes.
The daemon stays the one ZeroMQ endpoint: one lane thread per actor takes a batch from
the latest-wins scheduler when its actor is free, so no actor ever has more than one
batch and latest-wins holds end to end. A character's assets are put in Ray's object
store once per version and fetched by an actor the first time it renders that character
(so no shared store path is needed).

Losing a worker (its node dies, its process is killed, or a batch does not come back
within ``ray_batch_timeout_s``): the batch's poses go back to the scheduler once and are
rendered by another actor, unless the session has sent a newer pose meanwhile (that one
wins); a pose lost twice gets RENDER_FAILED. Ray restarts the actor (``max_restarts``)
and its lane resumes when it answers again. While no actor answers at all, queued poses
get RENDER_FAILED at once, so a client is never left waiting.
"""

from __future__ import annotations

import collections
import logging
import os
import socket
import threading
import time
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayError, RayTaskError

from facecast.characters.assets import CharacterAssets
from facecast.config import AppConfig
from facecast.server.errors import ExecutorError
from facecast.server.executor import ExecutorContext, Lane, RenderExecutor, stop_lanes
from facecast.server.render_jobs import BatchReport, CharacterRef, FrameOutcome, RenderJob, RenderResult
from facecast.server.render_worker import RenderWorker, make_renderer

log = logging.getLogger(__name__)

_PROBE_INTERVAL_S = 1.0


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail at once, with one line, when ``address`` (HOST:PORT or ray://HOST:PORT) does not
    accept connections: ``ray.init`` would otherwise retry the cluster without end."""
    if address == "auto":
        return
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ExecutorError(f"--ray-address {address!r}: expected HOST:PORT, ray://HOST:PORT or auto")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise ExecutorError(f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}); start it "
                            "(`ray start --head` on the head node) or fix --ray-address") from None


class RenderActor:
    """A render worker inside a Ray actor process (made remote by RayExecutor)."""

    def __init__(self, config: AppConfig, capacity: int) -> None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.worker = RenderWorker(make_renderer(config), capacity)

    def ready(self) -> dict[str, Any]:
        """Who this worker is (the daemon logs it, and `stats` shows it)."""
        ctx = ray.get_runtime_context()
        return {"renderer": self.worker.renderer.name, "node": ctx.get_node_id(), "pid": os.getpid(),
                "gpus": [str(g) for g in ray.get_gpu_ids()]}

    def render(self, jobs: list[RenderJob], shipped: dict[CharacterRef, Any]) -> BatchReport:
        """Render ``jobs``; ``shipped`` maps characters to object refs of their assets,
        fetched only for characters this actor has not prepared yet."""

        def assets(ref: CharacterRef) -> CharacterAssets:
            obj = shipped.get(ref)
            if obj is None:
                raise LookupError("its assets were not shipped with the batch")
            return ray.get(obj)

        return self.worker.render(jobs, assets)


class RayLane(Lane):
    """Drives one actor: a batch at a time; on loss, re-route and wait for the restart."""

    def __init__(self, name: str, ctx: ExecutorContext, executor: RayExecutor, actor: Any,
                 info: dict[str, Any]) -> None:
        super().__init__(name, ctx)
        self.executor = executor
        self.actor = actor
        self.info = info
        self.healthy = True
        self.batches = 0
        self.losses = 0
        self._next_probe = 0.0

    def ready(self) -> bool:
        if self.healthy:
            return True
        self.executor.fail_queued_if_no_lane()
        now = time.monotonic()
        if now < self._next_probe:
            self._stop_event.wait(min(0.1, self._next_probe - now))
            return False
        self._next_probe = now + _PROBE_INTERVAL_S
        try:
            self.info = ray.get(self.actor.ready.remote(), timeout=_PROBE_INTERVAL_S)
        except RayError:  # still dead, restarting or unplaceable: probe again later
            return False
        self.healthy = True
        log.info("%s: render actor is back (node %s, pid %s)", self.name, self.info.get("node", "?")[:12],
                 self.info.get("pid"))
        return True

    def render_batch(self, jobs: list[RenderJob]) -> list[RenderResult]:
        try:
            shipped = self.executor.ship({j.character for j in jobs}, self.ctx.assets)
        except Exception as exc:  # noqa: BLE001 - e.g. the character changed in the store
            self.ctx.fail(jobs, f"cannot send the character to the render workers: {exc}")
            return []
        timeout = self.executor.config.executor.ray_batch_timeout_s
        call = self.actor.render.remote(jobs, shipped)
        try:
            report: BatchReport = ray.get(call, timeout=timeout)
        except RayTaskError as exc:  # a bug in the worker, not a lost one: these poses fail
            log.error("%s: render actor raised: %s", self.name, exc)
            self.ctx.fail(jobs, f"render worker error: {type(exc.cause).__name__}: {exc.cause}")
            return []
        except RayError as exc:  # the actor died or is restarting, timed out, or its result was lost
            self._lost(jobs, exc)
            return []
        self.batches += 1
        return self.ctx.account(jobs, report)

    def _lost(self, jobs: list[RenderJob], exc: BaseException) -> None:
        self.healthy = False
        self.losses += 1
        self._next_probe = time.monotonic() + _PROBE_INTERVAL_S
        self.ctx.stats.count("workers_lost")
        log.warning("%s: render worker lost (%s); re-routing %d pose(s)", self.name, type(exc).__name__, len(jobs))
        if isinstance(exc, GetTimeoutError):
            ray.kill(self.actor, no_restart=False)  # hung: restart it rather than wait on it
        failed, superseded = [], []
        for job in jobs:
            if job.attempts >= 1:
                failed.append(job)
                continue
            job.attempts += 1
            if self.ctx.scheduler.retry(job.key, job):
                self.ctx.stats.count("poses_rerouted")
            else:  # a newer pose of the session waits: this one counts as superseded
                self.ctx.stats.count("superseded_while_rerouting")
                superseded.append(RenderResult(job, FrameOutcome(superseded=True)))
        if superseded:
            self.ctx.deliver(superseded)
        self.ctx.fail(failed, "render worker lost twice while rendering this pose")

    def describe(self) -> dict[str, Any]:
        return {"lane": self.name, "healthy": self.healthy, "batches": self.batches, "losses": self.losses,
                **{k: self.info.get(k) for k in ("node", "pid", "gpus")}}


class RayExecutor(RenderExecutor):
    """Render actors on a Ray cluster, one lane each."""

    name = "ray"

    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self.lanes: list[RayLane] = []
        self._ctx: ExecutorContext | None = None
        self._renderer = config.render.renderer
        self._lock = threading.Lock()
        self._shipped: collections.OrderedDict[CharacterRef, Any] = collections.OrderedDict()
        self._started_ray = False

    def renderer_name(self) -> str:
        return self._renderer

    def start(self, ctx: ExecutorContext) -> None:
        ex = self.config.executor
        if ex.ray_address:
            _check_reachable(ex.ray_address)
        if not ray.is_initialized():
            ray.init(address=ex.ray_address or None, namespace="facecast", include_dashboard=False,
                     logging_level=logging.WARNING)
            self._started_ray = not ex.ray_address
        resources = ray.cluster_resources()
        cluster_gpus = float(resources.get("GPU", 0.0))
        gpus = ex.ray_gpus_per_worker if ex.ray_gpus_per_worker >= 0 else (1.0 if cluster_gpus else 0.0)
        count = ex.ray_workers
        if count <= 0:
            nodes = [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) > 0]
            count = int(cluster_gpus // gpus) if gpus > 0 else len(nodes)
        count = max(1, count)
        log.info("Ray cluster: %s; starting %d render actor(s) (%g CPU, %g GPU each)",
                 {k: v for k, v in resources.items() if k in ("CPU", "GPU", "memory")}, count,
                 ex.ray_cpus_per_worker, gpus)
        actor_class = ray.remote(RenderActor)
        actors = [actor_class.options(num_cpus=ex.ray_cpus_per_worker, num_gpus=gpus, max_restarts=-1,
                                      max_task_retries=0, scheduling_strategy="SPREAD")
                  .remote(self.config, self.config.server.max_characters) for _ in range(count)]
        try:
            infos = ray.get([a.ready.remote() for a in actors], timeout=ex.ray_start_timeout_s)
        except GetTimeoutError:
            self._abort(actors)
            raise ExecutorError(
                f"{count} render actor(s) did not start within {ex.ray_start_timeout_s:g} s: the cluster "
                f"({resources}) may lack {ex.ray_cpus_per_worker:g} CPU / {gpus:g} GPU per actor; "
                "set --ray-workers or executor.ray_cpus_per_worker / ray_gpus_per_worker") from None
        except RayActorError as exc:
            self._abort(actors)
            raise ExecutorError(f"a render actor failed to start: {exc}") from None
        self._renderer = str(infos[0].get("renderer", self._renderer))
        self._ctx = ctx
        self.lanes = [RayLane(f"facecast-ray-{i}", ctx, self, actor, info)
                      for i, (actor, info) in enumerate(zip(actors, infos))]
        for lane in self.lanes:
            lane.start()
        nodes = {info["node"] for info in infos}
        log.info("executor ray: %d actor(s) on %d node(s)", len(actors), len(nodes))

    def _abort(self, actors: list[Any]) -> None:
        for actor in actors:
            ray.kill(actor)
        if self._started_ray:
            ray.shutdown()

    def ship(self, refs: set[CharacterRef], assets: Any) -> dict[CharacterRef, Any]:
        """Object refs of ``refs``' assets, put in Ray's object store once per version."""
        with self._lock:
            out = {}
            for ref in refs:
                obj = self._shipped.get(ref)
                if obj is None:
                    obj = self._shipped[ref] = ray.put(assets(ref))
                    while len(self._shipped) > self.config.server.max_characters:
                        self._shipped.popitem(last=False)
                self._shipped.move_to_end(ref)
                out[ref] = obj
            return out

    def forget(self, ref: CharacterRef) -> None:
        with self._lock:
            self._shipped.pop(ref, None)

    def fail_queued_if_no_lane(self) -> None:
        """While no actor answers, answer queued poses RENDER_FAILED rather than keep them."""
        if self._ctx is None or any(lane.healthy for lane in self.lanes):
            return
        batch = self._ctx.scheduler.next_batch(timeout_s=0.0)
        if batch:
            self._ctx.fail([job.item for job in batch],
                           "no render worker is reachable (Ray is restarting them); try again shortly")

    def stop(self) -> None:
        stop_lanes(self.lanes, self._ctx)
        for lane in self.lanes:
            try:
                ray.kill(lane.actor)
            except Exception as exc:  # noqa: BLE001 - already gone
                log.debug("kill %s: %s", lane.name, exc)
        self.lanes = []
        if ray.is_initialized():
            ray.shutdown()

    def describe(self) -> dict[str, Any]:
        return {"executor": self.name, "lanes": [lane.describe() for lane in self.lanes]}
