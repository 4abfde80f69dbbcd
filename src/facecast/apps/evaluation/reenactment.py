"""`facecast eval VIDEO [--checkpoint CKPT] [--renderer warp|neural|all]`: self-reenactment,
neural vs warp, each beside a still-frame baseline.

1. Track the face through the first K + N frames of the video (MediaPipe, VIDEO mode).
2. Crop every frame with ONE square box for the whole video, exactly as the training data
   set does (``facecast.training.dataset_build.stable_crop_box`` over the per-frame
   ``face_crop_box``es); landmarks are normalized to that crop.
3. Enroll the first K frames with a face as a character: shots and landmarks from those
   crops, the head matte of the first, and its neural assets for the checkpoint
   (embedding + AdaIN parameters, fine-tuned when ``--finetune-steps`` > 0), written to
   ``OUT/character/neural/<sha256>.pt`` the way the store keeps them. The warp renderer
   alone (``--renderer warp``) needs no checkpoint and fits nothing.
4. Render every later frame (at most N) from its own landmarks with each renderer at the
   model's resolution (``--size`` without a checkpoint), and compare with the real crop:
   SSIM, PSNR, L1 on RGB (alpha ignored), and identity similarity with dlib's face
   descriptor when it is installed (``facecast[identity]``). The same figures for the
   ``still`` baseline: the character's reference frame (the first shot, what every
   renderer starts from) shown unchanged throughout. A renderer is only worth its cost
   where it beats the still: on a talking head that barely moves, a still already scores
   a high SSIM.
5. Print a table, write ``OUT/eval.json`` and a side-by-side video ``OUT/eval.mp4``
   (real | each renderer).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from facecast.config import AppConfig, add_knob_flags

log = logging.getLogger(__name__)

__all__ = ["EvalOptions", "EvalResult", "run_eval", "format_eval", "add_eval_arguments", "run_eval_command"]

RENDERERS = ("warp", "neural")
RENDERER_CHOICES = ("all", *RENDERERS)  # --renderer
STILL = "still"  # the baseline's name in the figures: the reference frame, unchanged
WARP_ONLY_SIZE = 256  # default evaluation size without a checkpoint (--size)
BATCH = 16  # held-out frames rendered per renderer call
VIDEO_PANEL_MIN = 256  # side-by-side panels are upscaled to at least this side


@dataclass(frozen=True)
class EvalOptions:
    """k: shots to enroll on. frames: held-out frames evaluated at most (0 = all the rest).
    finetune_steps: fine-tuning steps (0 = embedding and projection only). full: also
    fine-tune the generator's weights. device: auto | cpu | cuda."""

    k: int = 8
    frames: int = 0
    finetune_steps: int = 0
    full: bool = False
    lr: float | None = None
    device: str = "auto"
    video: bool = True
    renderer: str = "all"  # warp | neural | all (both)
    size: int = 0  # warp only: evaluation size (0 = WARP_ONLY_SIZE); with a checkpoint, the model's

    @property
    def renderers(self) -> tuple[str, ...]:
        return RENDERERS if self.renderer == "all" else (self.renderer,)

    def __post_init__(self) -> None:
        if self.renderer not in RENDERER_CHOICES:
            raise ValueError(f"--renderer must be one of {', '.join(RENDERER_CHOICES)}, got {self.renderer!r}")
        if self.size and (self.size < 16 or self.size > 1024):
            raise ValueError(f"--size must be within 16..1024, got {self.size}")
        if self.size and "neural" in self.renderers:
            raise ValueError("--size is for --renderer warp only: with a checkpoint the size is the model's")
        if self.k < 1:
            raise ValueError(f"--k must be at least 1, got {self.k}")
        if self.frames < 0:
            raise ValueError(f"--frames must be >= 0, got {self.frames}")
        if self.finetune_steps < 0:
            raise ValueError(f"--finetune-steps must be >= 0, got {self.finetune_steps}")
        if self.full and self.finetune_steps == 0:
            raise ValueError("--full needs fine-tuning steps (--finetune-steps N)")


