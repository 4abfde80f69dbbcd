"""Residual block of the generator's bottleneck and up path, normalised by AdaIN."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from facecast.model.networks.adain import adain
from facecast.model.networks.conv import conv2d

__all__ = ["AdaINResidualBlock"]


class AdaINResidualBlock(nn.Module):
    """main: AdaIN -> ReLU [-> 2x nearest upsample] -> conv3x3 -> AdaIN -> ReLU -> conv3x3
    skip: [conv1x1 when the width changes] [-> 2x nearest upsample]

    The block has no normalisation parameters of its own: its two AdaIN layers read
    ``params`` (B, adain_size), the slice of the generator's AdaIN input for this block,
    laid out as [scale1 (Cin), bias1 (Cin), scale2 (Cout), bias2 (Cout)].
    """

    def __init__(self, in_channels: int, out_channels: int, *, upsample: bool) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.upsample = upsample
        self.conv1 = conv2d(in_channels, out_channels, 3, spectral=False)
        self.conv2 = conv2d(out_channels, out_channels, 3, spectral=False)
        self.skip = conv2d(in_channels, out_channels, 1, spectral=False) if in_channels != out_channels else None

    @property
    def adain_size(self) -> int:
        """Number of AdaIN values this block reads: 2 * (Cin + Cout)."""
        return 2 * (self.in_channels + self.out_channels)

    def forward(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        # x: (B, Cin, H, W), params: (B, 2Cin + 2Cout) -> (B, Cout, 2H, 2W) or (B, Cout, H, W)
        first, second = params.split((2 * self.in_channels, 2 * self.out_channels), dim=1)
        h = F.relu(adain(x, first))
        if self.upsample:
            h = F.interpolate(h, scale_factor=2.0, mode="nearest")  # (B, Cin, 2H, 2W)
        h = self.conv1(h)  # (B, Cout, ·, ·)
        h = self.conv2(F.relu(adain(h, second)))
        s = self.skip(x) if self.skip is not None else x  # 1x1 at the low side: cheaper, same result
        if self.upsample:
            s = F.interpolate(s, scale_factor=2.0, mode="nearest")
        return h + s
