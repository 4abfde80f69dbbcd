"""Losses of the few-shot talking-head model, their weights in one frozen dataclass.

Generator + embedder side (paper's L_CNT + L_ADV + L_MCH, plus our alpha term):

- content (``ContentLoss``): with the user's VGG19 (and optionally VGGFace) weights, the
  paper's L1 between VGG activations (relu1_1 .. relu5_1), weights 1e-2 and 2e-3;
  without them, the fallback ``fallback_ms_ssim * (1 - MS-SSIM) + fallback_l1 * L1``
  on images in [0, 1] (MS-SSIM with its terms mapped to [0, 1], see ``ms_ssim``):
  Zhao et al.'s 0.84 / 0.16 mix, scaled by 10 to sit beside feature matching's 10;
- adversarial: ``-D(fake)`` (hinge GAN's generator side), weight 1;
- feature matching: L1 between the discriminator's intermediate features of the fake
  and the (detached) real frame, mean per layer, summed over layers, weight 10;
- embedding match (L_MCH): L1 between the embedder's vector and the discriminator's
  row W_i of that video, weight 80 (meta-learning only). It pulls both ways: the
  generator step moves the embedder towards a detached W_i, the discriminator step moves
  W_i towards the detached embedding;
- alpha: the generator also outputs an alpha channel. The data set has per-frame head
  mattes (``facecast dataset build`` computes them with the enrollment matte); alpha is
  trained with L1 towards the matte, weight 10. The RGB channels are trained on the
  whole frame (background included, as in the paper), so alpha only decides what the
  daemon composites. A data set built with ``--no-mattes`` has no target: alpha is then
  trained towards 1 (an opaque frame).

Discriminator side: hinge loss ``relu(1 - D(real)) + relu(1 + D(fake))``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "LossConfig", "d_hinge_loss", "g_adversarial_loss", "feature_matching_loss", "embedding_match_loss",
    "alpha_loss", "l1_loss",
]


@dataclass(frozen=True)
class LossConfig:
    """Weights of every loss term (paper's values where the paper has the term).

    The NOTES' two reimplementations use other values for some terms (VGG19 1.5e-1,
    VGGFace 2.5e-2, embedding match 10); all are configurable.
    """

    vgg19_weights: str | None = None  # local torchvision vgg19-dcbb9e9d.pth; None: fallback content loss
    vggface_weights: str | None = None  # local VGGFace state dict (optional, with or without VGG19)
    vgg19: float = 1e-2
    vggface: float = 2e-3
    fallback_ms_ssim: float = 8.4
    fallback_l1: float = 1.6
    adversarial: float = 1.0
    feature_matching: float = 10.0
    embedding_match: float = 80.0
    alpha: float = 10.0

    def __post_init__(self) -> None:
        for name in ("vgg19", "vggface", "fallback_ms_ssim", "fallback_l1", "adversarial", "feature_matching",
                     "embedding_match", "alpha"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0 or value != value:
                raise ValueError(f"loss weight {name} must be a number >= 0, got {value!r}")

    @property
    def perceptual(self) -> bool:
        """True when a VGG network computes the content loss (else the fallback)."""
        return bool(self.vgg19_weights or self.vggface_weights)


def l1_loss(x: Tensor, y: Tensor) -> Tensor:
    """Mean absolute difference, computed in float32."""
    return F.l1_loss(x.float(), y.float())


def d_hinge_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """Discriminator hinge loss: mean relu(1 - D(real)) + mean relu(1 + D(fake)); (B,) x 2 -> ()."""
    return F.relu(1.0 - real_scores.float()).mean() + F.relu(1.0 + fake_scores.float()).mean()


def g_adversarial_loss(fake_scores: Tensor) -> Tensor:
    """Generator side of the hinge GAN: -mean D(fake); (B,) -> ()."""
    return -fake_scores.float().mean()


def feature_matching_loss(fake_features: list[Tensor], real_features: list[Tensor]) -> Tensor:
    """Sum over layers of the mean L1 between fake and (detached) real features."""
    if len(fake_features) != len(real_features) or not fake_features:
        raise ValueError(f"feature matching needs two equal, non-empty lists, got {len(fake_features)} and "
                         f"{len(real_features)}")
    return torch.stack([l1_loss(f, r.detach()) for f, r in zip(fake_features, real_features)]).sum()


def embedding_match_loss(embeddings: Tensor, w_rows: Tensor) -> Tensor:
    """L_MCH: mean L1 between embedder vectors and discriminator rows, (B, E) x 2 -> ()."""
    if embeddings.shape != w_rows.shape:
        raise ValueError(f"embedding match needs equal shapes, got {tuple(embeddings.shape)} and {tuple(w_rows.shape)}")
    return l1_loss(embeddings, w_rows)


def alpha_loss(alpha: Tensor, matte: Tensor | None) -> Tensor:
    """L1 between the generator's alpha (B, 1, S, S) and the matte (same shape, [0, 1]);
    with no matte, towards 1 (opaque)."""
    target = torch.ones_like(alpha) if matte is None else matte
    return l1_loss(alpha, target)
