"""VGG convolutional trunk that returns the activations the content loss compares.

Built layer for layer like torchvision's ``vgg19().features`` / ``vgg16().features``
(same ``features.<index>.weight`` keys), so a user's own torchvision state dict loads
unchanged (torchvision itself is not a dependency). Only the layers up to the deepest
tap are built. Frozen: no parameter requires grad, always in eval mode; gradients still
flow to the input images.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

__all__ = ["VGG16_LAYERS", "VGG19_LAYERS", "VGGFeatures", "conv_indices"]

# torchvision's configurations "D" (VGG16) and "E" (VGG19): channels, "M" = max-pool.
VGG16_LAYERS: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
                                       512, 512, 512, "M", 512, 512, 512, "M")
VGG19_LAYERS: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
                                       512, 512, 512, 512, "M", 512, 512, 512, 512, "M")


def conv_indices(layers: Sequence[int | str]) -> list[int]:
    """Indices of the convolutions in ``features`` for a layer configuration."""
    out, index = [], 0
    for item in layers:
        if item == "M":
            index += 1
        else:
            out.append(index)
            index += 2  # conv, ReLU
    return out


class VGGFeatures(nn.Module):
    """VGG trunk returning the outputs of the modules at ``taps`` (indices into
    ``features``, e.g. the ReLUs after conv1_1, conv2_1, ... conv5_1).

    Input images are RGB in [-1, 1]; they are mapped to [0, 1] and normalised with
    ``mean``/``std`` (given on the [0, 1] scale) before the first convolution.
    """

    def __init__(self, layers: Sequence[int | str], taps: Sequence[int], mean: Sequence[float],
                 std: Sequence[float]) -> None:
        super().__init__()
        if not taps:
            raise ValueError("VGGFeatures needs at least one tap")
        modules: list[nn.Module] = []
        channels = 3
        for item in layers:
            if item == "M":
                modules.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                modules.append(nn.Conv2d(channels, int(item), kernel_size=3, padding=1))
                modules.append(nn.ReLU(inplace=False))
                channels = int(item)
            if len(modules) > max(taps):
                break
        self.features = nn.Sequential(*modules)
        self.taps = tuple(sorted(int(t) for t in taps))
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> VGGFeatures:
        return super().train(False)  # always eval: a fixed feature extractor

    def forward(self, images: Tensor) -> list[Tensor]:
        # (B, 3, H, W) in [-1, 1] -> [(B, C_i, H / 2^k, W / 2^k) for each tap]
        x = ((images + 1.0) * 0.5 - self.mean) / self.std
        out: list[Tensor] = []
        for index, module in enumerate(self.features):
            x = module(x)
            if index in self.taps:
                out.append(x)
        return out
