"""The downsampling trunk shared by the embedder's and the discriminator's designs."""

from __future__ import annotations

import torch
from torch import nn

from facecast.model.networks.residual_block import ResidualBlock
from facecast.model.networks.self_attention import SelfAttention

__all__ = ["DownTrunk"]


class DownTrunk(nn.Module):
    """Spectral-normalised residual down blocks with SAGAN self-attention after block
    ``attention_block`` (1-based: the feature map there has side ``attention_size``).

    Returns the output of every stage (each down block, and the attention layer), the last
    one being the trunk's output; the discriminator uses them for feature matching.
    """

    def __init__(self, in_channels: int, channels: tuple[int, ...], attention_block: int) -> None:
        super().__init__()
        stages: list[nn.Module] = []
        prev = in_channels
        for i, c in enumerate(channels):
            stages.append(ResidualBlock(prev, c, downsample=True, instance_norm=False, spectral=True,
                                        preactivation=i > 0))
            if i + 1 == attention_block:
                stages.append(SelfAttention(c, spectral=True))
            prev = c
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        # (B, Cin, S, S) -> [(B, C1, S/2, S/2), ..., (B, Cn, S/2^n, S/2^n)]
        outputs = []
        for stage in self.stages:
            x = stage(x)
            outputs.append(x)
        return outputs
