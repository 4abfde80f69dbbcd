"""`facecast bench ...`: the benchmark commands' arguments and dispatch (light: each
benchmark's heavy imports happen when it runs)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from facecast.apps.bench.engines import add_render_bench_arguments, run_render_bench
from facecast.apps.bench.npc import add_npc_bench_arguments, run_npc_bench
from facecast.apps.bench.serve import add_serve_bench_arguments, run_serve_bench
from facecast.apps.bench.soak import add_soak_arguments, run_soak_command
from facecast.apps.bench.tracker import add_tracker_bench_arguments, run_tracker_bench
from facecast.config import AppConfig, add_knob_flags


def add_bench_parsers(bench: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """The `facecast bench` subcommands, each with the common --config/--set/-v."""
    b = bench.add_parser("bridge", parents=[common], help="daemon round trip vs a raw ZeroMQ echo of the same bytes")
    b.add_argument("--frames", type=int, default=500)
    b.add_argument("--size", type=int, default=256)
    b.add_argument("--rounds", type=int, default=5, help="alternating rounds per pair (default: 5)")
    b.add_argument("--profile", type=Path, metavar="FILE",
                   help="run the daemon under cProfile, write its stats to FILE and print the top functions")
    add_knob_flags(b, "store.root")
    b.add_argument("--json", type=Path, help="also write the figures as JSON here")
    b = bench.add_parser("scale", parents=[common],
                         help="render workers on Ray (1..N actors) vs in-process: latency, throughput, bytes per frame")
    b.add_argument("--workers", default="1,2", help="Ray actor counts to measure, e.g. 1,2,4 (default: 1,2)")
    b.add_argument("--frames", type=int, default=300)
    b.add_argument("--size", type=int, default=256)
    b.add_argument("--clients", type=int, default=8, help="clients in the throughput measurement")
    add_knob_flags(b, "render.renderer", "executor.ray_address", "store.root")
    b.add_argument("--json", type=Path, help="also write the figures as JSON here")
    b = bench.add_parser("delivery", parents=[common], help="frame delivery: inline reply vs shared-memory ring")
    b.add_argument("--frames", type=int, default=300)
    b.add_argument("--json", type=Path, help="also write the figures as JSON here")
    add_knob_flags(b, "store.root")
    b = bench.add_parser("warp", parents=[common],
                         help="warp renderer frames/s at 256²/512² on one thread, as a ratio against its frozen baseline")
    b.add_argument("--seconds", type=float, default=1.0, help="seconds per path, size and round (default: 1)")
    b.add_argument("--rounds", type=int, default=5, help="alternating rounds per size (default: 5)")
    b.add_argument("--sizes", default="256,512", help="output sizes, e.g. 256,512 (default)")
    b.add_argument("--character", default="", help="a character of the store (default: the built-in one)")
    add_knob_flags(b, "store.root")
    b.add_argument("--json", type=Path, help="also write the figures as JSON here")
    b = bench.add_parser("render", parents=[common],
                         help="neural generator engines (torch, onnx): frames/s, p50/p99 per config and batch size")
    add_render_bench_arguments(b)
    b = bench.add_parser("soak", parents=[common], help="many clients at a fixed rate for minutes: memory, fairness")
    add_soak_arguments(b)
    add_knob_flags(b, "store.root")
    b = bench.add_parser("serve", parents=[common],
                         help="simulated clients through the real daemon: fps, p99 latency, drops per client count")
    add_serve_bench_arguments(b)
    add_knob_flags(b, "store.root")
    b = bench.add_parser("npc", parents=[common],
                         help="NPC sessions through the real daemon: per-NPC fps, latency, NPCs served at full rate")
    add_npc_bench_arguments(b)
    add_knob_flags(b, "store.root")
    b = bench.add_parser("hostile", parents=[common],
                         help="what one hostile message costs the I/O thread: decode bombs, multipart messages")
    b.add_argument("--repeats", type=int, default=5, help="decodes per bomb (the median is shown)")
    b.add_argument("--pending-parts", type=int, default=32,
                   help="full-size parts of a message whose last part never comes (default: 32)")
    b.add_argument("--many-parts", type=int, default=1_000_000, help="empty parts of one message (default: 1000000)")
    b.add_argument("--json", type=Path, help="also write the figures as JSON here")
    b = bench.add_parser("tracker", parents=[common],
                         help="tracker frames/s with and without blendshapes, One Euro jitter/lag, track --video stages")
    add_tracker_bench_arguments(b)
    add_knob_flags(b, "store.root")


def run_bench(cfg: AppConfig, args: argparse.Namespace) -> int:
    runners = {"soak": run_soak_command, "render": run_render_bench, "serve": run_serve_bench,
               "tracker": run_tracker_bench, "npc": run_npc_bench}
    if args.bench in runners:
        return runners[args.bench](cfg, args)
    if args.bench == "bridge":
        from facecast.apps.bench.bridge import bench_bridge, format_bridge, profile_summary

        rows = bench_bridge(cfg, frames=args.frames, size=args.size, rounds=args.rounds, profile=args.profile)
        text = format_bridge(rows)
        if args.profile:
            text += "\n\n" + profile_summary(args.profile)
    elif args.bench == "scale":
        from facecast.apps.bench.scale import bench_scale, format_scale

        workers = [int(w) for w in args.workers.split(",") if w.strip()]
        rows = bench_scale(cfg, workers, frames=args.frames, size=args.size, clients=args.clients,
                           ray_address=cfg.executor.ray_address)
        text = format_scale(rows)
    elif args.bench == "hostile":
        from facecast.apps.bench.hostile import format_hostile, run_hostile_bench

        rows = run_hostile_bench(cfg, args.repeats, args.pending_parts, args.many_parts)
        text = format_hostile(rows)
    elif args.bench == "delivery":
        from facecast.apps.bench.delivery import bench_delivery, format_delivery

        rows = bench_delivery(cfg, frames=args.frames)
        text = format_delivery(rows)
    else:
        from facecast.apps.bench.warp import bench_warp, format_warp

        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
        rows = bench_warp(cfg, sizes, seconds=args.seconds, rounds=args.rounds, character=args.character)
        text = format_warp(rows)
    sys.stdout.write(text + "\n")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))
    return 0
