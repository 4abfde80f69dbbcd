"""The meta-learning run behind ``facecast train``: set-up, resume, loop, checkpoints,
metrics and previews.

Files written for ``out = runs/NAME.pt``:

- ``runs/NAME.pt``: the checkpoint (``save_checkpoint``: config JSON + state dicts),
  every ``checkpoint_every`` steps and at the end; ``extra`` holds the step, both
  optimizers' (and grad scalers') states, the train and loss configs as JSON and the
  data set's file names;
- ``runs/NAME.metrics.jsonl``: one JSON object per ``log_every`` steps (mean of every
  loss term over the window, it/s), plus ``reconstruction`` lines (fixed-batch error,
  see ``meta_step.reconstruction``) at the start and with every preview;
- ``runs/NAME.previews/step_000500.png``: preview grids of a fixed batch.

Episode ``i`` of the data set is a pure function of (seed, i) and step ``s`` uses
episodes ``s*B .. s*B+B-1``, so a resumed run sees the data an uninterrupted one would.
On the CPU the whole run is deterministic for a given seed (and thread count).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from facecast.model.networks.config import get_config
from facecast.model.networks.talking_head import TalkingHead, load_checkpoint, save_checkpoint
from facecast.training.content_loss import ContentLoss
from facecast.training.dataset_format import dataset_files
from facecast.training.episodes import Episode, EpisodeDataset, collate_episodes
from facecast.training.losses import LossConfig
from facecast.training.meta_step import (
    PRECISIONS, Optimizers, episode_landmark_images, meta_step, reconstruction,
)
from facecast.training.preview import preview_grid, write_preview

log = logging.getLogger(__name__)

__all__ = ["TrainConfig", "TrainResult", "TrainError", "run_training", "output_paths", "preview_batch"]


class TrainError(ValueError):
    """A training run cannot start (bad option, device, or a checkpoint that does not fit)."""


@dataclass(frozen=True)
class TrainConfig:
    """Options of one meta-learning run (losses are in ``LossConfig``).

    model: config name ("tiny", "realtime", "paper"); None when resuming (taken from the
    checkpoint). steps: total steps to reach (a resumed run continues up to it).
    Learning rates and K as in the paper; Adam betas (0.5, 0.999) (the paper does not say).
    precision: "auto" = bf16 autocast on CUDA where supported, else fp16 with grad
    scaling; fp32 on the CPU.
    """

    model: str | None = None
    steps: int = 10_000
    k: int = 8
    batch: int = 2
    lr_generator: float = 5e-5  # embedder and generator
    lr_discriminator: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    seed: int = 0
    device: str = "cpu"
    precision: str = "auto"
    log_every: int = 10
    checkpoint_every: int = 500
    preview_every: int = 500
    preview_episodes: int = 4
    workers: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "log_every", "checkpoint_every", "preview_episodes"):
            if getattr(self, name) < 1:
                raise TrainError(f"{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.k < 1 or self.batch < 1 or self.workers < 0 or self.preview_every < 0:
            raise TrainError(f"need k >= 1, batch >= 1, workers >= 0, preview-every >= 0; got k={self.k}, "
                             f"batch={self.batch}, workers={self.workers}, preview-every={self.preview_every}")
        if not (self.lr_generator > 0 and self.lr_discriminator > 0):
            raise TrainError("learning rates must be > 0")
        if self.precision not in ("auto", *PRECISIONS):
            raise TrainError(f"precision must be auto, {', '.join(PRECISIONS)}; got {self.precision!r}")


@dataclass
class TrainResult:
    checkpoint: Path
    metrics: Path
    start_step: int
    step: int
    windows: list[dict[str, float]] = field(default_factory=list)  # the metrics lines of this run
    reconstruction_start: float | None = None
    reconstruction_end: float | None = None
    previews: list[Path] = field(default_factory=list)


def output_paths(out: str | Path) -> tuple[Path, Path, Path]:
    """(checkpoint, metrics JSONL, previews directory) for ``--out``."""
    ckpt = Path(out)
    stem = ckpt.with_suffix("") if ckpt.suffix else ckpt
    return ckpt, stem.with_name(stem.name + ".metrics.jsonl"), stem.with_name(stem.name + ".previews")


def _device(name: str) -> torch.device:
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise TrainError("--device cuda: no CUDA device is available to this torch "
                         f"({torch.__version__}); use --device cpu")
    if dev.type not in ("cpu", "cuda"):
        raise TrainError(f"--device must be cpu or cuda, got {name!r}")
    return dev


def _precision(requested: str, device: torch.device) -> str:
    if device.type != "cuda":
        if requested not in ("auto", "fp32"):
            raise TrainError(f"--precision {requested} needs --device cuda (the CPU trains in fp32)")
        return "fp32"
    if requested != "auto":
        return requested
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def preview_batch(dataset: EpisodeDataset, count: int) -> Episode:
    """A fixed batch independent of the seed: episode j uses video j mod V, its K + 1
    frames evenly spaced over the video (the last one is the target)."""
    episodes = []
    for j in range(count):
        video = j % dataset.num_videos
        n = len(dataset.records[video])
        picks = np.linspace(0, n - 1, dataset.k + 1).round().astype(np.int64)
        episodes.append(dataset.episode(video, picks))
    return collate_episodes(episodes)


def _optimizers(model: TalkingHead, cfg: TrainConfig, precision: str) -> Optimizers:
    g_params = [*model.embedder.parameters(), *model.generator.parameters()]
    fp16 = precision == "fp16"
    device_type = next(model.parameters()).device.type
    return Optimizers(
        generator=torch.optim.Adam(g_params, lr=cfg.lr_generator, betas=cfg.betas),
        discriminator=torch.optim.Adam(model.discriminator.parameters(), lr=cfg.lr_discriminator, betas=cfg.betas),
        scaler_g=torch.amp.GradScaler(device_type, enabled=fp16),
        scaler_d=torch.amp.GradScaler(device_type, enabled=fp16),
    )


def _load_or_create(cfg: TrainConfig, dataset_root: Path, resume: Path | None,
                    device: torch.device) -> tuple[TalkingHead, dict[str, Any]]:
    if resume is None:
        if cfg.model is None:
            raise TrainError("give --config NAME (tiny, realtime, paper) or --resume CKPT")
        model_cfg = get_config(cfg.model)
        torch.manual_seed(cfg.seed)
        model = TalkingHead(model_cfg, num_videos=len(dataset_files(dataset_root)))
        return model.to(device), {}
    model, extra = load_checkpoint(resume, map_location=device)
    if cfg.model is not None and cfg.model != model.cfg.name:
        raise TrainError(f"--config {cfg.model} does not match the checkpoint {resume} (config {model.cfg.name})")
    if "step" not in extra or "optimizers" not in extra:
        raise TrainError(f"{resume} holds no training state (step, optimizers); it cannot be resumed")
    return model, extra


def _write_jsonl(path: Path, row: dict[str, Any]) -> None:
    with path.open("a") as fh:
        fh.write(json.dumps(row) + "\n")


def _save(out: Path, model: TalkingHead, opt: Optimizers, step: int, cfg: TrainConfig, losses: LossConfig,
          dataset: EpisodeDataset) -> None:
    extra = {
        "step": step,
        "optimizers": {"generator": opt.generator.state_dict(), "discriminator": opt.discriminator.state_dict()},
        "scalers": {"generator": opt.scaler_g.state_dict(), "discriminator": opt.scaler_d.state_dict()},
        "train_config_json": json.dumps(dataclasses.asdict(cfg)),
        "loss_config_json": json.dumps(dataclasses.asdict(losses)),
        "dataset_files": [Path(r.source).name for r in dataset.records],
    }
    save_checkpoint(out, model, extra)


def run_training(dataset_dir: str | Path, out: str | Path, cfg: TrainConfig, losses: LossConfig | None = None,
                 resume: str | Path | None = None, progress: bool = True) -> TrainResult:
    """Meta-learning on the data set at ``dataset_dir``; see the module docstring."""
    losses = losses or LossConfig()
    device = _device(cfg.device)
    precision = _precision(cfg.precision, device)
    content = ContentLoss(losses).to(device)  # first: a missing VGG file fails before any work
    root = Path(dataset_dir)
    model, extra = _load_or_create(cfg, root, Path(resume) if resume else None, device)
    dataset = EpisodeDataset(root, cfg.k, image_size=model.cfg.image_size, seed=cfg.seed)
    if dataset.num_videos != model.num_videos:
        raise TrainError(f"the data set {root} has {dataset.num_videos} videos, the checkpoint was trained on "
                         f"{model.num_videos}; resume with the same data set")
    if dataset.image_size > dataset.stored_size:
        log.warning("data set frames are %d², config %s upsamples them to %d²", dataset.stored_size,
                    model.cfg.name, dataset.image_size)
    opt = _optimizers(model, cfg, precision)
    start = 0
    if extra:
        start = int(extra["step"])
        opt.generator.load_state_dict(extra["optimizers"]["generator"])
        opt.discriminator.load_state_dict(extra["optimizers"]["discriminator"])
        scalers = extra.get("scalers") or {}
        if scalers and precision == "fp16":
            opt.scaler_g.load_state_dict(scalers["generator"])
            opt.scaler_d.load_state_dict(scalers["discriminator"])
        names = [Path(r.source).name for r in dataset.records]
        if extra.get("dataset_files") and extra["dataset_files"] != names:
            log.warning("resuming on other videos than the checkpoint's: %s vs %s", names, extra["dataset_files"])
    ckpt_path, metrics_path, previews_dir = output_paths(out)
    metrics_path.parent.mkdir(parents=True, exist_ok=True)
    if not extra:
        metrics_path.write_text("")  # a fresh run starts a fresh log
    fixed = preview_batch(dataset, cfg.preview_episodes).to(device)
    result = TrainResult(checkpoint=ckpt_path, metrics=metrics_path, start_step=start, step=start)
    result.reconstruction_start, _ = reconstruction(model, fixed)
    _write_jsonl(metrics_path, {"step": start, "reconstruction": result.reconstruction_start})
    log.info("training %s (%d videos, K=%d, batch %d) on %s in %s from step %d to %d", model.cfg.name,
             dataset.num_videos, cfg.k, cfg.batch, device, precision, start, cfg.steps)

    model.train()
    loader = DataLoader(dataset, batch_size=cfg.batch, sampler=range(start * cfg.batch, cfg.steps * cfg.batch),
                        collate_fn=collate_episodes, num_workers=cfg.workers, pin_memory=device.type == "cuda")
    sums: dict[str, torch.Tensor] = {}
    window, t_window = 0, time.perf_counter()
    step = start
    bar = tqdm(total=cfg.steps, initial=start, desc=f"train {model.cfg.name}", unit="step", disable=not progress)
    try:
        for batch in loader:
            res = meta_step(model, batch.to(device), content, losses, opt, precision)
            step += 1
            window += 1
            for key, value in res.logged.items():
                sums[key] = sums[key] + value if key in sums else value.clone()
            last = step == cfg.steps
            if step % cfg.log_every == 0 or last:
                elapsed = time.perf_counter() - t_window
                row = {"step": step, **{k: float(v) / window for k, v in sums.items()},
                       "it_per_s": window / elapsed if elapsed > 0 else 0.0}
                _write_jsonl(metrics_path, row)
                result.windows.append(row)
                bar.set_postfix(g=f"{row['g_total']:.3f}", d=f"{row['d_total']:.3f}",
                                content=f"{row['g_content']:.3f}")
                sums, window, t_window = {}, 0, time.perf_counter()
            if cfg.preview_every and (step % cfg.preview_every == 0 or last):
                value, output = reconstruction(model, fixed)
                result.reconstruction_end = value
                _write_jsonl(metrics_path, {"step": step, "reconstruction": value})
                k = fixed.frames.shape[1] - 1
                with torch.no_grad():
                    lmk = episode_landmark_images(model, fixed)[:, k]
                grid = preview_grid(fixed.frames[:, 0], lmk, output, fixed.frames[:, k])
                result.previews.append(write_preview(previews_dir / f"step_{step:06d}.png", grid))
            if step % cfg.checkpoint_every == 0 or last:
                _save(ckpt_path, model, opt, step, cfg, losses, dataset)
            bar.update(1)
    finally:
        bar.close()
    result.step = step
    if step == start:
        log.info("checkpoint %s is already at step %d >= --steps %d; nothing to do", resume, start, cfg.steps)
    if result.reconstruction_end is None:
        result.reconstruction_end, _ = reconstruction(model, fixed)
    return result

