#!/usr/bin/env python
"""Fit the blendshape basis that ships as facecast/data/blendshape_basis.npz.

    FACECAST_MODEL_DIR=../shared/models .venv/bin/python scripts/fit_blendshape_basis.py
    ... scripts/fit_blendshape_basis.py --check     # re-fit and compare with the shipped file

Tracks every video in --videos with MediaPipe (landmarks, 52 blendshapes, head transform),
removes head pose, and regresses landmark offsets on the weights (ridge, closed form, with
ARKit's one-sided shapes kept to their side of the face; see facecast.capture.basis_fit). One video (--hold-out, default d12) is left out of the fit
entirely, so tests can score the shipped basis on real frames it never saw. The ridge
strength is chosen by leave-one-video-out over the other videos; the honest figure for it
is a nested leave-one-video-out. Figures go to stdout, into the file's metadata, and by
hand into docs/blendshapes.md. Deterministic: the same inputs give the same bytes.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np

from facecast.capture import basis_fit as bf
from facecast.tracking.blendshape_basis import BASIS_RESOURCE, BlendshapeBasis, save_basis
from facecast.capture.landmarks import VIDEO_SUFFIXES, LandmarkDetector
from facecast.core.filehash import sha256_of

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "src" / "facecast" / "data" / BASIS_RESOURCE
DEFAULT_VIDEOS = REPO.parent / "shared" / "data" / "videos"

log = logging.getLogger("fit_blendshape_basis")


def _figures(e: bf.HeldOutError) -> dict[str, float | int]:
    return {"basis": round(e.basis, 6), "neutral": round(e.neutral, 6),
            "improvement": round(e.improvement, 4), "frames": e.frames}


def fit(videos_dir: Path, hold_out: str, progress: bool) -> BlendshapeBasis:
    paths = sorted(p for p in videos_dir.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    if not paths:
        raise FileNotFoundError(f"no videos in {videos_dir}")
    if hold_out not in {p.stem for p in paths}:
        raise FileNotFoundError(f"held-out video {hold_out!r} not in {videos_dir}")
    with LandmarkDetector() as detector:
        tracked = [bf.track_video(detector, p, progress=progress) for p in paths]
        model_sha = sha256_of(detector.model_path)
    train = [v for v in tracked if v.name != hold_out]
    test = next(v for v in tracked if v.name == hold_out)

    lam = bf.choose_lambda(train)
    lovo = bf.leave_one_video_out(train, lam)
    nested = bf.nested_leave_one_video_out(train)
    offsets = bf.fit(train, lam).astype(np.float32)
    held = bf.held_out_error(test, offsets)
    # The same without the one-sided constraint, for the record of what it costs.
    lam_free = bf.choose_lambda(train, one_sided=False)
    lovo_free = bf.leave_one_video_out(train, lam_free, one_sided=False)
    held_free = bf.held_out_error(test, bf.fit(train, lam_free, one_sided=False))
    mean_neutral = bf.mean_neutral_face(train)
    iod = bf.inter_ocular(mean_neutral)

    nested_pooled = bf.pooled([e for _lam, e in nested.values()])
    metadata = {
        "description": "ARKit-52 weights -> MediaPipe-478 landmark offsets in the normalised frontal "
                       "frame (head rotation removed, rigid points centred, face scale = RMS x/y radius "
                       "of topology.MP_STABLE = 1)",
        "fitted_by": "scripts/fit_blendshape_basis.py",
        "model": {"file": detector.model_path.name, "sha256": model_sha},
        "videos": {v.name: {"frames": v.frames, "tracked": len(v.faces)} for v in tracked},
        "train_videos": [v.name for v in train],
        "held_out_video": test.name,
        "ridge_lambda": lam,
        "lambda_grid": list(bf.LAMBDA_GRID),
        "error_unit": "mean x/y landmark distance in face-scale units",
        "inter_ocular_in_face_scale": round(iod, 6),
        "held_out": _figures(held),
        "leave_one_video_out": {name: _figures(e) for name, e in lovo.items()},
        "leave_one_video_out_pooled": _figures(bf.pooled(list(lovo.values()))),
        "nested_leave_one_video_out": {name: {"lambda": lam_v, **_figures(e)} for name, (lam_v, e) in nested.items()},
        "nested_leave_one_video_out_pooled": _figures(nested_pooled),
        "one_sided_margin": bf.SIDE_MARGIN,
        "without_one_sided_constraint": {
            "ridge_lambda": lam_free,
            "held_out": _figures(held_free),
            "leave_one_video_out_pooled": _figures(bf.pooled(list(lovo_free.values()))),
        },
        "untracked_weights": ["tongueOut"],
    }
    return BlendshapeBasis(offsets=offsets, mean_neutral=mean_neutral.astype(np.float32), metadata=metadata)


def report(basis: BlendshapeBasis) -> str:
    m = basis.metadata
    iod = m["inter_ocular_in_face_scale"]

    def line(label: str, f: dict) -> str:
        return (f"{label:<34} basis {f['basis']:.4f}  neutral {f['neutral']:.4f}  "
                f"({100 * f['basis'] / iod:.2f} % vs {100 * f['neutral'] / iod:.2f} % of the inter-ocular "
                f"distance)  basis {100 * f['improvement']:.1f} % lower  [{f['frames']} frames]")

    rows = [f"ridge lambda {m['ridge_lambda']:g} (leave-one-video-out over {', '.join(m['train_videos'])})",
            f"errors: {m['error_unit']}",
            line(f"held-out video {m['held_out_video']}", m["held_out"]),
            line("nested leave-one-video-out", m["nested_leave_one_video_out_pooled"]),
            line("leave-one-video-out", m["leave_one_video_out_pooled"])]
    for name, f in m["nested_leave_one_video_out"].items():
        rows.append(line(f"  {name} (lambda {f['lambda']:g})", f))
    free = m["without_one_sided_constraint"]
    rows.append(f"without the one-sided constraint (lambda {free['ridge_lambda']:g}):")
    rows.append(line(f"  held-out video {m['held_out_video']}", free["held_out"]))
    rows.append(line("  leave-one-video-out", free["leave_one_video_out_pooled"]))
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=Path, default=DEFAULT_VIDEOS, help=f"default {DEFAULT_VIDEOS}")
    parser.add_argument("--hold-out", default="d12", help="video stem left out of the fit (default d12)")
    parser.add_argument("--out", type=Path, default=SHIPPED, help=f"default {SHIPPED}")
    parser.add_argument("--check", action="store_true", help="fit into a temporary file and compare with --out")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        basis = fit(args.videos, args.hold_out, progress=not args.no_progress)
    except (FileNotFoundError, ValueError, OSError) as exc:
        log.error("%s", exc)
        return 2
    sys.stdout.write(report(basis))
    if not args.check:
        save_basis(basis, args.out)
        log.info("wrote %s (%d bytes)", args.out, args.out.stat().st_size)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / BASIS_RESOURCE
        save_basis(basis, fresh)
        same = args.out.is_file() and fresh.read_bytes() == args.out.read_bytes()
    sys.stdout.write(f"{args.out}: {'identical to the re-fit' if same else 'DIFFERS from the re-fit'}\n")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
