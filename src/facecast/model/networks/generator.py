"""Generator G: landmark image + AdaIN parameters -> RGB frame and alpha matte.

AdaIN parameter layout (the ``adain`` input, ``(B, adain_size)``): AdaIN layers in the
order the forward pass meets them, each taking ``2C`` consecutive values, first the ``C``
scales then the ``C`` biases (applied as ``norm(x) * (1 + scale) + bias``):

1. bottleneck residual block i = 0..R-1: ``res{i}.norm1`` (C), ``res{i}.norm2`` (C)
2. up block j = 0..U-1: ``up{j}.norm1`` (its input width), ``up{j}.norm2`` (its output width)
3. ``out.norm`` over the last up width, before the output convolution.

``adain_layout()`` lists (name, offset, channels) for every layer. The per-character
vector is ``project(embedding)`` = ``embedding @ projection.T`` (paper: ψ = P ê), computed
once per character and passed with every frame, so one batch can mix characters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from facecast.model.networks.adain import adain as apply_adain
from facecast.model.networks.adain_residual_block import AdaINResidualBlock
from facecast.model.networks.config import ModelConfig
from facecast.model.networks.conv import conv2d
from facecast.model.networks.residual_block import ResidualBlock
from facecast.model.networks.self_attention import SelfAttention

__all__ = ["Generator", "PROJECTION_INIT_STD"]

# Std of the projection's initial entries: keeps the initial AdaIN scales and biases small
# (|scale| << 1) for embeddings of the size the untrained embedder produces.
PROJECTION_INIT_STD = 0.01


class Generator(nn.Module):
    """Image-to-image generator: instance-norm residual down blocks (self-attention at
    ``attention_size``), AdaIN residual blocks at the bottleneck, AdaIN residual up blocks
    (self-attention at ``attention_size``), then RGB (tanh) and alpha (sigmoid)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        down: list[nn.Module] = []
        prev = cfg.num_landmark_channels
        for i, c in enumerate(cfg.generator_down_channels):
            down.append(ResidualBlock(prev, c, downsample=True, instance_norm=True, spectral=False,
                                      preactivation=i > 0))
            if i + 1 == cfg.attention_block:
                down.append(SelfAttention(c, spectral=False))
            prev = c
        self.down = nn.ModuleList(down)
        self.res = nn.ModuleList(AdaINResidualBlock(prev, prev, upsample=False) for _ in range(cfg.num_res_blocks))
        self.up = nn.ModuleList()
        for j, c in enumerate(cfg.generator_up_channels):
            self.up.append(AdaINResidualBlock(prev, c, upsample=True))
            prev = c
        # Up block j (0-based) outputs side S / 2^(n-1-j); attention where that is attention_size.
        self.up_attention_after = cfg.num_down_blocks - cfg.attention_block - 1
        self.up_attention = SelfAttention(cfg.generator_up_channels[self.up_attention_after], spectral=False)
        self.out_channels = prev
        self.out_conv = conv2d(prev, 4, 3, spectral=False)

        self._layout = self._build_layout()
        self.adain_size = sum(2 * c for _, _, c in self._layout)
        # P: (adain_size, embed_dim), the learned projection of embeddings to AdaIN params.
        self.projection = nn.Parameter(torch.randn(self.adain_size, cfg.embed_dim) * PROJECTION_INIT_STD)

    def _build_layout(self) -> list[tuple[str, int, int]]:
        layout: list[tuple[str, int, int]] = []
        offset = 0
        named = [(f"res{i}", b) for i, b in enumerate(self.res)] + [(f"up{j}", b) for j, b in enumerate(self.up)]
        for name, block in named:
            for norm, c in (("norm1", block.in_channels), ("norm2", block.out_channels)):
                layout.append((f"{name}.{norm}", offset, c))
                offset += 2 * c
        layout.append(("out.norm", offset, self.out_channels))
        return layout

    def adain_layout(self) -> list[tuple[str, int, int]]:
        """(layer name, offset into the adain vector, channels C) per AdaIN layer; each
        layer reads ``adain[:, offset:offset + C]`` as scales and the next C as biases."""
        return list(self._layout)

    def project(self, embeddings: torch.Tensor) -> torch.Tensor:
        """AdaIN parameters of identity embeddings: (B, E) -> (B, adain_size)."""
        return embeddings @ self.projection.T

    def forward(self, landmark_images: torch.Tensor, adain: torch.Tensor) -> torch.Tensor:
        b = landmark_images.shape[0]
        if adain.shape != (b, self.adain_size):
            raise ValueError(f"adain must be (B, adain_size) = ({b}, {self.adain_size}), got {tuple(adain.shape)}")
        x = landmark_images  # (B, 3, S, S)
        for block in self.down:
            x = block(x)  # -> (B, C_down[-1], S/2^n, S/2^n) after the last block
        sizes = [blk.adain_size for blk in (*self.res, *self.up)] + [2 * self.out_channels]
        chunks = adain.split(sizes, dim=1)
        for block, p in zip(self.res, chunks):
            x = block(x, p)  # (B, C, S/2^n, S/2^n)
        for j, (block, p) in enumerate(zip(self.up, chunks[len(self.res):])):
            x = block(x, p)  # (B, C_up[j], 2H, 2W)
            if j == self.up_attention_after:
                x = self.up_attention(x)
        x = self.out_conv(F.relu(apply_adain(x, chunks[-1])))  # (B, C_up[-1], S, S) -> (B, 4, S, S)
        rgb = torch.tanh(x[:, :3])  # (B, 3, S, S) in [-1, 1]
        alpha = torch.sigmoid(x[:, 3:])  # (B, 1, S, S) in [0, 1]
        return torch.cat([rgb, alpha], dim=1)
