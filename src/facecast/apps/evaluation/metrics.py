"""Image similarity of a rendered frame to the real one: SSIM, PSNR, L1.

Plain definitions on uint8 RGB (H x W x 3), through scikit-image's reference
implementations (SSIM: Wang et al. 2004, 7x7 uniform window, over the three channels;
PSNR with a data range of 255); L1 is the mean absolute difference scaled to [0, 1].
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

METRICS = ("ssim", "psnr", "l1")


def _check(real: np.ndarray, fake: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    real, fake = np.asarray(real), np.asarray(fake)
    if real.shape != fake.shape or real.ndim != 3 or real.shape[2] != 3:
        raise ValueError(f"compare two H x W x 3 images of one size, got {real.shape} and {fake.shape}")
    return real, fake


def ssim(real: np.ndarray, fake: np.ndarray) -> float:
    real, fake = _check(real, fake)
    return float(structural_similarity(real, fake, channel_axis=2, data_range=255))


def psnr(real: np.ndarray, fake: np.ndarray) -> float:
    """PSNR in dB (capped at 100 for identical images)."""
    real, fake = _check(real, fake)
    if np.array_equal(real, fake):
        return 100.0
    return float(peak_signal_noise_ratio(real, fake, data_range=255))


def l1(real: np.ndarray, fake: np.ndarray) -> float:
    real, fake = _check(real, fake)
    return float(np.abs(real.astype(np.float32) - fake.astype(np.float32)).mean() / 255.0)


def frame_metrics(real: np.ndarray, fake: np.ndarray) -> dict[str, float]:
    """Every metric of ``METRICS`` for one frame pair."""
    return {"ssim": ssim(real, fake), "psnr": psnr(real, fake), "l1": l1(real, fake)}
