"""The one convolution factory of the model: same padding, optional spectral norm."""

from __future__ import annotations

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

__all__ = ["conv2d"]


def conv2d(in_channels: int, out_channels: int, kernel_size: int, *, spectral: bool) -> nn.Module:
    """A ``kernel_size`` convolution with "same" padding; spectral-normalised (one power
    iteration per training forward, Miyato et al. 2018) when ``spectral``."""
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
    return spectral_norm(conv) if spectral else conv
