"""`facecast bench npc`: many NPC sessions through the real daemon, for several NPC counts.
Figures, not asserts.

For each count a fresh daemon (`facecast serve` in its own process) serves that many NPC
sessions: each binds a character (round-robin over the store), sends `npc` and one line of
syllable-like audio (so lip flap runs too), and from then on only receives the frames the
daemon generates at ``fps``. One client process receives every session's frames (a poller
over all sockets; pixels are not decoded). After a 1 s warm-up, per NPC it counts frames
over ``seconds`` and the delay from the pose's generation to the frame's arrival; the
daemon's latest-wins drops (superseded) are summed. "NPCs at full rate" is the largest count
whose slowest NPC still got 95 % of ``fps``.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import zmq

from facecast.apps.bench.machine import machine_description
from facecast.config import AppConfig

log = logging.getLogger(__name__)

AUDIO_RATE = 16000
FULL_RATE = 0.95


def _line(seconds: float, seed: int) -> np.ndarray:
    """Syllable-like noise bursts (120 ms on, 130 ms off), int16 mono at AUDIO_RATE."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(AUDIO_RATE * seconds)) / AUDIO_RATE
    return (9000 * (np.mod(t, 0.25) < 0.12) * rng.standard_normal(t.size)).clip(-32000, 32000).astype(np.int16)


def run_npcs(endpoint: str, npcs: int, fps: int, seconds: float, size: int,
             characters: Sequence[str] | None = None) -> dict[str, Any]:
    from facecast.client import Client
    from facecast.protocol import Frame

    clients = [Client(endpoint, timeout_s=30.0, name=f"bench-npc-{i}") for i in range(npcs)]
    try:
        names = list(characters or clients[0].characters())
        for i, c in enumerate(clients):
            c.hello()
            c.bind(names[i % len(names)], width=size, height=size, pixel_format="rgb8")
            c.npc(emotion=("neutral", "happy", "sad")[i % 3], seed=i, fps=fps)
            c.send_audio(_line(min(seconds + 2.0, 18.0), i), AUDIO_RATE, line=1)
        poller = zmq.Poller()
        by_socket = {}
        for i, c in enumerate(clients):
            poller.register(c._sock, zmq.POLLIN)
            by_socket[c._sock] = i
        frames = np.zeros(npcs, int)
        superseded = errors = 0
        delays: list[float] = []
        warm_end = time.monotonic() + 1.0
        end = warm_end + seconds
        while (now := time.monotonic()) < end:
            for sock, _ in poller.poll(max(1, int((end - now) * 1000))):
                i = by_socket[sock]
                msg = clients[i].recv(1.0)
                received = time.time()
                if not isinstance(msg, Frame):
                    errors += msg.TYPE == "error"
                    continue
                if time.monotonic() >= warm_end:
                    frames[i] += 1
                    superseded += msg.superseded
                    delays.append((received - msg.timings.get("client_send", received)) * 1000.0)
        daemon = clients[0].stats().daemon
    finally:
        for c in clients:
            c.close()
    fps_each = frames / seconds
    lat = np.array(delays) if delays else np.zeros(1)
    return {"npcs": npcs, "fps_target": fps, "size": size, "seconds": seconds,
            "fps_min": float(fps_each.min()), "fps_median": float(np.median(fps_each)),
            "fps_total": float(fps_each.sum()), "latency_p50_ms": float(np.percentile(lat, 50)),
            "latency_p99_ms": float(np.percentile(lat, 99)), "frames": int(frames.sum()),
            "superseded": int(superseded), "errors": int(errors),
            "full_rate": bool(fps_each.min() >= FULL_RATE * fps),
            "mean_batch": daemon.get("mean_batch")}


def format_npc(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'NPCs':>5} {'target':>6} {'fps min':>8} {'median':>7} {'total':>7} {'p50 ms':>7} {'p99 ms':>7} "
             f"{'dropped':>8} {'errors':>6} {'batch':>6} {'full rate':>9}"]
    for r in rows:
        lines.append(f"{r['npcs']:>5} {r['fps_target']:>6} {r['fps_min']:>8.1f} {r['fps_median']:>7.1f} "
                     f"{r['fps_total']:>7.0f} {r['latency_p50_ms']:>7.1f} {r['latency_p99_ms']:>7.1f} "
                     f"{r['superseded']:>8} {r['errors']:>6} {r['mean_batch'] or 0:>6.2f} "
                     f"{'yes' if r['full_rate'] else 'no':>9}")
    full = [r["npcs"] for r in rows if r["full_rate"]]
    lines.append(f"NPCs served at {rows[0]['fps_target']} fps (slowest >= {FULL_RATE:.0%}): "
                 f"{max(full) if full else 0} of the counts tried")
    return "\n".join(lines)


def _counts(text: str) -> list[int]:
    try:
        counts = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--npcs takes counts like 1,8,32, not {text!r}") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"--npcs takes positive counts like 1,8,32, not {text!r}")
    return counts


def add_npc_bench_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--npcs", type=_counts, default=[1, 8, 16, 32], help="NPC counts, e.g. 1,8,32")
    parser.add_argument("--fps", type=int, default=30, help="frames per second per NPC")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured length of each count's run")
    parser.add_argument("--size", type=int, default=256, help="frame side in pixels")
    parser.add_argument("--characters", nargs="+", help="characters dealt to the NPCs (default: all)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")


def run_npc_bench(cfg: AppConfig, args: argparse.Namespace) -> int:
    from facecast.apps.bench.processes import start_bench_daemon

    rows = []
    for n in args.npcs:
        log.info("npc bench: %d NPC(s) x %d fps for %.0f s at %d²", n, args.fps, args.seconds, args.size)
        extra = argparse.Namespace(config=getattr(args, "config", None),
                                   set=[*(getattr(args, "set", None) or []), f"npc.max_sessions={max(n, 1)}"])
        with start_bench_daemon(cfg, extra) as daemon:
            rows.append(run_npcs(daemon.endpoint, n, args.fps, args.seconds, args.size, args.characters))
        log.info("%s", rows[-1])
    sys.stdout.write(format_npc(rows) + "\n")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        command = "facecast " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "facecast bench npc"
        args.json.write_text(json.dumps({"command": command, "machine": machine_description(), "rows": rows},
                                        indent=2))
    return 1 if any(r["errors"] or r["frames"] == 0 for r in rows) else 0
