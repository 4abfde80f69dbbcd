"""`facecast bench warp`: the warp renderer's frames/s on one thread, as a ratio against
its frozen baseline (``warp_baseline``: the per-frame path before the issue 13 speed work)
measured in the same run, and the largest pixel difference between the two.

Both paths render the same poses of the same prepared character (the procedural
performance: blinks, speech, head turns) at each size, batch 1, in alternating rounds, so
that the machine's drift falls on both alike. cv2 (and torch, when loaded) are pinned to
one thread for the run; the warp path does no BLAS work worth threading. Figures, not
asserts.
"""

from __future__ import annotations

import logging
import statistics
import sys
import time
from typing import Any, Callable, Sequence

import cv2
import numpy as np

from facecast.characters.store import CharacterStore
from facecast.config import AppConfig
from facecast.render.base import RenderRequest
from facecast.render.warp import WarpCharacter, WarpRenderer, render_one
from facecast.tracking.procedural import procedural_performance

log = logging.getLogger(__name__)

RenderOne = Callable[[RenderRequest], np.ndarray]


def pin_one_thread() -> None:
    """One thread for cv2, and for torch when something has loaded it already."""
    cv2.setNumThreads(1)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


def _fps(fn: RenderOne, requests: list[RenderRequest], seconds: float) -> tuple[float, float]:
    """Frames per wall-clock second and per CPU second of this thread, of ``fn`` over
    ``requests`` (cycled) for about ``seconds``."""
    n, start, cpu = 0, time.perf_counter(), time.thread_time()
    while (elapsed := time.perf_counter() - start) < seconds or n == 0:
        fn(requests[n % len(requests)])
        n += 1
    return n / elapsed, n / max(time.thread_time() - cpu, 1e-9)


def max_pixel_difference(a: RenderOne, b: RenderOne, requests: Sequence[RenderRequest]) -> int:
    """The largest absolute difference of any channel of any pixel between ``a`` and ``b``."""
    return max(int(np.abs(a(r).astype(np.int16) - b(r).astype(np.int16)).max()) for r in requests)


def bench_warp(cfg: AppConfig, sizes: Sequence[int] = (256, 512), seconds: float = 1.0, rounds: int = 5,
               character: str = "") -> list[dict[str, Any]]:
    """Rows per size: baseline and current frames/s (median over ``rounds`` alternating
    rounds of ``seconds`` each), their ratio, and the max pixel difference.

    Frames/s are given per CPU second of the rendering thread (``cpu_*``: what one core
    renders, least moved by other load on a shared machine) and per wall-clock second."""
    from facecast.apps.bench import warp_baseline

    pin_one_thread()
    store = CharacterStore(cfg.store.root or None)
    ch = store.load(character) if character else store.ensure_default()
    poses = procedural_performance(ch.neutral, seconds=4.0, fps=25.0)
    renderer = WarpRenderer()
    handle: WarpCharacter = renderer.prepare(ch.assets())
    paths: dict[str, RenderOne] = {"baseline": warp_baseline.render_one, "current": render_one}
    rows = []
    try:
        for size in sizes:
            reqs = [RenderRequest(handle, p, "mediapipe478", size, size) for p in poses]
            diff = max_pixel_difference(paths["current"], paths["baseline"], reqs)  # also warms the caches
            wall: dict[str, list[float]] = {name: [] for name in paths}
            cpu: dict[str, list[float]] = {name: [] for name in paths}
            for r in range(rounds):
                for name in (paths if r % 2 == 0 else reversed(list(paths))):
                    w, c = _fps(paths[name], reqs, seconds)
                    wall[name].append(w)
                    cpu[name].append(c)
            row: dict[str, Any] = {"character": ch.name, "size": size, "rounds": rounds,
                                   "seconds_per_round": seconds, "max_pixel_difference": diff}
            for clock, fps in (("cpu", cpu), ("wall", wall)):
                ratios = [c / b for c, b in zip(fps["current"], fps["baseline"])]
                row |= {f"{clock}_baseline_fps": statistics.median(fps["baseline"]),
                        f"{clock}_current_fps": statistics.median(fps["current"]),
                        f"{clock}_ratio": statistics.median(ratios), f"{clock}_ratio_min": min(ratios),
                        f"{clock}_ratio_max": max(ratios), f"{clock}_baseline_fps_rounds": fps["baseline"],
                        f"{clock}_current_fps_rounds": fps["current"]}
            log.info("%s", row)
            rows.append(row)
    finally:
        renderer.close()
    return rows


def format_warp(rows: list[dict[str, Any]]) -> str:
    head = (f"{'character':<14}{'size':>6}{'clock':>7}{'baseline fps':>14}{'current fps':>13}{'ratio':>8}"
            f"{'ratio range':>15}{'max px diff':>13}")
    lines = [head]
    for r in rows:
        for clock in ("cpu", "wall"):
            lines.append(f"{r['character']:<14}{r['size']:>6}{clock:>7}{r[clock + '_baseline_fps']:>14.1f}"
                         f"{r[clock + '_current_fps']:>13.1f}{r[clock + '_ratio']:>8.2f}"
                         f"{r[clock + '_ratio_min']:>8.2f}–{r[clock + '_ratio_max']:<6.2f}"
                         f"{r['max_pixel_difference']:>13}")
    lines.append("one thread, batch 1; medians over alternating rounds; cpu = frames per CPU second of the "
                 "rendering thread, wall = per wall-clock second; baseline = facecast.apps.bench.warp_baseline "
                 "(the render path before issue 13)")
    return "\n".join(lines)
