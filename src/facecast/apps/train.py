"""`facecast train` arguments and runner (torch is imported only when it runs).

Its ``--config`` names the model config (tiny, realtime, paper), not a TOML file like
the other commands' ``--config``: the parser stores it as ``model_config`` and leaves
the app config at its defaults.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from facecast.config import AppConfig

log = logging.getLogger(__name__)

__all__ = ["add_train_arguments", "run_train", "parse_loss_overrides"]

MODEL_CONFIG_NAMES = ("tiny", "realtime", "paper")  # checked against models.CONFIGS when it runs


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `facecast train` (it does not take the common TOML --config/--set)."""
    parser.add_argument("dataset", type=Path, help="data set directory from `facecast dataset build`")
    parser.add_argument("--config", dest="model_config", metavar="NAME",
                        help=f"model config: {', '.join(MODEL_CONFIG_NAMES)} (required unless --resume)")
    parser.add_argument("--out", type=Path, required=True, help="checkpoint file to write, e.g. runs/realtime.pt")
    parser.add_argument("--steps", type=int, default=10_000, help="total steps (a resumed run continues to it)")
    parser.add_argument("--k", type=int, default=8, help="shots per episode for the embedder (default 8)")
    parser.add_argument("--batch", type=int, default=2, help="episodes per step (default 2)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                        help="CUDA autocast precision (auto: bf16 where supported, else fp16); the CPU uses fp32")
    parser.add_argument("--resume", type=Path, help="continue from this checkpoint (weights, optimizers, step)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-every", type=int, default=10, help="steps per metrics line (default 10)")
    parser.add_argument("--checkpoint-every", type=int, default=500, help="steps between checkpoints (default 500)")
    parser.add_argument("--preview-every", type=int, default=500,
                        help="steps between preview grids (and one at the end); 0 = none (default 500)")
    parser.add_argument("--lr-g", type=float, default=5e-5, help="embedder + generator learning rate (paper: 5e-5)")
    parser.add_argument("--lr-d", type=float, default=2e-4, help="discriminator learning rate (paper: 2e-4)")
    parser.add_argument("--workers", type=int, default=0, help="data loader worker processes (default 0)")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--vgg19", type=Path, help="local VGG19 weights (torchvision vgg19-dcbb9e9d.pth) for the "
                        "content loss; without it: L1 + MS-SSIM")
    parser.add_argument("--vggface", type=Path, help="local VGGFace weights (vgg_face_dag.pth layout or torchvision)")
    parser.add_argument("--loss", action="append", default=[], metavar="NAME=WEIGHT",
                        help="override one loss weight (repeatable), e.g. --loss embedding_match=10")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.set_defaults(config=None, set=[])  # the app config: defaults (see the module docstring)


def parse_loss_overrides(items: list[str]) -> dict[str, float]:
    """``["feature_matching=10", ...]`` -> {name: weight}; ValueError names a bad item."""
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--loss expects NAME=WEIGHT, got {item!r}")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"--loss {item!r}: {value!r} is not a number") from None
    return out


def run_train(cfg: AppConfig, args: argparse.Namespace) -> int:
    """`facecast train`: meta-learning; prints where the results went and the last figures."""
    import dataclasses

    import torch

    from facecast.training.losses import LossConfig
    from facecast.training.trainer import TrainConfig, run_training

    if args.threads:
        torch.set_num_threads(args.threads)
    weights = parse_loss_overrides(args.loss)
    known = {f.name for f in dataclasses.fields(LossConfig)} - {"vgg19_weights", "vggface_weights"}
    unknown = sorted(set(weights) - known)
    if unknown:
        raise ValueError(f"unknown loss weight(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    losses = LossConfig(vgg19_weights=str(args.vgg19) if args.vgg19 else None,
                        vggface_weights=str(args.vggface) if args.vggface else None, **weights)
    train_cfg = TrainConfig(model=args.model_config, steps=args.steps, k=args.k, batch=args.batch,
                            lr_generator=args.lr_g, lr_discriminator=args.lr_d, seed=args.seed, device=args.device,
                            precision=args.precision, log_every=args.log_every,
                            checkpoint_every=args.checkpoint_every, preview_every=args.preview_every,
                            workers=args.workers)
    result = run_training(args.dataset, args.out, train_cfg, losses, resume=args.resume,
                          progress=not args.no_progress)
    last = result.windows[-1] if result.windows else {}
    sys.stdout.write(f"steps {result.start_step} -> {result.step}; checkpoint {result.checkpoint}\n")
    sys.stdout.write(f"metrics {result.metrics}\n")
    if result.previews:
        sys.stdout.write(f"last preview {result.previews[-1]}\n")
    if last:
        sys.stdout.write(f"last window: generator {last['g_total']:.4f} (content {last['g_content']:.4f}), "
                         f"discriminator {last['d_total']:.4f}, {last['it_per_s']:.2f} it/s\n")
    sys.stdout.write(f"fixed-batch reconstruction error: {result.reconstruction_start:.4f} -> "
                     f"{result.reconstruction_end:.4f}\n")
    return 0
