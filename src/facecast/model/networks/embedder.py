"""Embedder E: (frame, landmark image) pairs -> identity embedding."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from facecast.model.networks.config import ModelConfig
from facecast.model.networks.trunk import DownTrunk

__all__ = ["Embedder"]


class Embedder(nn.Module):
    """Residual down blocks with self-attention, ReLU, global sum pooling (the paper's
    choice) -> ``(B, embed_dim)``. A character's embedding is the mean over its shots."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.trunk = DownTrunk(3 + cfg.num_landmark_channels, cfg.embedder_channels, cfg.attention_block)

    def forward(self, frames: torch.Tensor, landmark_images: torch.Tensor) -> torch.Tensor:
        # frames (B, 3, S, S) in [-1, 1], landmark_images (B, 3, S, S) in [0, 1] -> (B, 6, S, S)
        x = torch.cat([frames, landmark_images], dim=1)
        h = self.trunk(x)[-1]  # (B, E, S/2^n, S/2^n)
        return F.relu(h).sum(dim=(2, 3))  # (B, E)

    def embed_shots(self, frames: torch.Tensor, landmark_images: torch.Tensor) -> torch.Tensor:
        """One character's embedding: the mean over its K shots."""
        # (K, 3, S, S) x2 -> (K, E) -> (E,)
        if frames.ndim != 4 or frames.shape[0] < 1:
            raise ValueError(f"embed_shots expects (K, 3, S, S) frames with K >= 1, got {tuple(frames.shape)}")
        return self(frames, landmark_images).mean(dim=0)
