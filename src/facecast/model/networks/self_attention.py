"""SAGAN self-attention (Zhang et al. 2019) over all positions of a feature map."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from facecast.model.networks.conv import conv2d

__all__ = ["SelfAttention"]


class SelfAttention(nn.Module):
    """``x + gamma * attention(x)``; queries and keys have C/8 channels, values C/2.

    ``gamma`` starts at 0 (as in SAGAN), so the block begins as the identity and the
    network learns how much non-local context to mix in.
    """

    def __init__(self, channels: int, *, spectral: bool) -> None:
        super().__init__()
        self.key_channels = max(1, channels // 8)
        self.value_channels = max(1, channels // 2)
        self.query = conv2d(channels, self.key_channels, 1, spectral=spectral)
        self.key = conv2d(channels, self.key_channels, 1, spectral=spectral)
        self.value = conv2d(channels, self.value_channels, 1, spectral=spectral)
        self.out = conv2d(self.value_channels, channels, 1, spectral=spectral)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        # (B, C, H, W) -> (B, 1, HW, C/8) queries and keys, (B, 1, HW, C/2) values
        q = self.query(x).flatten(2).transpose(1, 2).unsqueeze(1)
        k = self.key(x).flatten(2).transpose(1, 2).unsqueeze(1)
        v = self.value(x).flatten(2).transpose(1, 2).unsqueeze(1)
        # softmax(q kᵀ) v over the HW positions: (B, 1, HW, C/2)
        attended = F.scaled_dot_product_attention(q, k, v, scale=1.0)
        # (B, 1, HW, C/2) -> (B, C/2, H, W) -> (B, C, H, W)
        attended = attended.squeeze(1).transpose(1, 2).reshape(b, self.value_channels, h, w)
        return x + self.gamma * self.out(attended)
