"""The loaded talking-head model: a trained TalkingHead's inference parts on one device,
tensors in and out, no gradients. Not a runtime engine: the generator's per-frame
inference runs in one of ``facecast.model.engines`` (torch, ONNX Runtime), which this
model feeds.

Used by the neural renderer (per frame: rasterize the landmarks) and by enrollment (once
per character: embed the shots, project the embedding to AdaIN parameters). Also the one
place that turns uint8 crops and normalized landmarks into the model's input tensors.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch

from facecast.core.filehash import sha256_of
from facecast.model.networks.generator import Generator
from facecast.model.networks.talking_head import TalkingHead, load_checkpoint

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> torch.device:
    """``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:N``."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} asked for, but this torch sees no CUDA GPU; use cpu or auto")
        return torch.device(name)
    raise ValueError(f"unknown device {name!r}; one of {', '.join(DEVICES)} (or cuda:N)")


def frames_to_tensor(images: Sequence[np.ndarray], size: int) -> torch.Tensor:
    """Square RGB uint8 crops (any side) -> (K, 3, size, size) float32 in [-1, 1]."""
    out = []
    for img in images:
        img = np.asarray(img)
        if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] != img.shape[1] or img.dtype != np.uint8:
            raise ValueError(f"frames must be square H x W x 3 uint8 crops, got {img.shape} {img.dtype}")
        if img.shape[0] != size:
            interp = cv2.INTER_AREA if img.shape[0] > size else cv2.INTER_CUBIC
            img = cv2.resize(img, (size, size), interpolation=interp)
        out.append(img)
    arr = torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float()  # (K, 3, S, S) in [0, 255]
    return arr / 127.5 - 1.0


def tensor_to_rgba8(frames: torch.Tensor) -> torch.Tensor:
    """Generator output (B, 4, H, W), RGB in [-1, 1] and alpha in [0, 1] -> (B, H, W, 4) uint8."""
    rgb = (frames[:, :3].float() + 1.0) * 127.5  # (B, 3, H, W) in [0, 255]
    alpha = frames[:, 3:].float() * 255.0  # (B, 1, H, W)
    out = torch.cat([rgb, alpha], dim=1).clamp_(0.0, 255.0).round_().to(torch.uint8)
    return out.permute(0, 2, 3, 1).contiguous()  # (B, H, W, 4)


def points_tensor(landmarks: Sequence[np.ndarray], device: torch.device) -> torch.Tensor:
    """Normalized landmark arrays of one format (N x 2 or N x 3 each) -> (B, N, 3) float32."""
    pts = np.zeros((len(landmarks), len(landmarks[0]), 3), np.float32)
    for i, lm in enumerate(landmarks):
        lm = np.asarray(lm, np.float32)
        pts[i, :, : lm.shape[1]] = lm
    return torch.from_numpy(pts).to(device)


class NeuralModel:
    """Rasterizer, embedder and generator of a TalkingHead on ``device``, in eval mode.

    The discriminator is not kept: this model never trains.
    """

    def __init__(self, model: TalkingHead, device: str | torch.device = "auto",
                 checkpoint: Path | None = None, checkpoint_sha256: str = "") -> None:
        self.device = device if isinstance(device, torch.device) else resolve_device(device)
        self.cfg = model.cfg
        self.rasterizer = model.rasterizer.to(self.device).eval()
        self.embedder = model.embedder.to(self.device).eval()
        self.generator = model.generator.to(self.device).eval()
        self.checkpoint = checkpoint
        self.checkpoint_sha256 = checkpoint_sha256

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "auto") -> "NeuralModel":
        """Load a checkpoint (CheckpointError names the file and how to train one)."""
        path = Path(path)
        dev = resolve_device(device)
        model, _extra = load_checkpoint(path, map_location="cpu")
        engine = cls(model, dev, checkpoint=path, checkpoint_sha256=sha256_of(path))
        log.info("neural model: %s (config %s, %d² px, %d AdaIN parameters) on %s", path, model.cfg.name,
                 model.cfg.image_size, engine.generator.adain_size, dev)
        return engine

    @property
    def image_size(self) -> int:
        return int(self.cfg.image_size)

    @property
    def adain_size(self) -> int:
        return int(self.generator.adain_size)

    @torch.inference_mode()
    def landmark_images(self, points: torch.Tensor, fmt: str) -> torch.Tensor:
        """(B, N, 3) normalized points of format ``fmt`` -> (B, 3, S, S) landmark images."""
        return self.rasterizer(points.to(self.device), fmt, self.image_size)

    @torch.inference_mode()
    def embed(self, images: Sequence[np.ndarray], landmarks: np.ndarray, fmt: str = "mediapipe478") -> torch.Tensor:
        """A character's embedding (E,): the embedder's mean over its K shots.

        images: K square RGB uint8 crops; landmarks: K x N x 3, normalized to each crop.
        """
        frames = frames_to_tensor(images, self.image_size).to(self.device)  # (K, 3, S, S)
        lm_images = self.landmark_images(points_tensor(list(landmarks), self.device), fmt)  # (K, 3, S, S)
        return self.embedder.embed_shots(frames, lm_images)  # (E,)

    @torch.inference_mode()
    def adain_for(self, embedding: torch.Tensor) -> torch.Tensor:
        """The AdaIN parameters (adain_size,) of one embedding (E,)."""
        return self.generator.project(embedding.to(self.device).reshape(1, -1))[0]

    def generator_with(self, state: dict[str, torch.Tensor]) -> Generator:
        """A copy of the generator carrying a character's own fine-tuned weights."""
        gen = copy.deepcopy(self.generator)
        gen.load_state_dict(state)
        return gen.to(self.device).eval()
