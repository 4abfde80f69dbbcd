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


def _fps(fn: RenderOne, requests: list[RenderRequest], seconds: float) -> float:
    """Frames/s of ``fn`` over ``requests`` (cycled) for about ``seconds``."""
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds or n == 0:
        fn(requests[n % len(requests)])
        n += 1
    return n / elapsed


def max_pixel_difference(a: RenderOne, b: RenderOne, requests: Sequence[RenderRequest]) -> int:
    """The largest absolute difference of any channel of any pixel between ``a`` and ``b``."""
    return max(int(np.abs(a(r).astype(np.int16) - b(r).astype(np.int16)).max()) for r in requests)


def bench_warp(cfg: AppConfig, sizes: Sequence[int] = (256, 512), seconds: float = 1.0, rounds: int = 5,
               character: str = "") -> list[dict[str, Any]]:
    """Rows per size: baseline and current frames/s (median over ``rounds`` alternating
    rounds of ``seconds`` each), their ratio, and the max pixel difference."""
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
            fps: dict[str, list[float]] = {name: [] for name in paths}
            for r in range(rounds):
                for name in (paths if r % 2 == 0 else reversed(list(paths))):
                    fps[name].append(_fps(paths[name], reqs, seconds))
            ratios = [c / b for c, b in zip(fps["current"], fps["baseline"])]
            row = {"character": ch.name, "size": size, "rounds": rounds, "seconds_per_round": seconds,
                   "baseline_fps": statistics.median(fps["baseline"]), "current_fps": statistics.median(fps["current"]),
                   "ratio": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
                   "max_pixel_difference": diff, "baseline_fps_rounds": fps["baseline"],
                   "current_fps_rounds": fps["current"]}
            log.info("%s", row)
            rows.append(row)
    finally:
        renderer.close()
    return rows


def format_warp(rows: list[dict[str, Any]]) -> str:
    head = (f"{'character':<14}{'size':>6}{'baseline fps':>14}{'current fps':>13}{'ratio':>8}"
            f"{'ratio range':>15}{'max px diff':>13}")
    lines = [head]
    for r in rows:
        lines.append(f"{r['character']:<14}{r['size']:>6}{r['baseline_fps']:>14.1f}{r['current_fps']:>13.1f}"
                     f"{r['ratio']:>8.2f}{r['ratio_min']:>8.2f}–{r['ratio_max']:<6.2f}{r['max_pixel_difference']:>13}")
    lines.append("one thread, batch 1; medians over alternating rounds; baseline = "
                 "facecast.apps.bench.warp_baseline (the render path before issue 13)")
    return "\n".join(lines)
