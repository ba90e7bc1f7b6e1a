"""The joint loss of equation 4: binary cross-entropy plus the similarity and subsumption regularisers."""

from __future__ import annotations

import torch
import torch.nn.functional as functional
from torch import nn


def binary_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Equation 5, summed over labels and averaged over the batch: logits, targets (B, L) -> scalar."""
    return functional.binary_cross_entropy_with_logits(logits, targets, reduction="none").sum(-1).mean()


def _times(dense: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """dense (B, L) @ matrix (L, L), where `matrix` may be a sparse COO tensor."""
    if matrix.is_sparse:
        return torch.sparse.mm(matrix.t(), dense.t()).t()
    return dense @ matrix


def similarity_loss(scores: torch.Tensor, targets: torch.Tensor, similarity: torch.Tensor) -> torch.Tensor:
    """L_sim = 1/2 sum_i sum_{j,k in Y_i} Sim_jk (s_ij - s_ik)^2, averaged over the batch.

    Expanding the square gives sum_j y_j s_j^2 (Sim y)_j - (y s) . Sim (y s), two matrix products instead
    of a loop over documents. scores, targets (B, L); similarity (L, L) symmetric -> scalar.
    """
    masked = targets * scores  # (B, L)
    masked_square = targets * scores.square()  # (B, L)
    first = (masked_square * _times(targets, similarity)).sum(-1)  # (B,)
    second = (masked * _times(masked, similarity)).sum(-1)  # (B,)
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
    return 0.5 * (child * _times(parent_missed, subsumption.t())).sum(-1).mean()


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


# A fixed Sim or Sub with fewer non-zero entries than this share is stored sparse: a COO entry costs
# 20 bytes (two int64 indices and a float32) against 4 for a dense one, so below 20% sparse is smaller.
SPARSE_DENSITY = 0.1


class LabelSemantics(nn.Module):
    """Sim and Sub (L, L) for the regularisers: fixed buffers, or learnable parameters (JMANd, --dynamic_sem).

    A fixed matrix sparser than SPARSE_DENSITY is kept as a sparse COO tensor. With `l2_normalise` each
    row is scaled to unit L2 norm before use, as the authors' dynamic_sem_l2.
    """

    def __init__(
        self,
        similarity: torch.Tensor | None = None,
        subsumption: torch.Tensor | None = None,
        dynamic: bool = False,
        l2_normalise: bool = False,
    ):
        super().__init__()
        self.dynamic = dynamic
        self.l2_normalise = l2_normalise
        for name, matrix in (("similarity", similarity), ("subsumption", subsumption)):
            if matrix is None:
                setattr(self, name, None)
            elif dynamic:
                setattr(self, name, nn.Parameter(matrix.clone().float()))
            elif not l2_normalise and matrix.count_nonzero() < SPARSE_DENSITY * matrix.numel():
                self.register_buffer(name, matrix.float().to_sparse().coalesce())
            else:
                self.register_buffer(name, matrix.clone().float())

    def storage(self) -> list[str]:
        """How each matrix is held, e.g. "Sub: sparse, 42 entries, 0.0 MB (dense 1.0 MB)"."""
        lines = []
        for name, matrix in (("Sim", self.similarity), ("Sub", self.subsumption)):
            if matrix is None:
                continue
            dense_mb = matrix.shape[0] * matrix.shape[1] * 4 / 2**20
            if matrix.is_sparse:
                entries = matrix._nnz()
                lines.append(
                    f"{name}: sparse, {entries:,} entries, {entries * 20 / 2**20:.1f} MB "
                    f"(dense {dense_mb:.1f} MB)"
                )
            else:
                lines.append(f"{name}: dense, {dense_mb:.1f} MB")
        return lines

    def matrices(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        if not self.l2_normalise:
            return self.similarity, self.subsumption
        return tuple(
            None if m is None else functional.normalize(m, dim=-1)
            for m in (self.similarity, self.subsumption)
        )
