"""`facecast bench serve`: simulated clients through the real daemon, for several client
counts. Figures, not asserts.

For each client count a fresh daemon (`facecast serve` in its own process, on a free
loopback port) serves that many sessions, each streaming poses of its character's
procedural performance at ``fps`` for ``seconds`` — the same driver as `facecast bench
soak` (``run_soak``): pipelined, latest-wins, characters dealt round-robin. Per count it
reports each client's achieved frames/s (min / median / max), the round-trip latency
(client send -> frame received) p50 / p99 over every frame, the poses dropped by
latest-wins (superseded) and the error replies, and the daemon's batch sizes. Results go
to stdout, optionally to JSON and to a PNG plot.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from facecast.apps.bench.machine import machine_description
from facecast.apps.bench.soak import SoakReport, run_soak
from facecast.config import AppConfig, add_knob_flags

log = logging.getLogger(__name__)

PLOT_COLUMNS = ("fps_median", "latency_p99_ms", "drop_rate")


def summarize(report: SoakReport, label: str) -> dict[str, Any]:
    """One row of figures for one client count."""
    fps = np.array([c.fps for c in report.clients])
    totals = report.totals()
    daemon = report.daemon_final or {}
    return {
        "label": label,
        "clients": len(report.clients),
        "fps_target": report.fps_target,
        "size": report.size,
        "seconds": round(report.seconds, 2),
        "fps_min": float(fps.min()),
        "fps_median": float(np.median(fps)),
        "fps_max": float(fps.max()),
        "fps_total": float(fps.sum()),
        "latency_p50_ms": report.latency_p50_ms,
        "latency_p99_ms": report.latency_p99_ms,
        "sent": totals["sent"],
        "frames": totals["frames"],
        "superseded": totals["superseded"],
        "drop_rate": totals["superseded"] / totals["sent"] if totals["sent"] else 0.0,
        "errors": totals["errors"],
        "send_slips": totals["send_slips"],  # ticks the driver itself missed (its own load)
        "mean_batch": daemon.get("mean_batch"),
        "batch_sizes": daemon.get("batch_sizes", {}),
    }


def bench_serve(start_daemon: Callable[[], Any], client_counts: Sequence[int], fps: float, seconds: float,
                size: int, characters: Sequence[str] | None = None, label: str = "") -> tuple[
                    list[dict[str, Any]], list[SoakReport]]:
    """Rows of figures (see ``summarize``) and the full reports, one per client count.
    ``start_daemon()`` returns a context manager with an ``endpoint``: a fresh daemon each."""
    rows, reports = [], []
    for clients in client_counts:
        log.info("serve bench: %d client(s) x %.0f fps for %.0f s at %d²", clients, fps, seconds, size)
        with start_daemon() as daemon:
            report = run_soak(daemon.endpoint, clients=clients, fps=fps, seconds=seconds, size=size,
                              characters=characters, sample_interval_s=max(1.0, seconds / 4), warmup_s=0.0)
        row = summarize(report, label)
        log.info("%s", row)
        rows.append(row)
        reports.append(report)
    return rows, reports


def format_serve(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'clients':>7} {'target':>6} {'fps min':>8} {'median':>7} {'max':>7} {'total':>7} {'p50 ms':>7} "
             f"{'p99 ms':>7} {'sent':>7} {'dropped':>8} {'drop %':>6} {'errors':>6} {'batch':>6}"]
    for r in rows:
        lines.append(f"{r['clients']:>7} {r['fps_target']:>6.0f} {r['fps_min']:>8.1f} {r['fps_median']:>7.1f} "
                     f"{r['fps_max']:>7.1f} {r['fps_total']:>7.0f} {r['latency_p50_ms']:>7.1f} "
                     f"{r['latency_p99_ms']:>7.1f} {r['sent']:>7} {r['superseded']:>8} {100 * r['drop_rate']:>6.1f} "
                     f"{r['errors']:>6} {r['mean_batch'] or 0:>6.2f}")
    return "\n".join(lines)


# ---------------------------------------------------------------------- CLI
def _counts(text: str) -> list[int]:
    try:
        counts = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--clients takes counts like 1,8,32, not {text!r}") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"--clients takes positive counts like 1,8,32, not {text!r}")
    return counts


def add_serve_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `facecast bench serve` (besides the common --config/--set/-v and --store)."""
    parser.add_argument("--clients", type=_counts, default=[1, 8, 32], help="client counts, e.g. 1,8,32")
    parser.add_argument("--fps", type=float, default=30.0, help="poses per second per client")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each client count's run")
    parser.add_argument("--size", type=int, default=256, help="frame side in pixels")
    add_knob_flags(parser, "render.renderer", "render.checkpoint", "render.engine", "render.onnx_model",
                   "render.device", "render.precision")
    parser.add_argument("--characters", nargs="+", help="characters dealt to the clients (default: all)")
    parser.add_argument("--json", type=Path, help="also write the figures (and every client's) as JSON here")
    parser.add_argument("--plot", type=Path, help="also plot fps, p99 latency and drops per client count (PNG)")


def run_serve_bench(cfg: AppConfig, args: argparse.Namespace) -> int:
    from facecast.apps.bench.processes import serve_options, start_bench_daemon

    options = serve_options(cfg)
    render = cfg.render
    label = f"{render.renderer}{'/' + render.engine if render.renderer == 'neural' else ''} {args.size}²"
    rows, reports = bench_serve(lambda: start_bench_daemon(cfg, args), args.clients, args.fps,
                                args.seconds, args.size, args.characters, label)
    sys.stdout.write(format_serve(rows) + "\n")
    command = "facecast " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "facecast bench serve"
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"command": command, "machine": machine_description(), "serve_options": options,
                                         "rows": rows, "runs": [r.to_dict() for r in reports]}, indent=2))
    if args.plot:
        from facecast.apps.bench.plot import plot_rows

        plot_rows(rows, x="clients", y=PLOT_COLUMNS, series="label", log_x=True, path=args.plot,
                  title=f"facecast bench serve: {args.fps:.0f} fps per client, {args.seconds:.0f} s per count")
    bad = [r["clients"] for r in rows if r["errors"] or r["fps_min"] <= 0]
    if bad:
        log.error("client counts %s: error replies or a client without frames", bad)
        return 1
    return 0