@dataclass
class EvalResult:
    video: str
    checkpoint: str  # "" for --renderer warp
    checkpoint_sha256: str
    model_config: str
    size: int
    options: dict
    shot_frames: list[int]
    held_out_frames: list[int]
    renderers: dict[str, dict[str, float]] = field(default_factory=dict)  # name (and "still") -> metric -> mean
    identity: str = ""  # why identity similarity is absent, or "dlib"
    finetune_losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    json_path: str = ""
    video_path: str = ""


def _track(video: Path, limit: int | None, progress: bool) -> tuple[list[int], list]:
    """Frame indices with a face and their faces, over the first ``limit`` frames."""
    from facecast.capture.landmarks import LandmarkDetector

    indices, faces = [], []
    with LandmarkDetector() as detector:
        for sample in detector.track_video(video, max_frames=limit, progress=progress):
            if sample.face is not None:
                indices.append(sample.frame_index)
                faces.append(sample.face)
    return indices, faces


def _crops(video: Path, indices: list[int], k: int, box: tuple[int, int, int],
           size: int) -> tuple[list[np.ndarray], list[np.ndarray], float]:
    """Read the video once: the first ``k`` of ``indices`` cropped at the character store's
    size (the shots), the rest at the model's ``size`` (the real held-out frames); and fps."""
    from facecast.capture.landmarks import open_video
    from facecast.characters.face_crop import CROP_SIZE, crop_box

    shots_at, wanted = set(indices[:k]), set(indices)
    shots: list[np.ndarray] = []
    real: list[np.ndarray] = []
    cap = open_video(video)
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        index, last = 0, max(wanted)
        while index <= last:
            ok, bgr = cap.read()
            if not ok:
                break
            if index in wanted:
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                (shots if index in shots_at else real).append(crop_box(rgb, box, CROP_SIZE if index in shots_at else size))
            index += 1
    finally:
        cap.release()
    if len(shots) < k or not real:
        raise ValueError(f"{video}: could not decode the {k} shot(s) and at least one held-out frame")
    return shots, real, fps if np.isfinite(fps) and fps > 0 else 25.0


def still_frame(reference: np.ndarray, size: int) -> np.ndarray:
    """The still baseline's frame: the character's reference image (S x S x 3 uint8) at
    ``size`` x ``size``, resized the way the warp renderer resizes its reference."""
    interp = cv2.INTER_AREA if size < reference.shape[0] else cv2.INTER_CUBIC
    return np.ascontiguousarray(cv2.resize(reference, (size, size), interpolation=interp))


