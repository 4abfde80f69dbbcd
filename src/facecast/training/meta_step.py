"""One meta-learning step (paper §3.2): a batch of episodes, one generator + embedder
update, then one discriminator update.

For each episode of K + 1 frames of video i: the embedder sees the K shots with their
landmark images, the mean of its outputs is the embedding ê_i; the generator renders
the target frame's landmark image with AdaIN parameters P·ê_i; the generator side is
trained on content + adversarial + feature matching + embedding match (towards W_i) +
alpha; the discriminator on the hinge loss over (target, landmark image) vs (generated,
landmark image), scored against W_i, plus the embedding match pulling W_i towards ê_i.

Mixed precision: ``precision`` is "bf16" or "fp16" (CUDA autocast; fp16 with a
``GradScaler`` per optimizer) or "fp32". Losses are evaluated in float32.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Iterator

import torch
from torch import Tensor

from facecast.model.networks.talking_head import TalkingHead
from facecast.training.dataset_format import LANDMARK_FORMAT
from facecast.training.episodes import Episode
from facecast.training.losses import LossConfig, l1_loss
from facecast.training.ms_ssim import ms_ssim
from facecast.training.objectives import ContentFn, discriminator_objective, generator_objective

__all__ = ["Optimizers", "StepResult", "autocast_for", "episode_landmark_images", "meta_step", "reconstruction"]

PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass
class Optimizers:
    """Adam for embedder + generator, Adam for the discriminator, and their grad scalers
    (no-ops unless fp16)."""

    generator: torch.optim.Optimizer
    discriminator: torch.optim.Optimizer
    scaler_g: torch.amp.GradScaler
    scaler_d: torch.amp.GradScaler


@dataclass
class StepResult:
    logged: dict[str, Tensor] = field(default_factory=dict)  # detached scalars, on the device
    output: Tensor | None = None  # (B, 4, S, S) generated targets, detached


def autocast_for(device: torch.device, precision: str) -> contextlib.AbstractContextManager[None]:
    """The autocast context for ``precision`` on ``device`` (nothing for fp32)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


@contextlib.contextmanager
def _no_param_grads(module: torch.nn.Module) -> Iterator[None]:
    """Parameters of ``module`` get no gradient inside (the input still does)."""
    module.requires_grad_(False)
    try:
        yield
    finally:
        module.requires_grad_(True)


def episode_landmark_images(model: TalkingHead, batch: Episode) -> Tensor:
    """Landmark images of every frame of a batch: (B, K+1, 478, 3) -> (B, K+1, 3, S, S)."""
    b, k1 = batch.landmarks.shape[:2]
    s = model.cfg.image_size
    images = model.landmark_images(batch.landmarks.flatten(0, 1), LANDMARK_FORMAT)  # (B*(K+1), 3, S, S)
    return images.view(b, k1, 3, s, s)


def _embed(model: TalkingHead, frames: Tensor, landmark_images: Tensor) -> Tensor:
    """Per-episode embeddings: shots (B, K, 3, S, S) x 2 -> (B, E), mean over K."""
    b, k = frames.shape[:2]
    e = model.embedder(frames.flatten(0, 1), landmark_images.flatten(0, 1))  # (B*K, E)
    return e.float().view(b, k, -1).mean(dim=1)


def meta_step(model: TalkingHead, batch: Episode, content: ContentFn, losses: LossConfig, opt: Optimizers,
              precision: str = "fp32", keep_output: bool = False) -> StepResult:
    """One G + E update and one D update on ``batch`` (already on the model's device)."""
    device = batch.frames.device
    frames = batch.frames  # (B, K+1, 3, S, S)
    k = frames.shape[1] - 1
    video = batch.video_index  # (B,)
    lmk = episode_landmark_images(model, batch)  # (B, K+1, 3, S, S)
    real, lmk_t = frames[:, k], lmk[:, k]  # (B, 3, S, S) each
    matte = None if batch.mattes is None else batch.mattes[:, k]  # (B, 1, S, S)
    disc = model.discriminator

    with _no_param_grads(disc), autocast_for(device, precision):
        embeddings = _embed(model, frames[:, :k], lmk[:, :k])  # (B, E)
        adain = model.generator.project(embeddings)  # (B, adain_size)
        output = model.generator(lmk_t, adain).float()  # (B, 4, S, S)
        fake_scores, fake_feats = disc(output[:, :3], lmk_t, video_index=video)
        with torch.no_grad():
            _, real_feats = disc(real, lmk_t, video_index=video)
        g_loss, logged = generator_objective(losses, content, output, real, matte, fake_scores, fake_feats,
                                             real_feats, embeddings, disc.W[video])
    opt.generator.zero_grad(set_to_none=True)
    opt.scaler_g.scale(g_loss).backward()
    opt.scaler_g.step(opt.generator)
    opt.scaler_g.update()

    with autocast_for(device, precision):
        real_scores, _ = disc(real, lmk_t, video_index=video)
        fake_scores, _ = disc(output[:, :3].detach(), lmk_t, video_index=video)
        d_loss, d_logged = discriminator_objective(losses, real_scores, fake_scores, embeddings.detach(),
                                                   disc.W[video])
    opt.discriminator.zero_grad(set_to_none=True)
    opt.scaler_d.scale(d_loss).backward()
    opt.scaler_d.step(opt.discriminator)
    opt.scaler_d.update()
    logged.update(d_logged)
    return StepResult(logged=logged, output=output.detach() if keep_output else None)


@torch.no_grad()
def reconstruction(model: TalkingHead, batch: Episode) -> tuple[float, Tensor]:
    """Fixed-batch reconstruction error in eval mode: mean (1 - MS-SSIM) + L1 on [0, 1]
    images of the targets rendered from the shots, and the outputs (B, 4, S, S).

    Independent of ``LossConfig`` and of the discriminator, so runs can be compared.
    """
    was_training = model.training
    model.eval()
    try:
        frames = batch.frames
        k = frames.shape[1] - 1
        lmk = episode_landmark_images(model, batch)
        embeddings = _embed(model, frames[:, :k], lmk[:, :k])
        output = model.generator(lmk[:, k], model.generator.project(embeddings)).float()
        fake01, real01 = (output[:, :3] + 1) * 0.5, (frames[:, k].float() + 1) * 0.5
        value = (1.0 - ms_ssim(fake01, real01)).mean() + l1_loss(fake01, real01)
    finally:
        model.train(was_training)
    return float(value), output
