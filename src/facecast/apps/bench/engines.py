"""`facecast bench render`: the generator's frames/s and latency per engine, config and batch.

For each model config (tiny, realtime, paper) and engine (torch, onnx): batches of 1, 4, 8,
16, 32 through ``Engine.run`` on whatever device is present, timed call by call (CUDA
synchronised), after three warm-up calls. Only the engine is timed: the landmark
rasterizer and the frame conversion are not included. Without ``--checkpoint`` the models
are random-weight ones built here (the speed of a network does not depend on its weights),
and the output says so. The onnx engine runs a graph exported here into a temporary
folder (tens of seconds per config on a CPU; minutes for ``paper``).

On a CPU the ``paper`` config (~61 GFLOPs a frame) runs batches 1 and 4 only, and each
cell at least ``--min-iters`` calls. The ratios reported: ``ort_vs_torch`` (torch ms per
frame / onnx ms per frame at the same batch: > 1 means ONNX Runtime is faster) and
``batch8_vs_batch1`` (ms per frame at batch 8 / at batch 1: < 1 means batching pays).
The engines are timed in turn, call by call, so that other load on the machine falls on
each alike; the ratios use the median call. Figures, not asserts.

torch and onnxruntime are imported when the bench runs (the CLI imports this module at start).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from facecast.apps.bench.machine import load_average, machine_description
from facecast.config import AppConfig, add_knob_flags

log = logging.getLogger(__name__)

CONFIGS = ("tiny", "realtime", "paper")
ENGINES = ("torch", "onnx")
BATCHES = (1, 4, 8, 16, 32)
PAPER_CPU_BATCHES = (1, 4)
# Calls before timing starts: torch's first CPU calls at a new shape take ~1 s (oneDNN
# primitive creation), measured on the tiny config; three cover it.
WARMUP_CALLS = 3


def _time_engines(engines: Sequence[Any], batch: int, seconds: float, min_iters: int) -> list[dict[str, Any]]:
    """Time ``engines`` on one batch size, call by call in turn (engine 1, engine 2, engine 1,
    ...), so that other load on the machine falls on all of them alike; one row each."""
    import torch

    first = engines[0]
    s, a = first.image_size, first.adain_size
    gen = torch.Generator().manual_seed(batch)
    x = torch.rand(batch, 3, s, s, generator=gen)  # (B, 3, S, S) landmark images
    p = 0.1 * torch.randn(batch, a, generator=gen)  # (B, A) AdaIN parameters
    inputs = [(x.to(e.device), p.to(e.device)) for e in engines]
    syncs = [torch.cuda.synchronize if e.device.type == "cuda" else (lambda: None) for e in engines]
    for e, (xe, pe), sync in zip(engines, inputs, syncs):
        for _ in range(WARMUP_CALLS):  # oneDNN/cuDNN kernel selection per shape, allocators, ORT arena
            e.run(xe, pe)
        sync()
    latencies: list[list[float]] = [[] for _ in engines]
    start = time.perf_counter()
    while len(latencies[0]) < min_iters or time.perf_counter() - start < seconds * len(engines):
        for e, (xe, pe), sync, lat in zip(engines, inputs, syncs, latencies):
            t0 = time.perf_counter()
            e.run(xe, pe)
            sync()
            lat.append(time.perf_counter() - t0)
    rows = []
    for lat in latencies:
        total = sum(lat)
        p50, p99 = (float(v) for v in np.percentile(lat, [50, 99], method="nearest"))
        rows.append({"batch": batch, "iters": len(lat), "fps": batch * len(lat) / total,
                     "ms_per_frame": 1000 * total / (batch * len(lat)), "p50_ms_per_frame": 1000 * p50 / batch,
                     "p50_ms": 1000 * p50, "p99_ms": 1000 * p99})
    return rows


def _engine_options(cfg: AppConfig, name: str, batches: Sequence[int], cuda_graphs: bool) -> dict[str, Any]:
    r = cfg.render
    if name == "torch":
        return {"precision": r.precision, "compile": r.compile,
                "cuda_graph_batches": tuple(batches) if cuda_graphs else r.cuda_graph_batches}
    return {"providers": r.providers, "threads": r.threads, "trt_cache_dir": r.trt_cache_dir, "trt_fp16": r.trt_fp16,
            "trt_max_batch": max(r.trt_max_batch, *batches)}


def bench_engines(cfg: AppConfig, configs: Sequence[str] = CONFIGS, engines: Sequence[str] = ENGINES,
                  batches: Sequence[int] = BATCHES, checkpoint: Path | None = None, device: str = "auto",
                  seconds: float = 2.0, min_iters: int = 3, cuda_graphs: bool = False,
                  threads: int = 0) -> dict[str, Any]:
    """Time every (config, engine, batch); returns {"meta", "rows", "ratios", "notes"}.

    threads: CPU threads for both engines (torch.set_num_threads and ORT's intra-op
    threads); 0 leaves torch's default and [render] threads.
    """
    import torch

    from facecast.core.filehash import sha256_of
    from facecast.model.networks import TalkingHead, get_config, load_checkpoint, save_checkpoint
    from facecast.model.neural_model import resolve_device
    from facecast.model.engines.base import create_engine
    from facecast.model.engines.export import export_onnx

    dev = resolve_device(device)
    if threads > 0:
        torch.set_num_threads(threads)
        cfg = dataclasses.replace(cfg, render=dataclasses.replace(cfg.render, threads=threads))
    notes = ["engine only: the landmark rasterizer and the uint8 conversion are not timed"]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="facecast-bench-") as tmp:
        plans: list[tuple[str, Path, TalkingHead]] = []
        if checkpoint is not None:
            model, _ = load_checkpoint(checkpoint)
            plans.append((model.cfg.name, Path(checkpoint), model))
            notes.append(f"weights: {checkpoint}")
        else:
            for name in configs:
                torch.manual_seed(0)
                path = Path(tmp) / f"{name}.pt"
                model = TalkingHead(get_config(name), num_videos=1)
                save_checkpoint(path, model)  # the onnx export and the manifest's hash read the file
                plans.append((name, path, model))
            notes.append("weights: random (built by the bench; no --checkpoint given)")
        for name, path, model in plans:
            cfg_batches = list(batches)
            if name == "paper" and dev.type == "cpu":
                cfg_batches = [b for b in batches if b in PAPER_CPU_BATCHES] or [min(batches)]
                notes.append(f"paper on CPU: batches {','.join(map(str, cfg_batches))} only, >= {min_iters} calls each")
            onnx_path = Path(tmp) / f"{name}.onnx"
            if "onnx" in engines:
                log.info("bench render: exporting %s to ONNX (once per config)", name)
                export_onnx(path, onnx_path, verify=False)
            with contextlib.ExitStack() as stack:
                built = []
                for engine_name in engines:
                    options = _engine_options(cfg, engine_name, cfg_batches, cuda_graphs)
                    if engine_name == "onnx":
                        options["onnx_model"] = str(onnx_path)
                    built.append(stack.enter_context(create_engine(engine_name, model.generator, sha256_of(path),
                                                                   device=device, **options)))
                for batch in cfg_batches:
                    for eng, timed in zip(built, _time_engines(built, batch, seconds, min_iters)):
                        row = {"config": name, "engine": eng.name, "provider": eng.provider,
                               "precision": eng.precision, "device": str(eng.device), **timed}
                        log.info("bench render: %s", row)
                        rows.append(row)
    return {"meta": _meta(dev), "rows": rows, "ratios": ratios(rows), "notes": notes}


def ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ORT vs torch per (config, batch), and batch-8 vs batch-1 per-frame cost per (config,
    engine), from the median call (``p50_ms_per_frame``): stalls from other work on the
    machine move the mean far more than the median."""
    by = {(r["config"], r["engine"], r["batch"]): r["p50_ms_per_frame"] for r in rows}
    out: list[dict[str, Any]] = []
    for (config, engine, batch), ms in by.items():
        if engine == "torch" and (config, "onnx", batch) in by:
            out.append({"config": config, "batch": batch, "ratio": "ort_vs_torch",
                        "value": ms / by[(config, "onnx", batch)]})
        if batch == 8 and (config, engine, 1) in by:
            out.append({"config": config, "engine": engine, "ratio": "batch8_vs_batch1",
                        "value": ms / by[(config, engine, 1)]})
    return out