def run_eval(video: str | Path, checkpoint: str | Path | None, out: str | Path, options: EvalOptions | None = None,
             progress: bool = True) -> EvalResult:
    """Self-reenactment evaluation of ``video`` (see the module docstring). ``checkpoint``
    may be None only when ``options.renderer`` is ``warp``."""
    from facecast.apps.demo import write_video
    from facecast.apps.evaluation.identity import IdentityScorer
    from facecast.apps.evaluation.metrics import METRICS, frame_metrics
    from facecast.characters.assets import CharacterAssets
    from facecast.characters.face_crop import face_crop_box, to_crop_coords
    from facecast.characters.matte import head_matte
    from facecast.characters.neural_assets import save_assets
    from facecast.core.filehash import sha256_of
    from facecast.model.networks.talking_head import load_checkpoint
    from facecast.model.neural_model import NeuralModel
    from facecast.render.base import RenderRequest
    from facecast.render.neural import NeuralRenderer
    from facecast.render.warp import WarpRenderer
    from facecast.tracking.face import LANDMARK_FORMAT
    from facecast.training.character_fit import fit_character
    from facecast.training.dataset_build import stable_crop_box

    opts = options or EvalOptions()
    t0 = time.perf_counter()
    names = opts.renderers
    neural = "neural" in names
    if neural and checkpoint is None:
        raise ValueError("the neural renderer needs --checkpoint (or evaluate the warp renderer alone: --renderer warp)")
    if not neural and checkpoint is not None:
        raise ValueError(f"--renderer {opts.renderer} uses no checkpoint: drop --checkpoint (or --renderer all)")
    video, out = Path(video), Path(out)
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    model = sha = None
    if checkpoint is not None:
        model, _extra = load_checkpoint(checkpoint)  # first: a bad checkpoint fails before any slow work
        sha = sha256_of(checkpoint)
        size = model.cfg.image_size
    else:
        size = opts.size or WARP_ONLY_SIZE

    limit = opts.k + opts.frames if opts.frames else None
    indices, faces = _track(video, limit, progress)
    if len(indices) < opts.k + 1:
        raise ValueError(f"{video}: only {len(indices)} frame(s) with a face; eval needs K + 1 = {opts.k + 1}")
    box = stable_crop_box(np.array([face_crop_box(f) for f in faces]))
    landmarks = np.stack([to_crop_coords(f, box) for f in faces]).astype(np.float32)
    shot_crops, real, fps = _crops(video, indices, opts.k, box, size)
    held = indices[opts.k: opts.k + len(real)]
    held_lm = landmarks[opts.k: opts.k + len(real)]
    log.info("eval: %d shot(s) (frames %d..%d), %d held-out frame(s), crop %s, %d² px", opts.k, indices[0],
             indices[opts.k - 1], len(held), box, size)

    char_dir = out / "character"
    char_dir.mkdir(parents=True, exist_ok=True)
    losses: list[float] = []
    if model is not None:
        assets = fit_character(model, sha, shot_crops, landmarks[: opts.k], finetune=opts.finetune_steps > 0,
                               steps=opts.finetune_steps or None, full=opts.full, lr=opts.lr, device=opts.device,
                               progress=progress, checkpoint_name=checkpoint.name, landmark_format=LANDMARK_FORMAT)
        save_assets(char_dir, assets)
        losses = list(assets.losses)
    character = CharacterAssets(
        name=video.stem, image=shot_crops[0], neutral=landmarks[0], matte=head_matte(shot_crops[0], landmarks[0]),
        shot_images=tuple(shot_crops), shots=landmarks[: opts.k], directory=char_dir,
    )
    renderers = {"warp": WarpRenderer()} if "warp" in names else {}
    if neural:
        renderers["neural"] = NeuralRenderer(model=NeuralModel.from_checkpoint(checkpoint, opts.device))
    still = still_frame(shot_crops[0], size)
    scorer = IdentityScorer.create()
    scored = (STILL, *names)
    sums: dict[str, dict[str, float]] = {name: {m: 0.0 for m in METRICS} for name in scored}
    ident: dict[str, list[dict[str, float]]] = {name: [] for name in scored}
    panels: list[np.ndarray] = []
    try:
        handles = {name: r.prepare(character) for name, r in renderers.items()}
        bar = tqdm(total=len(held), desc="eval", unit="frame", disable=not progress)
        for start in range(0, len(held), BATCH):
            stop = min(start + BATCH, len(held))
            rendered: dict[str, list[np.ndarray]] = {STILL: [still] * (stop - start)}
            for name, r in renderers.items():
                reqs = [RenderRequest(handles[name], held_lm[i], LANDMARK_FORMAT, size, size)
                        for i in range(start, stop)]
                rendered[name] = r.render(reqs)
            for j, i in enumerate(range(start, stop)):
                for name in scored:
                    fake = rendered[name][j][..., :3]
                    for metric, value in frame_metrics(real[i], fake).items():
                        sums[name][metric] += value
                    if scorer is not None:
                        ident[name].append(scorer.compare(real[i], fake, held_lm[i]))
                if opts.video:
                    panels.append(np.hstack([real[i]] + [rendered[name][j][..., :3] for name in names]))
            bar.update(stop - start)
        bar.close()
    finally:
        for r in renderers.values():
            r.close()

    result = EvalResult(
        video=str(video), checkpoint=str(checkpoint or ""), checkpoint_sha256=sha or "",
        model_config=model.cfg.name if model is not None else "", size=size, options=asdict(opts),
        shot_frames=indices[: opts.k], held_out_frames=held,
        identity="dlib" if scorer is not None else "not installed (pip install 'facecast[identity]')",
        finetune_losses=losses,
    )
    for name in scored:
        result.renderers[name] = {m: sums[name][m] / len(held) for m in METRICS}
        for key in ident[name][0] if ident[name] else ():
            result.renderers[name][key] = float(np.mean([figures[key] for figures in ident[name]]))
    out.mkdir(parents=True, exist_ok=True)
    if opts.video and panels:
        scale = max(1, -(-VIDEO_PANEL_MIN // size))
        frames = [cv2.resize(p, (p.shape[1] * scale, p.shape[0] * scale), interpolation=cv2.INTER_NEAREST)
                  for p in panels] if scale > 1 else panels
        video_path = out / "eval.mp4"
        write_video(video_path, frames, fps)
        result.video_path = str(video_path)
    result.seconds = time.perf_counter() - t0
    json_path = out / "eval.json"
    result.json_path = str(json_path)
    json_path.write_text(json.dumps(asdict(result), indent=2) + "\n")
    return result


def format_eval(result: EvalResult) -> str:
    """The figures as a table (higher SSIM, PSNR and identity are better; lower L1 and
    identity distance)."""
    cols = ["ssim", "psnr", "l1"]
    cols += [c for c in ("identity", "identity_distance") if c in result.renderers.get(STILL, {})]
    model = (f"checkpoint {Path(result.checkpoint).name} ({result.model_config}), fine-tuning steps "
             f"{result.options['finetune_steps']}{' (full)' if result.options['full'] else ''}"
             if result.checkpoint else "no checkpoint")
    lines = [f"self-reenactment of {Path(result.video).name}: {len(result.shot_frames)} shot(s), "
             f"{len(result.held_out_frames)} held-out frame(s) at {result.size}² px, {model}",
             f"{'renderer':<10}" + "".join(f"{c:>{max(10, len(c) + 2)}}" for c in cols)]
    for name, figures in result.renderers.items():
        lines.append(f"{name:<10}" + "".join(f"{figures[c]:>{max(10, len(c) + 2)}.4f}" for c in cols))
    lines.append(f"({STILL}: the reference frame shown unchanged throughout; a renderer should beat it)")
    if "identity" not in cols:
        lines.append(f"identity similarity: {result.identity}")
    lines.append(f"json: {result.json_path}")
    if result.video_path:
        shown = " | ".join(["real"] + [n for n in result.renderers if n != STILL])
        lines.append(f"video ({shown}): {result.video_path}")
    return "\n".join(lines)


def add_eval_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of `facecast eval` (besides --config/--set/-v)."""
    p.add_argument("video", type=Path, help="a video of one person talking")
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="model checkpoint (facecast train ... --out CKPT); not needed with --renderer warp")
    p.add_argument("--renderer", choices=RENDERER_CHOICES, default="all",
                   help="renderers to evaluate beside the still baseline (default: all = warp and neural)")
    p.add_argument("--size", type=int, default=0,
                   help=f"evaluation size with --renderer warp (default {WARP_ONLY_SIZE}; else the model's)")
    p.add_argument("--k", type=int, default=8, help="enroll on the first K frames with a face (default 8)")
    p.add_argument("--finetune-steps", type=int, default=0,
                   help="fine-tune this many steps on the K frames (default 0: embedding and projection only)")
    p.add_argument("--full", action="store_true", help="fine-tune the generator's weights too")
    p.add_argument("--lr", type=float, default=None, help="fine-tuning learning rate (default: the fine-tuning's, 5e-5)")
    p.add_argument("--frames", type=int, default=0, help="evaluate at most N held-out frames (default 0: all)")
    p.add_argument("--out", type=Path, default=Path("eval_out"), help="output directory (default eval_out)")
    add_knob_flags(p, "render.device")
    p.add_argument("--no-video", action="store_true", help="skip the side-by-side video")


def run_eval_command(cfg: AppConfig, args: argparse.Namespace) -> int:
    """`facecast eval`: prints the table, writes OUT/eval.json and OUT/eval.mp4."""
    opts = EvalOptions(k=args.k, frames=args.frames, finetune_steps=args.finetune_steps, full=args.full,
                       lr=args.lr, device=cfg.render.device, video=not args.no_video, renderer=args.renderer,
                       size=args.size)
    result = run_eval(args.video, args.checkpoint, args.out, opts)
    sys.stdout.write(format_eval(result) + "\n")
    return 0
