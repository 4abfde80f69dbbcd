"""The two sides' objectives, composed from the loss terms with ``LossConfig``'s weights.

Shared by meta-learning (``meta_step``) and fine-tuning (``finetune``); fine-tuning
passes no embeddings, so it has no embedding-match term.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from facecast.training.losses import (
    LossConfig, alpha_loss, d_hinge_loss, embedding_match_loss, feature_matching_loss, g_adversarial_loss,
)

__all__ = ["ContentFn", "generator_objective", "discriminator_objective"]

# (fake RGB, real RGB) in [-1, 1] -> (weighted content loss, its weighted parts)
ContentFn = Callable[[Tensor, Tensor], tuple[Tensor, dict[str, Tensor]]]


def generator_objective(cfg: LossConfig, content: ContentFn, output: Tensor, real: Tensor, matte: Tensor | None,
                        fake_scores: Tensor, fake_features: list[Tensor], real_features: list[Tensor],
                        embeddings: Tensor | None = None,
                        w_rows: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
    """Generator + embedder loss of one batch and its weighted parts (detached).

    output: the generator's (B, 4, S, S) (RGB in [-1, 1], alpha in [0, 1]); real:
    (B, 3, S, S); matte: (B, 1, S, S) or None (alpha towards 1); fake_scores (B,) and
    features come from the discriminator on (output RGB, landmark image); with
    ``embeddings`` and ``w_rows`` (B, E) the embedding-match term pulls the embeddings
    towards the (detached) discriminator rows.
    """
    fake = output[:, :3]
    content_total, parts = content(fake, real)
    terms: dict[str, Tensor] = {"content": content_total}
    terms["adversarial"] = cfg.adversarial * g_adversarial_loss(fake_scores)
    terms["feature_matching"] = cfg.feature_matching * feature_matching_loss(fake_features, real_features)
    terms["alpha"] = cfg.alpha * alpha_loss(output[:, 3:], matte)
    if embeddings is not None and w_rows is not None:
        terms["embedding_match"] = cfg.embedding_match * embedding_match_loss(embeddings, w_rows.detach())
    total = torch.stack(list(terms.values())).sum()
    logged = {f"g_{k}": v.detach() for k, v in terms.items()}
    logged.update({f"g_content_{k}": v for k, v in parts.items()})
    logged["g_total"] = total.detach()
    return total, logged


def discriminator_objective(cfg: LossConfig, real_scores: Tensor, fake_scores: Tensor,
                            embeddings: Tensor | None = None,
                            w_rows: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
    """Hinge loss of one batch (plus, in meta-learning, the embedding match pulling the
    discriminator rows ``w_rows`` towards the detached embeddings) and its parts."""
    terms = {"hinge": d_hinge_loss(real_scores, fake_scores)}
    if embeddings is not None and w_rows is not None:
        terms["embedding_match"] = cfg.embedding_match * embedding_match_loss(embeddings.detach(), w_rows)
    total = torch.stack(list(terms.values())).sum()
    logged = {f"d_{k}": v.detach() for k, v in terms.items()}
    logged["d_real"] = real_scores.detach().float().mean()
    logged["d_fake"] = fake_scores.detach().float().mean()
    logged["d_total"] = total.detach()
    return total, logged
