"""The content (reconstruction) loss: VGG19/VGGFace features when the user has the
weight files, otherwise L1 + MS-SSIM (see :mod:`facecast.training.losses`)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from facecast.training.losses import LossConfig, l1_loss
from facecast.training.ms_ssim import ms_ssim
from facecast.training.perceptual_weights import load_vgg19, load_vggface

__all__ = ["ContentLoss"]


class ContentLoss(nn.Module):
    """L_CNT between generated and real frames, both (B, 3, S, S) in [-1, 1].

    Loads the VGG weight files named in ``cfg`` at construction (a missing file raises
    PerceptualWeightsMissing naming it). ``forward`` returns the weighted total and its
    parts (detached floats for logging).
    """

    def __init__(self, cfg: LossConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.vgg19 = load_vgg19(cfg.vgg19_weights) if cfg.vgg19_weights else None
        self.vggface = load_vggface(cfg.vggface_weights) if cfg.vggface_weights else None

    @staticmethod
    def _feature_l1(net: nn.Module, fake: Tensor, real: Tensor) -> Tensor:
        with torch.no_grad():
            real_feats = net(real)
        return torch.stack([l1_loss(f, r) for f, r in zip(net(fake), real_feats)]).sum()

    def forward(self, fake: Tensor, real: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        # (B, 3, S, S) x 2 in [-1, 1] -> scalar loss
        cfg = self.cfg
        parts: dict[str, Tensor] = {}
        if cfg.perceptual:
            if self.vgg19 is not None:
                parts["vgg19"] = cfg.vgg19 * self._feature_l1(self.vgg19, fake, real)
            if self.vggface is not None:
                parts["vggface"] = cfg.vggface * self._feature_l1(self.vggface, fake, real)
        else:
            fake01 = (fake.float() + 1.0) * 0.5
            real01 = (real.float() + 1.0) * 0.5
            parts["ms_ssim"] = cfg.fallback_ms_ssim * (1.0 - ms_ssim(fake01, real01, normalize=True)).mean()
            parts["l1"] = cfg.fallback_l1 * l1_loss(fake01, real01)
        total = torch.stack(list(parts.values())).sum()
        return total, {k: v.detach() for k, v in parts.items()}
