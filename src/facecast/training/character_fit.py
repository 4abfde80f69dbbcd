"""A character's neural assets from its K shots: the embedding (mean of the embedder over
the shots), its projection to AdaIN parameters, and — when asked — the paper's few-shot
fine-tuning (``facecast.training.finetune``).

Pipeline layer: numpy crops and landmarks in, ``NeuralAssets`` out. Used by ``facecast
enroll --checkpoint``, ``facecast finetune`` and ``facecast eval``.
"""

from __future__ import annotations

import datetime as _dt
import logging
from typing import Sequence

import cv2
import numpy as np
import torch

from facecast.characters.matte import head_matte
from facecast.model.networks.talking_head import TalkingHead
from facecast.characters.neural_assets import NeuralAssets
from facecast.model.neural_model import NeuralModel, frames_to_tensor, points_tensor, resolve_device

log = logging.getLogger(__name__)


def fit_character(
    model: TalkingHead,
    checkpoint_sha256: str,
    images: Sequence[np.ndarray],
    landmarks: np.ndarray,
    *,
    finetune: bool = False,
    steps: int | None = None,
    full: bool = False,
    lr: float | None = None,
    device: str = "auto",
    progress: bool = True,
    checkpoint_name: str = "",
    landmark_format: str = "mediapipe478",
) -> NeuralAssets:
    """Neural assets of one character for ``model`` (whose checkpoint has that sha256).

    images: K square RGB uint8 crops (any side; resized to the model's); landmarks:
    K x N x 3 normalized to each crop. ``finetune`` runs the paper's fine-tuning for
    ``steps`` steps at learning rate ``lr`` (None: the fine-tuning's defaults); ``full``
    also tunes and returns the character's own generator weights. Without ``finetune``
    the shots are only embedded and projected. ``model`` may be changed (device,
    fine-tuning): load a fresh one per character.
    """
    if len(images) < 1 or len(images) != len(landmarks):
        raise ValueError(f"need K >= 1 shots with one landmark set each, got {len(images)} and {len(landmarks)}")
    if steps is not None and steps < 1:
        raise ValueError(f"fine-tuning steps must be at least 1, got {steps}")
    if full and not finetune:
        raise ValueError("a character's own generator (--full) comes from fine-tuning: give --finetune")
    k = len(images)
    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    common = dict(checkpoint_sha256=checkpoint_sha256, shots=k, checkpoint_name=checkpoint_name,
                  model_config=model.cfg.name, created=created)
    if not finetune:
        engine = NeuralModel(model, device)
        embedding = engine.embed(images, landmarks, landmark_format)
        adain = engine.adain_for(embedding)
        log.info("embedded %d shot(s) (config %s)", k, model.cfg.name)
        # The discriminator's vector for a new person starts as its embedding (paper §3.3).
        return NeuralAssets(embedding=embedding.cpu(), adain=adain.cpu(), w=embedding.cpu().clone(), **common)

    from facecast.training.finetune import finetune as run_finetune

    dev = resolve_device(device)
    size = model.cfg.image_size
    frames = frames_to_tensor(images, size)  # (K, 3, S, S) in [-1, 1]
    with torch.no_grad():
        lm_images = model.landmark_images(points_tensor(list(landmarks), torch.device("cpu")),
                                          landmark_format)  # (K, 3, S, S) in [0, 1]
    tuning = {key: value for key, value in (("steps", steps), ("lr", lr)) if value is not None}
    mattes = shot_mattes(images, landmarks, size) if landmark_format == "mediapipe478" else None
    result = run_finetune(model, frames, lm_images, full=full, device=str(dev), progress=progress,
                          mattes=mattes, **tuning)
    losses = tuple(float(x) for x in result.losses)
    done = steps if steps is not None else len(losses)
    if losses:
        log.info("fine-tuned %d step(s) on %d shot(s): loss %.4f -> %.4f", done, k, losses[0], losses[-1])
    state = None
    if result.generator_state is not None:
        state = {name: t.detach().cpu() for name, t in result.generator_state.items()}
    return NeuralAssets(embedding=result.embedding.detach().cpu(), adain=result.adain.detach().cpu(),
                        w=result.w.detach().cpu(), generator_state=state, steps=done, losses=losses,
                        **common)



def shot_mattes(images: Sequence[np.ndarray], landmarks: np.ndarray, size: int) -> torch.Tensor:
    """Head mattes of the shots, the generator's alpha target: (K, 1, size, size) in [0, 1].

    Without them fine-tuning would teach the generator an opaque alpha.
    """
    out = []
    for img, lm in zip(images, landmarks):
        matte = head_matte(np.asarray(img), np.asarray(lm, np.float32))  # (H, W) uint8
        interp = cv2.INTER_AREA if matte.shape[0] > size else cv2.INTER_CUBIC
        out.append(cv2.resize(matte, (size, size), interpolation=interp))
    return torch.from_numpy(np.stack(out)).unsqueeze(1).float() / 255.0
