"""The whole few-shot talking-head model and its checkpoint format.

A checkpoint is one ``torch.save`` file holding only plain data (loaded back with
``weights_only=True``, so never pickled code):

    {"format": "facecast.talking_head", "format_version": 1,
     "config_json": "<ModelConfig as JSON>", "num_videos": int,
     "embedder": state_dict, "generator": state_dict, "discriminator": state_dict,
     "extra": {...}}   # step, optimizer states, ... (tensors, numbers, strings, lists, dicts)
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from facecast.model.networks.config import ModelConfig, config_from_dict, config_to_dict
from facecast.model.networks.discriminator import Discriminator
from facecast.model.networks.embedder import Embedder
from facecast.model.networks.generator import Generator
from facecast.model.networks.rasterizer import LandmarkRasterizer

__all__ = ["TalkingHead", "CheckpointError", "save_checkpoint", "load_checkpoint",
           "CHECKPOINT_FORMAT", "CHECKPOINT_FORMAT_VERSION", "TRAIN_HINT"]

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "facecast.talking_head"
CHECKPOINT_FORMAT_VERSION = 1
TRAIN_HINT = "train one with `facecast train DATASET --config realtime --out CKPT`"
_MODULES = ("embedder", "generator", "discriminator")


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable or not a facecast talking-head checkpoint."""


class TalkingHead(nn.Module):
    """Rasterizer, embedder, generator and discriminator of one config.

    ``num_videos`` is the number of training videos (rows of the discriminator's W).
    """

    def __init__(self, cfg: ModelConfig, num_videos: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.num_videos = num_videos
        self.rasterizer = LandmarkRasterizer(line_width=cfg.landmark_line_width)
        self.embedder = Embedder(cfg)
        self.generator = Generator(cfg)
        self.discriminator = Discriminator(cfg, num_videos)

    def landmark_images(self, points: torch.Tensor, fmt: str) -> torch.Tensor:
        """Landmark images at the config's resolution: (B, N, 2|3) -> (B, 3, S, S)."""
        return self.rasterizer(points, fmt, self.cfg.image_size)

    def forward(self, landmark_images: torch.Tensor, adain: torch.Tensor) -> torch.Tensor:
        # (B, 3, S, S), (B, adain_size) -> (B, 4, S, S): the generator, the per-frame work
        return self.generator(landmark_images, adain)


def save_checkpoint(path: str | Path, model: TalkingHead, extra: dict[str, Any] | None = None) -> None:
    """Write ``model`` (config, num_videos, state dicts) and ``extra`` to ``path`` atomically."""
    path = Path(path)
    payload: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "config_json": json.dumps(config_to_dict(model.cfg)),
        "num_videos": model.num_videos,
        **{name: getattr(model, name).state_dict() for name in _MODULES},
        "extra": dict(extra or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    log.debug("saved checkpoint %s (config %s)", path, model.cfg.name)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[TalkingHead, dict[str, Any]]:
    """Rebuild the model saved at ``path``; returns (model, extra). The model is in eval
    mode on ``map_location``. CheckpointError naming the file when it is missing or bad."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"model checkpoint {path} not found; {TRAIN_HINT}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for truncated or foreign files
        raise CheckpointError(f"model checkpoint {path} is unreadable or corrupt ({type(exc).__name__}: "
                              f"{exc}); {TRAIN_HINT}") from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a facecast talking-head checkpoint; {TRAIN_HINT}")
    if payload.get("format_version") != CHECKPOINT_FORMAT_VERSION:
        raise CheckpointError(f"model checkpoint {path} has format version {payload.get('format_version')}, "
                              f"this facecast reads {CHECKPOINT_FORMAT_VERSION}; {TRAIN_HINT}")
    try:
        cfg = config_from_dict(json.loads(payload["config_json"]))
        model = TalkingHead(cfg, int(payload["num_videos"]))
        for name in _MODULES:
            getattr(model, name).load_state_dict(payload[name])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"model checkpoint {path} is incomplete or does not match its config "
                              f"({type(exc).__name__}: {exc}); {TRAIN_HINT}") from exc
    model.to(map_location).eval()
    extra = payload.get("extra") or {}
    return model, dict(extra)
