"""`facecast bench delivery`: what it costs to get a rendered frame to the client, inline
in the reply vs through the session's shared-memory ring vs to the OBS overlay page's
WebSocket feed, at 256² and 512² RGBA.

The daemon runs as its own process with the `copy` renderer, so rendering costs a
memcpy and the difference between the rows is delivery. Per output: the lockstep round
trip (send pose -> pixels in client memory) and the reader-side latency from the end of
rendering to the pixels being available in the client (same-host clocks). The overlay
row is measured on a second daemon with `--sink overlay`: a WebSocket client reads the
feed as the page does (PNG, acknowledged per frame) while a client renders at 30 fps;
its `available` is render end -> PNG received by that (Python) reader. Figures, not asserts; compare the ratios."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from typing import Any, Sequence

import numpy as np

from facecast.apps.bench.processes import ServerProcess
from facecast.characters.store import CharacterStore
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


OVERLAY_FPS = 30.0
OVERLAY_FRAMES = 90


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _measure_overlay(endpoint: str, ws_url: str, neutral: np.ndarray, size: int, frames: int) -> dict[str, Any]:
    from websockets.sync.client import connect

    arrivals: list[float] = []
    stop = threading.Event()

    def read_feed() -> None:
        with connect(ws_url, max_size=None) as ws:
            while not stop.is_set():
                try:
                    meta = json.loads(ws.recv(timeout=0.5))
                    ws.recv(timeout=5)  # the PNG
                except TimeoutError:
                    continue
                arrivals.append(time.time() - meta["render_end"])
                ws.send("ack")

    reader = threading.Thread(target=read_feed, daemon=True)
    reader.start()
    time.sleep(0.3)  # let the page connect before the frames it should see
    with Client(endpoint) as client:
        client.bind("default", width=size, height=size, pixel_format="rgba8")
        rtt = np.empty(frames)
        start = time.perf_counter()
        for i in range(frames):  # at 30 fps, as a streamer's tracker sends: the page keeps up
            time.sleep(max(0.0, start + i / OVERLAY_FPS - time.perf_counter()))
            t0 = time.perf_counter()
            client.render(neutral)
            rtt[i] = time.perf_counter() - t0
        sinks = client.stats().daemon["sinks"]["overlay"]
    time.sleep(0.5)
    stop.set()
    reader.join(5)
    got = np.array(arrivals[len(arrivals) // 10:]) * 1e3  # skip warm-up
    return {"size": size, "output": "overlay (PNG over WebSocket)", "frames": frames, "received": len(arrivals),
            "rtt_p50_ms": float(np.percentile(rtt, 50) * 1e3), "rtt_p99_ms": float(np.percentile(rtt, 99) * 1e3),
            "available_p50_ms": float(np.percentile(got, 50)), "available_p99_ms": float(np.percentile(got, 99)),
            "encode_ms": float(sinks.get("encode_ms", 0.0))}


def bench_delivery(cfg: AppConfig, sizes: Sequence[int] = (256, 512), frames: int = 300) -> list[dict[str, Any]]:
    store = CharacterStore(cfg.store.root or None)
    neutral = store.ensure_default().neutral
    rows: list[dict[str, Any]] = []
    with ServerProcess(["-m", "facecast.apps.cli", "serve", "--bind", "tcp://127.0.0.1:0", "--renderer", "copy",
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
    port = _free_port()
    with ServerProcess(["-m", "facecast.apps.cli", "serve", "--bind", "tcp://127.0.0.1:0", "--renderer", "copy",
                        "--store", str(store.root), "--sink", "overlay", "--set", f"overlay.port={port}"]) as daemon:
        for size in sizes:
            row = _measure_overlay(daemon.endpoint, f"ws://127.0.0.1:{port}/ws", neutral, size,
                                   min(frames, OVERLAY_FRAMES))
            log.info("%s", row)
            inline = next(r for r in rows if r["size"] == size and r["output"] == "inline")
            rows.append(row)
            rows.append({"size": size, "output": "ratio overlay / inline", "frames": frames,
                         **{k: row[k] / inline[k] for k in inline if k.endswith("_ms")}})
    rows.sort(key=lambda r: r["size"])
    return rows


def format_delivery(rows: list[dict[str, Any]]) -> str:
    keys = ["rtt_p50_ms", "rtt_p99_ms", "available_p50_ms", "available_p99_ms"]
    lines = [f"{'size':>5}  {'output':<30}" + "".join(f"{k:>18}" for k in keys)]
    for r in rows:
        lines.append(f"{r['size']:>5}  {r['output']:<30}" + "".join(f"{r[k]:>18.3f}" for k in keys))
    encodes = [f"{r['size']}²: {r['encode_ms']:.2f} ms" for r in rows if "encode_ms" in r]
    if encodes:
        lines.append("overlay PNG encode per frame (daemon side): " + ", ".join(encodes))
    return "\n".join(lines)
