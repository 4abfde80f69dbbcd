"""`facecast bench delivery`: what it costs to get a rendered frame to the client, inline
in the reply vs through the session's shared-memory ring, at 256² and 512² RGBA.

The daemon runs as its own process with the `copy` renderer, so rendering costs a
memcpy and the difference between the rows is delivery. Per output: the lockstep round
trip (send pose -> pixels in client memory) and the reader-side latency from the end of
rendering to the pixels being available in the client (same-host clocks). Figures, not
asserts; compare the ratio rows."""

from __future__ import annotations

import logging
import time
from typing import Any, Sequence

import numpy as np

from facecast.bench.processes import ServerProcess
from facecast.bridge.characters import CharacterStore
from facecast.client import Client
from facecast.config import AppConfig

log = logging.getLogger(__name__)


def _measure(endpoint: str, neutral: np.ndarray, size: int, output: str, frames: int) -> dict[str, Any]:
    with Client(endpoint) as client:
        client.bind("default", width=size, height=size, pixel_format="rgba8", output=output)
        for _ in range(20):  # warm up
            client.render(neutral)
        rtt, available = np.empty(frames), np.empty(frames)
        for i in range(frames):
            t0 = time.perf_counter()
            frame = client.render(neutral)  # for shm this includes reading the slot
            rtt[i] = time.perf_counter() - t0
            available[i] = frame.received - frame.message.timings["render_end"]
    return {"size": size, "output": output, "frames": frames,
            "rtt_p50_ms": float(np.percentile(rtt, 50) * 1e3), "rtt_p99_ms": float(np.percentile(rtt, 99) * 1e3),
            "available_p50_ms": float(np.percentile(available, 50) * 1e3),
            "available_p99_ms": float(np.percentile(available, 99) * 1e3)}


def bench_delivery(cfg: AppConfig, sizes: Sequence[int] = (256, 512), frames: int = 300) -> list[dict[str, Any]]:
    store = CharacterStore(cfg.store.root or None)
    neutral = store.ensure_default().neutral
    rows: list[dict[str, Any]] = []
    with ServerProcess(["-m", "facecast.cli", "serve", "--bind", "tcp://127.0.0.1:0", "--renderer", "copy",
                        "--store", str(store.root)]) as daemon:
        for size in sizes:
            by_output = {}
            for output in ("inline", "shm"):
                row = _measure(daemon.endpoint, neutral, size, output, frames)
                log.info("%s", row)
                rows.append(row)
                by_output[output] = row
            rows.append({"size": size, "output": "ratio shm / inline", "frames": frames,
                         **{k: by_output["shm"][k] / by_output["inline"][k]
                            for k in by_output["shm"] if k.endswith("_ms")}})
    return rows


def format_delivery(rows: list[dict[str, Any]]) -> str:
    keys = ["rtt_p50_ms", "rtt_p99_ms", "available_p50_ms", "available_p99_ms"]
    lines = [f"{'size':>5}  {'output':<20}" + "".join(f"{k:>18}" for k in keys)]
    for r in rows:
        lines.append(f"{r['size']:>5}  {r['output']:<20}" + "".join(f"{r[k]:>18.3f}" for k in keys))
    return "\n".join(lines)