def _meta(dev: Any) -> dict[str, Any]:
    import torch

    meta: dict[str, Any] = {"device": str(dev), **machine_description(), "torch": torch.__version__,
                            "torch_threads": torch.get_num_threads(), "load_average": load_average()}
    if dev.type == "cuda":
        meta["gpu"] = torch.cuda.get_device_name(dev)
    try:
        import onnxruntime

        meta["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        meta["onnxruntime"] = None
    return meta


def format_engines(result: dict[str, Any]) -> str:
    m = result["meta"]
    lines = [f"device {m['device']}{' (' + m['gpu'] + ')' if m.get('gpu') else ''}, {m['cpus']} CPUs, "
             f"torch {m['torch']} ({m['torch_threads']} threads), onnxruntime {m['onnxruntime']}, "
             f"load average {m['load_average']}"]
    lines += [f"note: {n}" for n in result["notes"]]
    lines.append(f"{'config':<10}{'engine':<7}{'provider':<34}{'batch':>6}{'fps':>10}{'ms/frame':>10}"
                 f"{'p50/frame':>10}{'p50 ms':>9}{'p99 ms':>9}{'calls':>7}")
    for r in result["rows"]:
        lines.append(f"{r['config']:<10}{r['engine']:<7}{r['provider'][:33]:<34}{r['batch']:>6}{r['fps']:>10.1f}"
                     f"{r['ms_per_frame']:>10.2f}{r['p50_ms_per_frame']:>10.2f}{r['p50_ms']:>9.2f}"
                     f"{r['p99_ms']:>9.2f}{r['iters']:>7}")
    for q in sorted(result["ratios"], key=lambda q: (q["ratio"], q["config"], q.get("batch", 0), q.get("engine", ""))):
        where = f"{q['config']} batch {q['batch']}" if "batch" in q else f"{q['config']} {q['engine']}"
        lines.append(f"ratio {q['ratio']:<17} {where:<24} {q['value']:.2f}")
    return "\n".join(lines)


def add_render_bench_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--configs", default=",".join(CONFIGS), help="model configs (default tiny,realtime,paper)")
    p.add_argument("--engines", default=",".join(ENGINES), help="engines (default torch,onnx)")
    p.add_argument("--batches", default=",".join(map(str, BATCHES)), help="batch sizes (default 1,4,8,16,32)")
    p.add_argument("--checkpoint", type=Path, help="time this checkpoint (its config) instead of random weights")
    add_knob_flags(p, "render.device")
    p.add_argument("--seconds", type=float, default=2.0, help="time per cell (default 2)")
    p.add_argument("--min-iters", type=int, default=3, help="at least this many calls per cell (default 3)")
    p.add_argument("--threads", type=int, default=0,
                   help="CPU threads for both engines (default: torch's default, [render] threads for ORT)")
    p.add_argument("--cuda-graphs", action="store_true", help="torch engine on CUDA: capture every benched batch")
    p.add_argument("--json", type=Path, help="also write the figures as JSON here")
    p.add_argument("--plot", type=Path, help="also plot frames/s and p99 latency against batch size (PNG)")


def run_render_bench(cfg: AppConfig, args: argparse.Namespace) -> int:
    def names(text: str) -> list[str]:
        return [t.strip() for t in text.split(",") if t.strip()]

    try:
        batches = [int(b) for b in names(args.batches)]
    except ValueError:
        raise ValueError(f"--batches takes integers, got {args.batches!r}") from None
    result = bench_engines(cfg, names(args.configs), names(args.engines), batches, args.checkpoint, cfg.render.device,
                           args.seconds, args.min_iters, args.cuda_graphs, args.threads)
    result["command"] = "facecast " + " ".join(sys.argv[1:])
    sys.stdout.write(format_engines(result) + "\n")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    if args.plot:
        from facecast.apps.bench.plot import plot_rows

        rows = [dict(r, series=f"{r['config']} {r['engine']}") for r in result["rows"]]
        plot_rows(rows, x="batch", y=["fps", "p99_ms"], series="series", path=args.plot, log_x=True, log_y=True,
                  title=f"generator engines on {result['meta']['device']}")
    return 0
