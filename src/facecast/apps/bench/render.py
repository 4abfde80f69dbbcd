"""`facecast bench warp` (and any renderer): frames/s per output size and batch size,
on the built-in character driven by the procedural performance. Figures, not asserts."""

from __future__ import annotations

import logging
import time
from typing import Any, Sequence

from facecast.characters.store import CharacterStore
from facecast.config import AppConfig
from facecast.render.base import RenderRequest, create_renderer
from facecast.tracking.procedural import procedural_performance

log = logging.getLogger(__name__)


def bench_renderer(cfg: AppConfig, renderer_name: str = "warp", sizes: Sequence[int] = (256, 512),
                   batches: Sequence[int] = (1, 8), seconds: float = 2.0) -> list[dict[str, Any]]:
    store = CharacterStore(cfg.store.root or None)
    character = store.ensure_default()
    poses = procedural_performance(character.neutral, seconds=4.0, fps=25.0)
    renderer = create_renderer(renderer_name)
    rows = []
    try:
        handle = renderer.prepare(character.assets())
        for size in sizes:
            for batch in batches:
                def make(i: int) -> list[RenderRequest]:
                    return [RenderRequest(handle, poses[(i * batch + j) % len(poses)], "mediapipe478", size, size)
                            for j in range(batch)]

                renderer.render(make(0))  # warm per-size caches
                frames, n, start = 0, 0, time.perf_counter()
                while (elapsed := time.perf_counter() - start) < seconds or n == 0:
                    renderer.render(make(n))
                    frames += batch
                    n += 1
                row = {"renderer": renderer_name, "size": size, "batch": batch, "frames": frames,
                       "fps": frames / elapsed, "ms_per_frame": 1000.0 * elapsed / frames}
                log.info("%s", row)
                rows.append(row)
    finally:
        renderer.close()
    return rows


def format_render(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'renderer':<10}{'size':>6}{'batch':>7}{'fps':>10}{'ms/frame':>10}"]
    lines += [f"{r['renderer']:<10}{r['size']:>6}{r['batch']:>7}{r['fps']:>10.1f}{r['ms_per_frame']:>10.2f}" for r in rows]
    return "\n".join(lines)
