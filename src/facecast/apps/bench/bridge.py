"""`facecast bench bridge`: the daemon's own overhead. The daemon (its own process, the
`copy` renderer, so rendering costs one memcpy) against a raw pyzmq ROUTER echo (its own
process) that returns a reply of the same size, for the same pose bytes, in one run.
Figures are printed, never asserted."""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

import numpy as np
import zmq

from facecast.apps.bench.processes import ServerProcess
from facecast.characters.store import CharacterStore
from facecast.config import AppConfig
from facecast.protocol import TIMING_KEYS, Bind, Frame, Pose, decode, encode

log = logging.getLogger(__name__)


def _dealers(ctx: zmq.Context, endpoint: str, n: int) -> list[zmq.Socket]:
    socks = []
    for _ in range(n):
        s = ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(endpoint)
        socks.append(s)
    return socks


def _lockstep(sock: zmq.Socket, payload: Callable[[], bytes], frames: int) -> np.ndarray:
    """Round-trip times (s) of ``frames`` request/reply pairs, one at a time."""
    times = np.empty(frames)
    for i in range(frames):
        t0 = time.perf_counter()
        sock.send(payload())
        sock.recv()
        times[i] = time.perf_counter() - t0
    return times


def _concurrent(socks: list[zmq.Socket], payload: Callable[[], bytes], frames: int) -> float:
    """Replies per second with every socket keeping one request in flight."""
    poller = zmq.Poller()
    for s in socks:
        poller.register(s, zmq.POLLIN)
        s.send(payload())
    done, start = 0, time.perf_counter()
    while done < frames:
        for s, _ in poller.poll(10000):
            s.recv()
            done += 1
            s.send(payload())
    elapsed = time.perf_counter() - start
    for s in socks:  # drain the last requests
        s.recv()
    return done / elapsed


def _measure(endpoint: str, payload: Callable[[], bytes], frames: int, clients: int,
             setup: Callable[[zmq.Socket], None] | None = None) -> dict[str, Any]:
    ctx = zmq.Context()
    try:
        socks = _dealers(ctx, endpoint, clients)
        if setup is not None:
            for s in socks:
                setup(s)
        _lockstep(socks[0], payload, min(50, frames))  # warm up
        rtt = _lockstep(socks[0], payload, frames) * 1000.0
        fps_n = _concurrent(socks, payload, frames)
        for s in socks:
            s.close(0)
        return {"p50_ms": float(np.percentile(rtt, 50)), "p99_ms": float(np.percentile(rtt, 99)),
                "fps_1_client": float(1000.0 / rtt.mean()), f"fps_{clients}_clients": float(fps_n)}
    finally:
        ctx.term()


def bench_bridge(cfg: AppConfig, frames: int = 500, size: int = 256, clients: int = 8) -> list[dict[str, Any]]:
    store = CharacterStore(cfg.store.root or None)
    neutral = store.ensure_default().neutral
    seq = iter(range(1, 1 << 62))

    def pose() -> bytes:
        return encode(Pose(seq=next(seq), t_send=time.time(), landmarks=neutral))

    def bind(sock: zmq.Socket) -> None:
        sock.send(encode(Bind(character="default", width=size, height=size, pixel_format="rgba8")))
        reply = decode(sock.recv(), max_bytes=1 << 30)
        if reply.TYPE != "bound":
            raise RuntimeError(f"bench bind failed: {reply}")

    reply_size = len(encode(Frame(seq=1, character="default", width=size, height=size, pixel_format="rgba8",
                                  data=bytes(size * size * 4), timings={k: 0.0 for k in TIMING_KEYS})))
    store_args = ["--store", str(store.root)]
    rows = []
    with ServerProcess(["-m", "facecast.apps.bench.echo", "--reply-bytes", str(reply_size)]) as echo:
        row = {"path": "raw pyzmq echo", **_measure(echo.endpoint, pose, frames, clients)}
        log.info("%s", row)
        rows.append(row)
    with ServerProcess(["-m", "facecast.apps.cli", "serve", "--bind", "tcp://127.0.0.1:0", "--renderer", "copy",
                        *store_args]) as daemon:
        row = {"path": "facecast daemon (copy renderer)", **_measure(daemon.endpoint, pose, frames, clients, bind)}
        log.info("%s", row)
        rows.append(row)
    raw, dae = rows
    rows.append({"path": "ratio daemon / raw",
                 **{k: dae[k] / raw[k] for k in raw if k != "path"}})
    for row in rows:
        row.update(size=size, frames=frames, reply_bytes=reply_size)
    return rows


def format_bridge(rows: list[dict[str, Any]]) -> str:
    keys = [k for k in rows[0] if k.startswith(("p50", "p99", "fps"))]
    head = f"{'path':<34}" + "".join(f"{k:>16}" for k in keys)
    lines = [head]
    for r in rows:
        lines.append(f"{r['path']:<34}" + "".join(f"{r[k]:>16.3f}" for k in keys))
    return "\n".join(lines) + f"\n({rows[0]['size']}x{rows[0]['size']} RGBA replies of {rows[0]['reply_bytes']} bytes, " \
        f"{rows[0]['frames']} frames per measurement)"

