"""`facecast bench bridge`: the daemon's own overhead. The daemon (its own process, the
`copy` renderer, so rendering costs one memcpy) against a raw pyzmq ROUTER echo (its own
process) that returns a reply of the same size, for the same pose bytes, in one run.
Figures are printed, never asserted."""

from __future__ import annotations

import io
import logging
import pstats
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import psutil
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
    """One server measured on its own: lockstep latency of one client, then throughput of
    ``clients`` clients each keeping one request in flight."""
    with _Clients(endpoint, clients, setup) as c:
        c.lockstep(payload, min(50, frames))  # warm up
        rtt = c.lockstep(payload, frames) * 1000.0
        fps_n = c.concurrent(payload, frames)
    return {"p50_ms": float(np.percentile(rtt, 50)), "p99_ms": float(np.percentile(rtt, 99)),
            "fps_1_client": float(1000.0 / rtt.mean()), f"fps_{clients}_clients": float(fps_n)}


class _Clients:
    """``n`` DEALER sockets connected (and set up, e.g. bound) to one server."""

    def __init__(self, endpoint: str, n: int, setup: Callable[[zmq.Socket], None] | None = None) -> None:
        self.ctx = zmq.Context()
        self.socks = _dealers(self.ctx, endpoint, n)
        if setup is not None:
            for sock in self.socks:
                setup(sock)

    def lockstep(self, payload: Callable[[], bytes], frames: int) -> np.ndarray:
        return _lockstep(self.socks[0], payload, frames)

    def concurrent(self, payload: Callable[[], bytes], frames: int) -> float:
        return _concurrent(self.socks, payload, frames)

    def __enter__(self) -> "_Clients":
        return self

    def __exit__(self, *exc: object) -> None:
        for sock in self.socks:
            sock.close(0)
        self.ctx.term()


def _cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()  # every thread of the server process
    return times.user + times.system


