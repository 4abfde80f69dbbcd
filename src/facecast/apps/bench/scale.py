"""`facecast bench scale`: the daemon with its render workers on Ray against in-process.

Starts a local Ray cluster (a head with no CPUs and one single-CPU node per worker, so each
render actor has a "machine" of its own), unless ``--ray-address`` names a running one,
then serves the same poses through: the in-process executor, and Ray with 1..N actors.
Latency is one client in lockstep; throughput is ``clients`` clients each keeping one pose
in flight. Also reports what crosses the network per frame (pickled job and outcome).
Figures are printed, never asserted."""

from __future__ import annotations

import logging
import pickle
import time
from typing import Any

import numpy as np
import zmq

from facecast.apps.bench.bridge import _measure
from facecast.apps.bench.processes import ServerProcess
from facecast.characters.store import CharacterStore
from facecast.config import AppConfig
from facecast.core.pixels import encode_pixels
from facecast.protocol import Bind, Pose, decode, encode

log = logging.getLogger(__name__)


def wire_bytes(neutral: np.ndarray, size: int, pixel_format: str) -> dict[str, int]:
    """Pickled bytes of one job to a Ray worker and of its outcome back (one frame)."""
    from facecast.server.render_jobs import CharacterRef, FrameOutcome, OutputSpec, RenderJob

    spec = OutputSpec(size, size, pixel_format, 90, mode="inline")
    job = RenderJob(key=b"\x00" * 5, session_id="0" * 16, binding_id=1, seq=1,
                    character=CharacterRef("default", "0" * 16), landmarks=neutral.astype(np.float32),
                    landmark_format="mediapipe478", output=spec, t_send=time.time(), t_receive=time.time())
    frame = np.zeros((size, size, 4), np.uint8)
    outcome = FrameOutcome(data=encode_pixels(frame, pixel_format) if spec.encoded else None,
                           rgba=frame if spec.needs_rgba else None, render_start=1.0, render_end=2.0)
    return {"job_bytes": len(pickle.dumps(job, protocol=5)), "outcome_bytes": len(pickle.dumps(outcome, protocol=5))}


def bench_scale(cfg: AppConfig, workers: list[int], frames: int = 300, size: int = 256, clients: int = 8,
                ray_address: str = "", pixel_format: str = "rgba8") -> list[dict[str, Any]]:
    store = CharacterStore(cfg.store.root or None)
    neutral = store.ensure_default().neutral
    seq = iter(range(1, 1 << 62))

    def pose() -> bytes:
        return encode(Pose(seq=next(seq), t_send=time.time(), landmarks=neutral))

    def bind(sock: zmq.Socket) -> None:
        sock.send(encode(Bind(character="default", width=size, height=size, pixel_format=pixel_format)))
        reply = decode(sock.recv(), max_bytes=1 << 30)
        if reply.TYPE != "bound":
            raise RuntimeError(f"bench bind failed: {reply}")

    base = ["-m", "facecast.apps.cli", "serve", "--bind", "tcp://127.0.0.1:0", "--store", str(store.root),
            "--renderer", cfg.render.renderer]
    cluster = None
    if not ray_address:
        from ray.cluster_utils import Cluster

        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
        nodes = [cluster.add_node(num_cpus=1) for _ in range(max(workers))]
        cluster.wait_for_nodes()
        ray_address = cluster.address
        log.info("local Ray cluster at %s: a head and %d single-CPU worker nodes", ray_address, len(nodes))
    rows = []
    try:
        runs: list[tuple[str, list[str]]] = [("in-process", ["--executor", "inprocess"])]
        runs += [(f"ray, {n} worker{'s' if n > 1 else ''}",
                  ["--executor", "ray", "--ray-address", ray_address, "--ray-workers", str(n)]) for n in workers]
        for label, flags in runs:
            with ServerProcess([*base, *flags], timeout_s=180.0) as daemon:
                row = {"path": label, **_measure(daemon.endpoint, pose, frames, clients, bind)}
            log.info("%s", row)
            rows.append(row)
    finally:
        if cluster is not None:
            cluster.shutdown()
    fps_key = f"fps_{clients}_clients"
    first_ray = rows[1]
    rows.append({"path": "ratio ray 1 worker / in-process",
                 **{k: first_ray[k] / rows[0][k] for k in rows[0] if k != "path"}})
    if len(rows) > 3:
        rows.append({"path": f"ratio ray {workers[-1]} / ray {workers[0]} workers",
                     **{k: rows[len(workers)][k] / first_ray[k] for k in rows[0] if k != "path"}})
    sizes = wire_bytes(neutral, size, pixel_format)
    for row in rows:
        row.update(size=size, frames=frames, clients=clients, pixel_format=pixel_format,
                   renderer=cfg.render.renderer, **sizes)
    log.info("throughput %s: %s", fps_key, [round(r[fps_key], 1) for r in rows])
    return rows


def format_scale(rows: list[dict[str, Any]]) -> str:
    keys = [k for k in rows[0] if k.startswith(("p50", "p99", "fps"))]
    lines = [f"{'path':<34}" + "".join(f"{k:>16}" for k in keys)]
    for r in rows:
        lines.append(f"{r['path']:<34}" + "".join(f"{r[k]:>16.3f}" for k in keys))
    r = rows[0]
    lines.append(f"({r['renderer']} renderer, {r['size']}x{r['size']} {r['pixel_format']}, {r['frames']} frames per "
                 f"measurement; per frame over the network: job {r['job_bytes']} B to a worker, "
                 f"outcome {r['outcome_bytes']} B back)")
    return "\n".join(lines)
