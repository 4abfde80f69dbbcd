"""Projection discriminator D with a per-video embedding matrix."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from facecast.model.networks.config import ModelConfig
from facecast.model.networks.residual_block import ResidualBlock
from facecast.model.networks.trunk import DownTrunk

__all__ = ["Discriminator"]


class Discriminator(nn.Module):
    """Realism score of (frame, landmark image) pairs for a given video identity.

    The trunk mirrors the embedder's design (own weights) plus one residual block at the
    last width; its ReLU-sum-pooled output V (B, E) is scored against the video's vector:
    ``score = <V, W[i] + w0> + b`` (paper: vᵀ(W_i + w₀) + b). Fine-tuning passes ``w``
    (B, E) in place of ``W[i]`` (one new identity, initialised from its embedding).
    ``features`` are the trunk's stage outputs plus the extra block's, for feature matching.

    Only the rows of ``W`` whose indices appear in a batch receive gradients.
    """

    def __init__(self, cfg: ModelConfig, num_videos: int) -> None:
        super().__init__()
        if num_videos < 0:
            raise ValueError(f"num_videos must be >= 0, got {num_videos}")
        self.cfg = cfg
        self.num_videos = num_videos
        e = cfg.embed_dim
        self.trunk = DownTrunk(3 + cfg.num_landmark_channels, cfg.discriminator_channels, cfg.attention_block)
        self.final = ResidualBlock(e, e, downsample=False, instance_norm=False, spectral=True)
        self.W = nn.Parameter(torch.randn(num_videos, e) * 0.02)
        self.w0 = nn.Parameter(torch.zeros(e))
        self.b = nn.Parameter(torch.zeros(()))

    def forward(self, frames: torch.Tensor, landmark_images: torch.Tensor,
                video_index: torch.Tensor | None = None,
                w: torch.Tensor | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        if (video_index is None) == (w is None):
            raise ValueError("Discriminator.forward needs exactly one of video_index and w")
        # (B, 3, S, S) + (B, 3, S, S) -> (B, 6, S, S)
        x = torch.cat([frames, landmark_images], dim=1)
        features = self.trunk(x)  # [(B, C1, S/2, S/2), ..., (B, E, S/2^n, S/2^n)]
        features.append(self.final(features[-1]))  # (B, E, S/2^n, S/2^n)
        v = F.relu(features[-1]).sum(dim=(2, 3))  # (B, E)
        identity = self.W[video_index] if video_index is not None else w  # (B, E)
        assert identity is not None
        score = (v * (identity + self.w0)).sum(dim=1) + self.b  # (B,)
        return score, features