def _interleaved(pair: list[tuple[str, _Clients, Callable[[], bytes], int]], frames: int, rounds: int,
                 clients: int) -> list[dict[str, Any]]:
    """Measure the servers of ``pair`` (name, clients, payload, server pid) in alternating
    rounds, so that a shared machine's drift falls on both alike: latency percentiles over
    every round's samples, throughput the median of the rounds, and the server process's
    CPU time per lockstep frame (user + system, all threads) — the figure least moved by
    other load on the machine."""
    per_round = max(1, frames // rounds)
    rtts: dict[str, list[np.ndarray]] = {name: [] for name, *_ in pair}
    fps: dict[str, list[float]] = {name: [] for name, *_ in pair}
    cpu: dict[str, float] = {name: 0.0 for name, *_ in pair}
    for name, c, payload, _ in pair:
        c.lockstep(payload, min(50, frames))  # warm up
    for _ in range(rounds):
        for name, c, payload, pid in pair:
            before = _cpu_seconds(pid)
            rtts[name].append(c.lockstep(payload, per_round) * 1000.0)
            cpu[name] += _cpu_seconds(pid) - before
            fps[name].append(c.concurrent(payload, per_round))
    rows = []
    for name, *_ in pair:
        rtt = np.concatenate(rtts[name])
        rows.append({"path": name, "p50_ms": float(np.percentile(rtt, 50)), "p99_ms": float(np.percentile(rtt, 99)),
                     "fps_1_client": float(1000.0 / rtt.mean()),
                     f"fps_{clients}_clients": float(np.median(fps[name])),
                     "cpu_us_per_frame": 1e6 * cpu[name] / rtt.size})
    return rows


def _ratio(label: str, num: dict[str, Any], den: dict[str, Any]) -> dict[str, Any]:
    """num / den per figure; NaN where den is 0 (CPU time is counted in clock ticks, so a
    short run of a light server can show none)."""
    return {"path": label, **{k: num[k] / den[k] if den[k] else float("nan") for k in den if k != "path"}}


def bench_bridge(cfg: AppConfig, frames: int = 500, size: int = 256, clients: int = 8,
                 rounds: int = 5, profile: Path | None = None) -> list[dict[str, Any]]:
    """Daemon (copy renderer) vs raw echo, inline (a full frame back) and shm (a notice
    back, pixels in the ring), each pair measured in alternating rounds in one run.
    ``profile``: run the daemon under cProfile and write its stats there (slows it)."""
    store = CharacterStore(cfg.store.root or None)
    neutral = store.ensure_default().neutral
    seq = iter(range(1, 1 << 62))

    def pose() -> bytes:
        return encode(Pose(seq=next(seq), t_send=time.time(), landmarks=neutral))

    def binder(output: str) -> Callable[[zmq.Socket], None]:
        def bind(sock: zmq.Socket) -> None:
            sock.send(encode(Bind(character="default", width=size, height=size, pixel_format="rgba8", output=output)))
            reply = decode(sock.recv(), max_bytes=1 << 30)
            if reply.TYPE != "bound":
                raise RuntimeError(f"bench bind failed: {reply}")
        return bind

    timings = {k: 0.0 for k in TIMING_KEYS}
    inline_bytes = len(encode(Frame(seq=1, character="default", width=size, height=size, pixel_format="rgba8",
                                    data=bytes(size * size * 4), timings=timings)))
    notice_bytes = len(encode(Frame(seq=1, character="default", width=size, height=size, pixel_format="rgba8",
                                    data=b"", timings=timings, slot=1, slot_seq=2)))
    prefix = ["-m", "cProfile", "-o", str(profile)] if profile is not None else []
    daemon_args = [*prefix, "-m", "facecast.apps.cli", "serve", "--bind", "tcp://127.0.0.1:0", "--renderer", "copy",
                   "--store", str(store.root), "--set", "server.max_poses_per_second=0"]
    rows: list[dict[str, Any]] = []
    with ServerProcess(["-m", "facecast.apps.bench.echo", "--reply-bytes", str(inline_bytes)]) as echo, \
            ServerProcess(["-m", "facecast.apps.bench.echo", "--reply-bytes", str(notice_bytes)]) as echo_notice, \
            ServerProcess(daemon_args) as daemon:
        with _Clients(echo.endpoint, clients) as raw, _Clients(daemon.endpoint, clients, binder("inline")) as dae:
            raw_row, dae_row = _interleaved([("raw pyzmq echo", raw, pose, echo.proc.pid),
                                             ("facecast daemon (copy renderer)", dae, pose, daemon.proc.pid)],
                                            frames, rounds, clients)
        rows += [raw_row, dae_row, _ratio("ratio daemon / raw", dae_row, raw_row)]
        with _Clients(echo_notice.endpoint, clients) as raw, _Clients(daemon.endpoint, clients, binder("shm")) as dae:
            raw_n, dae_n = _interleaved([("raw echo, notice-size reply", raw, pose, echo_notice.proc.pid),
                                         ("daemon, shm output (notice)", dae, pose, daemon.proc.pid)],
                                        frames, rounds, clients)
        rows += [raw_n, dae_n, _ratio("ratio shm daemon / raw", dae_n, raw_n)]
    for row in rows:
        log.info("%s", row)
        row.update(size=size, frames=frames, rounds=rounds, reply_bytes=inline_bytes, notice_bytes=notice_bytes)
    return rows


def profile_summary(path: Path, top: int = 15) -> str:
    """The daemon's functions that took the most time of their own, from ``--profile``."""
    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.sort_stats("tottime").print_stats(r"facecast|zmq|msgpack|numpy|threading|queue", top)
    return out.getvalue()


def format_bridge(rows: list[dict[str, Any]]) -> str:
    keys = [k for k in rows[0] if k.startswith(("p50", "p99", "fps", "cpu"))]
    head = f"{'path':<34}" + "".join(f"{k:>17}" for k in keys)
    lines = [head]
    for r in rows:
        lines.append(f"{r['path']:<34}" + "".join(f"{r[k]:>17.3f}" for k in keys))
    r = rows[0]
    return "\n".join(lines) + (f"\n({r['size']}x{r['size']} RGBA replies of {r['reply_bytes']} bytes inline, notices "
                               f"of {r['notice_bytes']} bytes for shm; {r['frames']} frames per path in "
                               f"{r['rounds']} alternating rounds)")
