"""Few-shot fine-tuning of one character (the paper's second stage).

Given a meta-learned ``TalkingHead`` and K frames of a new person with their landmark
images:

1. embedding ê = mean of the embedder over the K shots (paper: ê_NEW);
2. AdaIN parameters ψ' initialised to P·ê (``generator.project``) and optimised;
3. the discriminator's vector for this person, w, initialised to ê. The discriminator
   adds its own w0 (score = <V, w + w0> + b), so this is the paper's w' = w0 + ê;
4. generator side (ψ', and the generator's weights only with ``full=True``) and a copy
   of the discriminator (with w) are trained on the K frames with the meta-learning
   losses minus embedding match: content, adversarial, feature matching, alpha (towards
   ``mattes`` when given, else towards 1). One discriminator update per generator update;
   Adam, generator side at ``lr``, discriminator at 4 x ``lr`` (the meta-learning ratio
   2e-4 / 5e-5).

By default (``full=False``) the generator's weights stay shared, so the daemon can batch
frames of many characters through one generator: the result is just vectors, and
``generator_state`` is None. ``model`` is never modified: the discriminator is always a
copy, the generator is copied when ``full`` (or when it must move to ``device``), and the
embedder runs in eval mode under no_grad (spectral norm does not update its vectors
then); the generator's ``requires_grad`` flags are restored afterwards.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import Tensor, nn
from tqdm import tqdm

from facecast.model.networks.talking_head import TalkingHead
from facecast.training.content_loss import ContentLoss
from facecast.training.losses import LossConfig
from facecast.training.objectives import discriminator_objective, generator_objective

log = logging.getLogger(__name__)

__all__ = ["FinetuneResult", "finetune", "D_LR_FACTOR", "FINETUNE_BATCH"]

D_LR_FACTOR = 4.0  # discriminator lr / generator lr, as in meta-learning (2e-4 / 5e-5)
FINETUNE_BATCH = 8  # frames per step, drawn from the K shots when K is larger


@dataclass
class FinetuneResult:
    """What fine-tuning produced for one character (tensors on the CPU, detached).

    embedding: (E,) mean embedder output over the K shots (not optimised).
    adain: (adain_size,) fine-tuned AdaIN parameters (ψ'), the generator's per-character input.
    w: (E,) the discriminator's vector for this character (pass as ``w``; w0 is added by D).
    generator_state: fine-tuned generator state dict with ``full=True``, else None.
    losses: the content (reconstruction) loss of every step, before that step's update.
    """

    embedding: Tensor
    adain: Tensor
    w: Tensor
    generator_state: dict[str, Tensor] | None
    losses: list[float]


@contextlib.contextmanager
def _eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


@contextlib.contextmanager
def _frozen(module: nn.Module) -> Iterator[nn.Module]:
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def _module_device(module: nn.Module) -> torch.device:
    return next(module.parameters()).device


def _check_inputs(model: TalkingHead, frames: Tensor, landmark_images: Tensor, mattes: Tensor | None,
                  steps: int, lr: float) -> None:
    s = model.cfg.image_size
    if frames.ndim != 4 or frames.shape[1:] != (3, s, s) or frames.shape[0] < 1:
        raise ValueError(f"frames must be (K, 3, {s}, {s}) with K >= 1, got {tuple(frames.shape)}")
    if landmark_images.shape != frames.shape:
        raise ValueError(f"landmark_images must match frames {tuple(frames.shape)}, got {tuple(landmark_images.shape)}")
    if mattes is not None and mattes.shape != (frames.shape[0], 1, s, s):
        raise ValueError(f"mattes must be ({frames.shape[0]}, 1, {s}, {s}), got {tuple(mattes.shape)}")
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")


def finetune(model: TalkingHead, frames: Tensor, landmark_images: Tensor, steps: int = 100, lr: float = 5e-5,
             full: bool = False, device: str = "cpu", progress: bool = True, losses: LossConfig | None = None,
             mattes: Tensor | None = None, batch: int = FINETUNE_BATCH, seed: int = 0) -> FinetuneResult:
    """Fine-tune ``model`` to one character from its K shots (see the module docstring).

    frames: (K, 3, S, S) in [-1, 1]; landmark_images: (K, 3, S, S) in [0, 1]; mattes:
    optional (K, 1, S, S) head mattes in [0, 1] (the alpha target). ``batch`` frames are
    drawn per step (all K when K <= batch), reproducibly from ``seed``.
    """
    _check_inputs(model, frames, landmark_images, mattes, steps, lr)
    dev = torch.device(device)
    cfg = losses or LossConfig()
    content = ContentLoss(cfg).to(dev)
    frames = frames.detach().to(dev, torch.float32)
    landmark_images = landmark_images.detach().to(dev, torch.float32)
    mattes = None if mattes is None else mattes.detach().to(dev, torch.float32)
    k = frames.shape[0]

    embedder = model.embedder if _module_device(model.embedder) == dev else copy.deepcopy(model.embedder).to(dev)
    with torch.no_grad(), _eval_mode(embedder):
        embedding = embedder.embed_shots(frames, landmark_images).float()  # (E,)

    own_generator = full or _module_device(model.generator) != dev
    generator = copy.deepcopy(model.generator).to(dev) if own_generator else model.generator
    discriminator = copy.deepcopy(model.discriminator).to(dev).train()
    with torch.no_grad():
        adain0 = generator.project(embedding[None])[0]  # (adain_size,)
    adain = nn.Parameter(adain0.clone())
    w = nn.Parameter(embedding.clone())
    g_params: list[nn.Parameter] = [adain] + (list(generator.parameters()) if full else [])
    opt_g = torch.optim.Adam(g_params, lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam([*discriminator.parameters(), w], lr=lr * D_LR_FACTOR, betas=(0.5, 0.999))
    rng = torch.Generator().manual_seed(seed)
    history: list[float] = []

    if own_generator:
        generator.train()  # (instance norm without running statistics: the mode changes nothing)
    with contextlib.nullcontext() if full else _frozen(generator):
        bar = tqdm(range(steps), desc="fine-tuning", unit="step", disable=not progress, leave=False)
        for _ in bar:
            pick = torch.randperm(k, generator=rng)[: min(batch, k)].to(dev)
            real, lmk = frames[pick], landmark_images[pick]
            matte = None if mattes is None else mattes[pick]
            b = real.shape[0]
            output = generator(lmk, adain.expand(b, -1))  # (b, 4, S, S)
            w_b = w.expand(b, -1)
            fake_scores, fake_feats = discriminator(output[:, :3], lmk, w=w_b)
            with torch.no_grad():
                _, real_feats = discriminator(real, lmk, w=w_b)
            g_loss, g_logged = generator_objective(cfg, content, output, real, matte, fake_scores, fake_feats,
                                                   real_feats)
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()

            real_scores, _ = discriminator(real, lmk, w=w_b)
            fake_scores, _ = discriminator(output[:, :3].detach(), lmk, w=w_b)
            d_loss, _ = discriminator_objective(cfg, real_scores, fake_scores)
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            history.append(float(g_logged["g_content"]))
            bar.set_postfix(content=f"{history[-1]:.4f}", d=f"{float(d_loss.detach()):.3f}")
    log.debug("fine-tuned %d steps on %d shots: content %.4f -> %.4f", steps, k,
              history[0] if history else float("nan"), history[-1] if history else float("nan"))
    state = {k_: v.detach().cpu().clone() for k_, v in generator.state_dict().items()} if full else None
    return FinetuneResult(embedding=embedding.detach().cpu(), adain=adain.detach().cpu().clone(),
                          w=w.detach().cpu().clone(), generator_state=state, losses=history)
