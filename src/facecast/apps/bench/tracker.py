"""`facecast bench tracker`: the webcam tracker's figures (docs/tracker.md, docs/benchmarks.md).

1. MediaPipe FaceLandmarker frames/s on this CPU, VIDEO mode, with and without the
   blendshape model (frames decoded beforehand: landmarker time only).
2. The One Euro filter on real landmarks: frame-to-frame jitter on a still face (one real
   frame repeated with camera noise, sigma 8 grey levels) relative to the raw landmarks,
   and the lag on the moving video (the delay that best aligns the filtered landmarks with
   the raw ones, all points and the mouth opening), for the [tracker] defaults and other
   settings.
3. `facecast track --video` end to end against a daemon in its own process (warp
   renderer, 256 x 256 RGBA), frames paced at the video's rate as a camera would deliver
   them: the latency of each stage (facecast.client.pose_link).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from facecast.config import AppConfig

log = logging.getLogger(__name__)

__all__ = ["add_tracker_bench_arguments", "run_tracker_bench", "jitter_px", "lag_s"]

STILL_NOISE = 8.0  # grey levels of camera noise on the repeated frame
FILTER_SETTINGS = ((1.0, 30.0), (1.0, 0.5), (1.7, 0.7), (1.0, 10.0), (1.5, 30.0))  # (min_cutoff, beta)


def jitter_px(points: np.ndarray, image_size: tuple[int, int], skip: int = 10) -> float:
    """RMS frame-to-frame motion of ``T x N x 3`` normalised landmarks, in pixels (x, y),
    after the first ``skip`` frames."""
    px = np.array(image_size, dtype=np.float64)
    step = np.diff(np.asarray(points, np.float64)[skip:, :, :2], axis=0) * px
    return float(np.sqrt((step**2).sum(-1).mean()))


def lag_s(raw: np.ndarray, filtered: np.ndarray, t: np.ndarray, max_s: float = 0.25) -> float:
    """The delay ``tau`` (seconds, 2 ms steps) that minimises ``|filtered(t) - raw(t - tau)|^2``
    over ``T x ...`` signals sampled at times ``t`` (raw linearly interpolated)."""
    raw = np.asarray(raw, np.float64).reshape(len(t), -1)
    filtered = np.asarray(filtered, np.float64).reshape(len(t), -1)
    best, best_err = 0.0, np.inf
    for tau in np.arange(0.0, max_s, 0.002):
        tt = t - tau
        ok = tt >= t[0]
        i = np.clip(np.searchsorted(t, tt[ok]) - 1, 0, len(t) - 2)
        a = ((tt[ok] - t[i]) / (t[i + 1] - t[i]))[:, None]
        err = float(((filtered[ok] - (raw[i] * (1 - a) + raw[i + 1] * a)) ** 2).mean())
        if err < best_err:
            best, best_err = float(tau), err
    return best


def _decode(video: Path, frames: int) -> list[Any]:
    from facecast.capture.camera import open_source

    with open_source(video=video, max_frames=frames) as src:
        out = []
        while (frame := src.read()) is not None:
            out.append(frame)
    return out


def bench_landmarker(frames: list[Any], blendshapes: bool) -> dict[str, Any]:
    from facecast.capture.live import StreamLandmarker

    with StreamLandmarker("video", blendshapes=blendshapes) as lm:
        for frame in frames[:5]:  # warm-up (graph start, first inference)
            lm.detect(frame)
        times = []
        for frame in frames[5:]:
            start = time.perf_counter()
            lm.detect(frame)
            times.append(time.perf_counter() - start)
    ms = np.array(times) * 1e3
    return {"blendshapes": blendshapes, "frames": len(times), "fps": float(len(times) / (ms.sum() / 1e3)),
            "ms_p50": float(np.percentile(ms, 50)), "ms_p99": float(np.percentile(ms, 99))}


def bench_filter(frames: list[Any], cfg: AppConfig) -> list[dict[str, Any]]:
    from facecast.capture.camera import CapturedFrame
    from facecast.capture.live import StreamLandmarker
    from facecast.tracking.one_euro import OneEuroFilter

    with StreamLandmarker("video") as lm:
        dets = [lm.detect(f) for f in frames]
    moving = [(d.face.points, d.frame.timestamp_s) for d in dets if d.face is not None]
    raw = np.stack([p for p, _ in moving]).astype(np.float64)
    t = np.array([ts for _, ts in moving])
    rng = np.random.default_rng(0)
    base = frames[min(10, len(frames) - 1)].rgb.astype(np.float32)
    still = []
    with StreamLandmarker("video") as lm:
        for i in range(90):
            noisy = np.clip(base + rng.normal(0, STILL_NOISE, base.shape), 0, 255).astype(np.uint8)
            det = lm.detect(CapturedFrame(i, i / 30.0, 0.0, noisy))
            if det.face is not None:
                still.append(det.face.points)
    still_arr = np.stack(still).astype(np.float64)
    t_still = np.arange(len(still_arr)) / 30.0
    size = frames[0].size
    mouth = lambda p: (p[:, 14, 1] - p[:, 13, 1])[:, None]  # noqa: E731 (inner lip gap)
    rows = []
    settings = dict.fromkeys([(cfg.tracker.min_cutoff, cfg.tracker.beta), *FILTER_SETTINGS])
    def run(values: np.ndarray, times: np.ndarray, min_cutoff: float, beta: float) -> np.ndarray:
        f = OneEuroFilter(min_cutoff, beta, cfg.tracker.d_cutoff)
        return np.stack([f(v, s) for v, s in zip(values, times)])

    for min_cutoff, beta in settings:
        smooth_still, smooth_moving = run(still_arr, t_still, min_cutoff, beta), run(raw, t, min_cutoff, beta)
        rows.append({
            "min_cutoff": min_cutoff, "beta": beta,
            "default": (min_cutoff, beta) == (cfg.tracker.min_cutoff, cfg.tracker.beta),
            "still_jitter_raw_px": jitter_px(still_arr, size), "still_jitter_px": jitter_px(smooth_still, size),
            "lag_ms": 1e3 * lag_s(raw[:, :, :2], smooth_moving[:, :, :2], t),
            "mouth_lag_ms": 1e3 * lag_s(mouth(raw), mouth(smooth_moving), t),
            "mouth_speed_kept": float(np.std(np.diff(mouth(smooth_moving)[:, 0])) / np.std(np.diff(mouth(raw)[:, 0]))),
        })
    return rows


def bench_track(cfg: AppConfig, video: Path, seconds: float | None) -> dict[str, Any]:
    from facecast.apps.bench.processes import ServerProcess
    from facecast.apps.track import TrackOptions, run_track
    from facecast.capture.camera import open_source
    from facecast.characters.store import CharacterStore

    store = CharacterStore(cfg.store.root or None)
    store.ensure_default()
    with ServerProcess(["-m", "facecast.apps.cli", "serve", "--bind", "tcp://127.0.0.1:0", "--renderer", "warp",
                        "--store", str(store.root)]) as daemon:
        with open_source(video=video, realtime=True) as src:
            report = run_track(cfg, src, TrackOptions(endpoint=daemon.endpoint, character="default",
                                                      max_seconds=seconds))
    return {"frames": report.frames, "frames_received": report.frames_received, "fps": report.fps,
            "superseded": report.superseded, "stages": report.stages, "table": report.stage_table}


def format_tracker(result: dict[str, Any]) -> str:
    lines = [f"MediaPipe FaceLandmarker, VIDEO mode, {result['video']} ({result['size'][0]}x{result['size'][1]}):"]
    lines.append("| blendshapes | frames | frames/s | ms p50 | ms p99 |")
    lines.append("|---|---|---|---|---|")
    for row in result["landmarker"]:
        lines.append(f"| {'yes' if row['blendshapes'] else 'no'} | {row['frames']} | {row['fps']:.1f} | "
                     f"{row['ms_p50']:.2f} | {row['ms_p99']:.2f} |")
    lines.append("")
    lines.append(f"One Euro filter: still-face jitter (one frame + noise sigma {STILL_NOISE:g}) and lag on the video:")
    lines.append("| min_cutoff | beta | still jitter px (raw -> filtered) | ratio | lag ms | mouth lag ms "
                 "| mouth speed kept |")
    lines.append("|---|---|---|---|---|---|---|")
    for r in result["filter"]:
        mark = " (default)" if r["default"] else ""
        lines.append(f"| {r['min_cutoff']:g} | {r['beta']:g}{mark} | {r['still_jitter_raw_px']:.3f} -> "
                     f"{r['still_jitter_px']:.3f} | {r['still_jitter_px'] / r['still_jitter_raw_px']:.2f} | "
                     f"{r['lag_ms']:.0f} | {r['mouth_lag_ms']:.0f} | {r['mouth_speed_kept']:.2f} |")
    if result.get("track"):
        t = result["track"]
        lines.append("")
        lines.append(f"facecast track --video (paced at the video's rate), daemon warp 256x256: {t['frames']} frames, "
                     f"{t['frames_received']} rendered frames back at {t['fps']:.1f} fps, {t['superseded']} superseded")
        lines.append(t["table"])
    return "\n".join(lines)


def add_tracker_bench_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `facecast bench tracker` (besides --config/--set/-v and --store)."""
    p.add_argument("--video", type=Path, required=True,
                   help="a talking-head video (e.g. ../shared/data/videos/d12.mp4)")
    p.add_argument("--frames", type=int, default=300, help="frames for the landmarker and filter figures")
    p.add_argument("--seconds", type=float, help="limit the end-to-end track run to this long")
    p.add_argument("--no-track", action="store_true", help="skip the end-to-end run against a daemon")
    p.add_argument("--json", type=Path, help="also write the figures as JSON here")


def run_tracker_bench(cfg: AppConfig, args: argparse.Namespace) -> int:
    frames = _decode(args.video, args.frames)
    if len(frames) < 20:
        raise ValueError(f"{args.video}: only {len(frames)} frames; the tracker benchmark needs at least 20")
    result: dict[str, Any] = {"video": str(args.video), "size": list(frames[0].size)}
    log.info("landmarker frames/s over %d frames ...", len(frames))
    result["landmarker"] = [bench_landmarker(frames, True), bench_landmarker(frames, False)]
    log.info("One Euro filter figures ...")
    result["filter"] = bench_filter(frames, cfg)
    if not args.no_track:
        log.info("facecast track --video end to end ...")
        result["track"] = bench_track(cfg, args.video, args.seconds)
    sys.stdout.write(format_tracker(result) + "\n")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0
