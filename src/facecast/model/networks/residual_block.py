"""Residual block of the embedder, the discriminator and the generator's down path."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from facecast.model.networks.conv import conv2d

__all__ = ["ResidualBlock"]


class ResidualBlock(nn.Module):
    """Pre-activation residual block (BigGAN style), optionally halving the side.

    main: [norm -> ReLU ->] conv3x3 -> norm -> ReLU -> conv3x3 [-> avg-pool 2]
    skip: [avg-pool 2 ->] conv1x1 (only when the width changes)

    ``instance_norm`` puts affine instance norms before each ReLU (the generator's down
    path); ``spectral`` spectral-normalises every convolution (embedder, discriminator).
    ``preactivation=False`` drops the first norm and ReLU, for a block that reads images.
    """

    def __init__(self, in_channels: int, out_channels: int, *, downsample: bool, instance_norm: bool,
                 spectral: bool, preactivation: bool = True) -> None:
        super().__init__()
        self.downsample = downsample
        self.preactivation = preactivation

        def norm(c: int) -> nn.Module:
            return nn.InstanceNorm2d(c, affine=True) if instance_norm else nn.Identity()

        self.norm1 = norm(in_channels) if preactivation else nn.Identity()
        self.conv1 = conv2d(in_channels, out_channels, 3, spectral=spectral)
        self.norm2 = norm(out_channels)
        self.conv2 = conv2d(out_channels, out_channels, 3, spectral=spectral)
        self.skip = conv2d(in_channels, out_channels, 1, spectral=spectral) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # main path: (B, Cin, H, W) -> (B, Cout, H, W) -> (B, Cout, H/2, W/2) when downsampling
        h = F.relu(self.norm1(x)) if self.preactivation else x
        h = self.conv1(h)
        h = self.conv2(F.relu(self.norm2(h)))
        # skip path: pool first (cheaper; pooling and a 1x1 conv commute)
        s = x
        if self.downsample:
            h = F.avg_pool2d(h, 2)
            s = F.avg_pool2d(s, 2)  # (B, Cin, H/2, W/2)
        if self.skip is not None:
            s = self.skip(s)  # (B, Cout, ·, ·)
        return h + s
