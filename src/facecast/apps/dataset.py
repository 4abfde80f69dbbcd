"""`facecast dataset build` arguments and runner (the heavy imports wait until it runs)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from facecast.config import AppConfig

log = logging.getLogger(__name__)

__all__ = ["add_dataset_build_arguments", "run_dataset_build"]


def add_dataset_build_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `facecast dataset build` (besides the common --config/--set/-v)."""
    parser.add_argument("video_dir", type=Path, help="directory of videos (one person each), or one video file")
    parser.add_argument("out", type=Path, help="output directory (one .npz per video + manifest.json)")
    parser.add_argument("--size", type=int, default=256, help="side of the stored frames in pixels (default 256)")
    parser.add_argument("--max-frames", type=int, default=None, help="keep at most N frames per video")
    parser.add_argument("--every", type=int, default=1, help="keep every N-th frame (default 1)")
    parser.add_argument("--min-frames", type=int, default=9,
                        help="skip videos with fewer frames with a face (default 9 = K + 1 for K = 8)")
    parser.add_argument("--no-mattes", action="store_true",
                        help="skip the per-frame head matte (faster; the generator's alpha then learns 'opaque')")


def run_dataset_build(cfg: AppConfig, args: argparse.Namespace) -> int:
    """`facecast dataset build`: one line per video on stdout; exit 2 when none was usable."""
    from facecast.training.dataset_build import BuildOptions, build_dataset

    opts = BuildOptions(size=args.size, max_frames=args.max_frames, every=args.every, min_frames=args.min_frames,
                        mattes=not args.no_mattes)
    report = build_dataset(args.video_dir, args.out, opts)
    for v in report.videos:
        if v.file is not None:
            sys.stdout.write(f"ok       {Path(v.source).name}: {v.frames} frames -> {v.file} ({v.seconds:.1f} s)\n")
        else:
            sys.stdout.write(f"skipped  {Path(v.source).name}: {v.reason}\n")
    sys.stdout.write(f"{len(report.usable)} usable, {len(report.skipped)} skipped; "
                     f"manifest {Path(args.out) / 'manifest.json'}\n")
    if not report.usable:
        log.error("no usable video in %s", args.video_dir)
        return 2
    return 0
