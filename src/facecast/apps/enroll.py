"""`facecast enroll ... --checkpoint CKPT` and `facecast finetune CHARACTER --checkpoint
CKPT`: a stored character's neural assets (embedding, AdaIN parameters, optionally the
paper's fine-tuning) for one checkpoint, written into the character store.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from typing import TYPE_CHECKING

from facecast.config import AppConfig, add_knob_flags

if TYPE_CHECKING:  # the store pulls in mediapipe, the model torch: both only when used
    from facecast.characters.store import CharacterStore

log = logging.getLogger(__name__)

__all__ = ["add_enroll_arguments", "add_finetune_arguments", "add_characters_arguments", "neural_enroll", "run_enroll",
           "run_finetune", "run_characters"]


def _add_common(p: argparse.ArgumentParser, steps_flag: str) -> None:
    # Defaults (None) are the fine-tuning function's own: 100 steps at 5e-5.
    p.add_argument(steps_flag, dest="finetune_steps", type=int, default=None,
                   help="fine-tuning steps (default: the fine-tuning's, 100)")
    p.add_argument("--full", action="store_true",
                   help="also fine-tune the generator's weights for this character (best likeness; the character "
                        "then renders in its own sub-batch)")
    p.add_argument("--lr", type=float, default=None, help="fine-tuning learning rate (default: the fine-tuning's, 5e-5)")
    add_knob_flags(p, "render.device")


def add_enroll_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of `facecast enroll` (besides --config/--set/-v)."""
    p.add_argument("name")
    p.add_argument("sources", nargs="+", type=Path, help="images (first = reference) or videos")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--shots", type=int, default=8, help="frames taken from each video (default 8)")
    add_knob_flags(p, "store.root")
    p.add_argument("--checkpoint", type=Path,
                   help="also compute the character's embedding and AdaIN parameters for this model checkpoint")
    p.add_argument("--finetune", action="store_true",
                   help="with --checkpoint: fine-tune on the character's shots (the paper's few-shot stage)")
    _add_common(p, "--finetune-steps")


def add_finetune_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of `facecast finetune` (besides --config/--set/-v)."""
    p.add_argument("character", help="an enrolled character")
    p.add_argument("--checkpoint", type=Path, required=True, help="model checkpoint (facecast train ... --out CKPT)")
    _add_common(p, "--steps")
    add_knob_flags(p, "store.root")


def add_characters_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of `facecast characters`."""
    add_knob_flags(p, "store.root")


def neural_enroll(store: CharacterStore, name: str, checkpoint: Path, *, finetune: bool = False,
                  steps: int | None = None, full: bool = False, lr: float | None = None, device: str = "auto",
                  progress: bool = True) -> Path:
    """Compute and store ``name``'s neural assets for ``checkpoint``; returns the file.

    Without ``finetune``: embedding and projection only; with it, the paper's fine-tuning
    (``steps``, ``lr``: None = the fine-tuning's defaults).
    """
    from facecast.core.filehash import sha256_of
    from facecast.training.character_fit import fit_character
    from facecast.model.networks.talking_head import load_checkpoint

    character = store.load(name)
    model, _extra = load_checkpoint(checkpoint)
    assets = fit_character(
        model, sha256_of(checkpoint), list(character.shot_images), character.shots,
        finetune=finetune, steps=steps, full=full, lr=lr, device=device, progress=progress,
        checkpoint_name=Path(checkpoint).name,
    )
    return store.save_neural_assets(name, assets)


def check_enroll_arguments(args: argparse.Namespace) -> None:
    """Reject neural options that make no sense before any slow work starts."""
    if args.checkpoint is None and (args.finetune or args.full):
        raise ValueError("--finetune and --full need --checkpoint CKPT")
    if args.full and not args.finetune:
        raise ValueError("--full fine-tunes the generator: give --finetune too")
    if args.finetune_steps is not None and args.finetune_steps < 1:
        raise ValueError(f"--finetune-steps must be at least 1, got {args.finetune_steps}")
    if args.finetune_steps is not None and not args.finetune:
        raise ValueError("--finetune-steps needs --finetune")
    if args.checkpoint is not None and not Path(args.checkpoint).is_file():
        from facecast.model.networks.talking_head import TRAIN_HINT, CheckpointError

        raise CheckpointError(f"model checkpoint {args.checkpoint} not found; {TRAIN_HINT} (docs/training.md)")


def run_enroll(cfg: AppConfig, args: argparse.Namespace) -> int:
    """`facecast enroll NAME SOURCES... [--checkpoint CKPT [--finetune [--full]]]`."""
    from facecast.characters.store import CharacterStore

    check_enroll_arguments(args)
    store = CharacterStore(cfg.store.root or None)
    char = store.enroll(args.name, args.sources, overwrite=args.overwrite, video_shots=args.shots)
    log.info("enrolled %r with %d shot(s) in %s", char.name, char.num_shots, char.path)
    if args.checkpoint is not None:
        path = neural_enroll(store, args.name, args.checkpoint, finetune=args.finetune, steps=args.finetune_steps,
                             full=args.full, lr=args.lr, device=cfg.render.device)
        log.info("neural assets of %r for %s: %s", args.name, args.checkpoint, path)
    return 0


def run_characters(cfg: AppConfig, args: argparse.Namespace) -> int:
    """`facecast characters`: the store's character names, one per line (stdout)."""
    from facecast.characters.store import CharacterStore

    store = CharacterStore(cfg.store.root or None)
    names = store.names()
    log.info("%d character(s) in %s", len(names), store.root)
    for name in names:
        sys.stdout.write(name + "\n")
    return 0


def run_finetune(cfg: AppConfig, args: argparse.Namespace) -> int:
    """`facecast finetune CHARACTER --checkpoint CKPT [--steps N] [--full]`."""
    from facecast.characters.store import CharacterStore

    if args.finetune_steps is not None and args.finetune_steps < 1:
        raise ValueError(f"--steps must be at least 1, got {args.finetune_steps}")
    if not Path(args.checkpoint).is_file():
        from facecast.model.networks.talking_head import TRAIN_HINT, CheckpointError

        raise CheckpointError(f"model checkpoint {args.checkpoint} not found; {TRAIN_HINT} (docs/training.md)")
    store = CharacterStore(cfg.store.root or None)
    path = neural_enroll(store, args.character, args.checkpoint, finetune=True, steps=args.finetune_steps,
                         full=args.full, lr=args.lr, device=cfg.render.device)
    assets = store.load_neural_assets(args.character, path.stem)
    assert assets is not None
    losses = assets.losses
    summary = f"loss {losses[0]:.4f} -> {losses[-1]:.4f}" if losses else "no losses reported"
    sys.stdout.write(f"{args.character}: {assets.steps} steps, {summary}"
                     f"{', own generator' if assets.full else ''} -> {path}\n")
    return 0
