"""The joint loss of equation 4: binary cross-entropy plus the similarity and subsumption regularisers."""

from __future__ import annotations

import torch
import torch.nn.functional as functional
from torch import nn


def binary_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Equation 5, summed over labels and averaged over the batch: logits, targets (B, L) -> scalar."""
    return functional.binary_cross_entropy_with_logits(logits, targets, reduction="none").sum(-1).mean()


def similarity_loss(scores: torch.Tensor, targets: torch.Tensor, similarity: torch.Tensor) -> torch.Tensor:
    """L_sim = 1/2 sum_i sum_{j,k in Y_i} Sim_jk (s_ij - s_ik)^2, averaged over the batch.

    Expanding the square gives sum_j y_j s_j^2 (Sim y)_j - (y s) . Sim (y s), two matrix products instead
    of a loop over documents. scores, targets (B, L); similarity (L, L) symmetric -> scalar.
    """
    masked = targets * scores  # (B, L)
    masked_square = targets * scores.square()  # (B, L)
    first = (masked_square * (targets @ similarity)).sum(-1)  # (B,)
    second = (masked * (masked @ similarity)).sum(-1)  # (B,)
    return (first - second).mean()


def straight_through_round(scores: torch.Tensor) -> torch.Tensor:
    """R(s) of the paper (0 below 0.5, else 1) in the forward pass, with the gradient of s backwards."""
    return scores + ((scores >= 0.5).to(scores.dtype) - scores).detach()


def subsumption_loss(scores: torch.Tensor, targets: torch.Tensor, subsumption: torch.Tensor) -> torch.Tensor:
    """L_sub = 1/2 sum_i sum_{j,k in Y_i} Sub_jk R(s_ij) (1 - R(s_ik)), averaged over the batch.

    Sub_jk = 1 when label j is a child of label k. scores, targets (B, L); subsumption (L, L) -> scalar.
    """
    rounded = straight_through_round(scores)  # (B, L)
    child = targets * rounded  # (B, L)
    parent_missed = targets * (1.0 - rounded)  # (B, L)
    return 0.5 * (child * (parent_missed @ subsumption.T)).sum(-1).mean()


def joint_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    similarity: torch.Tensor | None = None,
    subsumption: torch.Tensor | None = None,
    lambda_sim: float = 0.0,
    lambda_sub: float = 0.0,
) -> torch.Tensor:
    """Equation 4: L = L_CE + lambda_sim L_sim + lambda_sub L_sub (terms with lambda 0 are skipped)."""
    loss = binary_cross_entropy(logits, targets)
    if (lambda_sim and similarity is not None) or (lambda_sub and subsumption is not None):
        scores = torch.sigmoid(logits)
        if lambda_sim and similarity is not None:
            loss = loss + lambda_sim * similarity_loss(scores, targets, similarity)
        if lambda_sub and subsumption is not None:
            loss = loss + lambda_sub * subsumption_loss(scores, targets, subsumption)
    return loss


class LabelSemantics(nn.Module):
    """Sim and Sub (L, L) for the regularisers: fixed buffers, or learnable parameters (JMANd, --dynamic_sem).

    With `l2_normalise` each row is scaled to unit L2 norm before use, as the authors' dynamic_sem_l2.
    """

    def __init__(self, similarity: torch.Tensor | None = None, subsumption: torch.Tensor | None = None,
                 dynamic: bool = False, l2_normalise: bool = False):
        super().__init__()
        self.dynamic = dynamic
        self.l2_normalise = l2_normalise
        for name, matrix in (("similarity", similarity), ("subsumption", subsumption)):
            if matrix is None:
                setattr(self, name, None)
            elif dynamic:
                setattr(self, name, nn.Parameter(matrix.clone().float()))
            else:
                self.register_buffer(name, matrix.clone().float())

    def matrices(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        if not self.l2_normalise:
            return self.similarity, self.subsumption
        return tuple(None if m is None else functional.normalize(m, dim=-1) for m in (self.similarity, self.subsumption))
