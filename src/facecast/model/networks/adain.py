"""Adaptive instance normalisation (Huang & Belongie 2017) with explicit parameters.

The parameters of one AdaIN layer over ``C`` channels are a ``(B, 2C)`` slice of the
generator's ``adain`` input: the first ``C`` values are the scales, the next ``C`` the
biases. They are applied as ``instance_norm(x) * (1 + scale) + bias`` so that an all-zero
vector is the identity on the normalised features (a stable start for training).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["adain", "ADAIN_EPS"]

ADAIN_EPS = 1e-5


def adain(x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """Normalise each (sample, channel) plane of ``x`` and apply per-sample scale and bias."""
    # x: (B, C, H, W), params: (B, 2C) -> (B, C, H, W)
    c = x.shape[1]
    if params.shape != (x.shape[0], 2 * c):
        raise ValueError(f"AdaIN params must be (B, 2C) = ({x.shape[0]}, {2 * c}), got {tuple(params.shape)}")
    scale, bias = params[:, :c, None, None], params[:, c:, None, None]  # (B, C, 1, 1) each
    return F.instance_norm(x, eps=ADAIN_EPS) * (1 + scale) + bias
