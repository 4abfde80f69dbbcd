"""SSIM and multi-scale SSIM (Wang, Simoncelli & Bovik 2003) in torch, differentiable.

Images are (B, C, H, W) with values in ``[0, data_range]``. The standard settings: an
11-tap Gaussian window with sigma 1.5 (valid convolution, no padding), K1 = 0.01,
K2 = 0.03, five scales weighted (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), 2x2 average
pooling between scales. Small images get fewer scales: a scale is used only while the
image is still at least as large as the window (3 scales at 64², all 5 from 161²); the
weights of the scales used are renormalised to sum to 1.

The terms can be negative (anti-correlated images), which fractional powers cannot take.
By default they are clamped to a small positive floor (the usual metric). For training,
``normalize=True`` maps each term from [-1, 1] to [0, 1] first, ``(v + 1) / 2``, as the
``normalize`` option of J. Pessoa's pytorch-msssim does: otherwise a single clamped term
early in training zeroes the gradient of the whole product. Identical images give 1
either way.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["MS_SSIM_WEIGHTS", "WINDOW_SIZE", "ssim", "ms_ssim", "ms_ssim_scales"]

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
WINDOW_SIZE = 11
WINDOW_SIGMA = 1.5
K1, K2 = 0.01, 0.03
_FLOOR = 1e-6


@functools.lru_cache(maxsize=16)
def _gaussian_1d(size: int, sigma: float, device: torch.device, dtype: torch.dtype) -> Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    g = torch.exp(-(x**2) / (2.0 * sigma**2))
    return (g / g.sum()).to(device=device, dtype=dtype)


def _blur(x: Tensor, window: Tensor) -> Tensor:
    """Separable Gaussian blur, valid convolution, per channel."""
    c = x.shape[1]
    k = window.numel()
    wx = window.view(1, 1, 1, k).expand(c, 1, 1, k)
    wy = window.view(1, 1, k, 1).expand(c, 1, k, 1)
    # (B, C, H, W) -> (B, C, H, W - k + 1) -> (B, C, H - k + 1, W - k + 1)
    return F.conv2d(F.conv2d(x, wx, groups=c), wy, groups=c)


def _ssim_terms(x: Tensor, y: Tensor, data_range: float) -> tuple[Tensor, Tensor]:
    """Per-image mean luminance*cs (the SSIM) and mean contrast-structure (cs), (B,) each."""
    window = _gaussian_1d(WINDOW_SIZE, WINDOW_SIGMA, x.device, x.dtype)
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    mu_x, mu_y = _blur(x, window), _blur(y, window)
    sxx = _blur(x * x, window) - mu_x * mu_x
    syy = _blur(y * y, window) - mu_y * mu_y
    sxy = _blur(x * y, window) - mu_x * mu_y
    cs_map = (2.0 * sxy + c2) / (sxx + syy + c2)
    lum_map = (2.0 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)
    return (lum_map * cs_map).flatten(1).mean(1), cs_map.flatten(1).mean(1)


def _check(x: Tensor, y: Tensor) -> None:
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(f"SSIM needs two (B, C, H, W) tensors of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    if min(x.shape[-2:]) < WINDOW_SIZE:
        raise ValueError(f"SSIM needs images of at least {WINDOW_SIZE}x{WINDOW_SIZE}, got {tuple(x.shape[-2:])}")


def ssim(x: Tensor, y: Tensor, data_range: float = 1.0) -> Tensor:
    """Single-scale SSIM per image: (B, C, H, W) x 2 -> (B,), 1 for identical images."""
    _check(x, y)
    value, _cs = _ssim_terms(x.float(), y.float(), data_range)
    return value


def ms_ssim_scales(size: int) -> int:
    """How many scales MS-SSIM uses for images whose smaller side is ``size``."""
    scales = 0
    while scales < len(MS_SSIM_WEIGHTS) and size >= WINDOW_SIZE:
        scales += 1
        size //= 2
    return scales


def ms_ssim(x: Tensor, y: Tensor, data_range: float = 1.0, normalize: bool = False) -> Tensor:
    """Multi-scale SSIM per image: (B, C, H, W) x 2 -> (B,), 1 for identical images.

    ``normalize``: map the per-scale terms to [0, 1] before the powers (for losses)."""
    _check(x, y)
    x, y = x.float(), y.float()
    scales = ms_ssim_scales(min(x.shape[-2:]))
    weights = torch.tensor(MS_SSIM_WEIGHTS[:scales], device=x.device, dtype=x.dtype)
    weights = weights / weights.sum()
    factors = []
    for i in range(scales):
        value, cs = _ssim_terms(x, y, data_range)
        if normalize:
            value, cs = (value + 1.0) * 0.5, (cs + 1.0) * 0.5
        if i < scales - 1:
            factors.append(cs.clamp(min=_FLOOR) ** weights[i])
            # (B, C, H, W) -> (B, C, H/2, W/2)
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
        else:
            factors.append(value.clamp(min=_FLOOR) ** weights[i])
    return torch.stack(factors, dim=0).prod(dim=0)
