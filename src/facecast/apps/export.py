"""``facecast export`` arguments (torch-free: the CLI imports this module at start-up;
the export itself, ``facecast.model.engines.export``, is imported when the command runs)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from facecast.model.engines.manifest import DEFAULT_OPSET

__all__ = ["add_export_arguments", "run_export"]


def add_export_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", type=Path, help="model checkpoint (facecast train ... --out CKPT)")
    p.add_argument("out", type=Path, help="ONNX file to write; its manifest goes to OUT.json beside it")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default {DEFAULT_OPSET})")
    p.add_argument("--batch-axis", default="dynamic", metavar="dynamic|N",
                   help="dynamic (default) or a fixed batch size N")
    p.add_argument("--no-verify", action="store_true", help="skip the ONNX Runtime vs torch check run")


def run_export(cfg: Any, args: argparse.Namespace) -> int:
    """CLI entry: ``facecast export``."""
    batch_axis: str | int = args.batch_axis
    if batch_axis != "dynamic":
        try:
            batch_axis = int(batch_axis)
        except ValueError:
            raise ValueError(f"--batch-axis takes 'dynamic' or a batch size, got {args.batch_axis!r}") from None
    from facecast.model.engines.export import export_onnx

    export_onnx(args.checkpoint, args.out, opset=args.opset, batch_axis=batch_axis, verify=not args.no_verify)
    return 0
