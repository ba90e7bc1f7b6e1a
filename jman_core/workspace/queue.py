"""The review queue: which documents a curator sees, in which order, and what each one proposes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .curation import Review, StoredDocument, StoredDomainCheck

ORDERS = {
    "file": "file order",
    "uncertainty": "most uncertain first (a tag scored nearest the threshold)",
    "lowest-top": "lowest top score first",
}
STATUS_FILTERS = ("all", "pending", "reviewed", "skipped")


@dataclass
class Proposal:
    """A tag the model proposes for a document: scored at or above the threshold (within top-k)."""

    tag: str
    score: float


def proposals(
    scores: np.ndarray | None, labels: Sequence[str], threshold: float, top_k: int | None = None
) -> list[Proposal]:
    """The proposed tags, best first; a document not scored yet proposes nothing."""
    if scores is None or len(scores) == 0:
        return []
    order = np.argsort(-scores, kind="stable")
    chosen = [index for index in order if scores[index] >= threshold]
    if top_k:
        chosen = chosen[:top_k]
    return [Proposal(labels[index], float(scores[index])) for index in chosen]


def uncertainty(scores: np.ndarray | None, threshold: float) -> float:
    """How near the threshold the document's closest tag
    scored (0: exactly on it); unscored documents last."""
    if scores is None or len(scores) == 0:
        return float("inf")
    return float(np.min(np.abs(scores - threshold)))


def queue(
    documents: Sequence[StoredDocument],
    reviews: dict[int, Review],
    scores: dict[int, np.ndarray],
    threshold: float,
    status_filter: str = "all",
    order: str = "file",
    domain: Mapping[int, StoredDomainCheck] | None = None,
    only_unlike_training: bool = False,
) -> list[int]:
    """Document ids of the queue: those with the status asked for (and, with `only_unlike_training`, whose
    stored domain check in `domain` says they read unlike the training documents), in the order asked for
    (ties in file order)."""
    if status_filter not in STATUS_FILTERS:
        raise ValueError(f"status filter {status_filter!r} is not one of {STATUS_FILTERS}")
    if order not in ORDERS:
        raise ValueError(f"order {order!r} is not one of {tuple(ORDERS)}")
    kept = [
        document
        for document in documents
        if status_filter == "all" or status_of(reviews, document.id) == status_filter
    ]
    if only_unlike_training:
        unusual = set(unlike_training(kept, domain or {}))
        kept = [document for document in kept if document.id in unusual]
    if order == "uncertainty":
        kept = sorted(kept, key=lambda document: uncertainty(scores.get(document.id), threshold))
    elif order == "lowest-top":
        kept = sorted(kept, key=lambda document: _top(scores.get(document.id)))
    return [document.id for document in kept]


def unlike_training(
    documents: Sequence[StoredDocument], domain: Mapping[int, StoredDomainCheck]
) -> list[int]:
    """Ids of the documents whose stored domain check says they read unlike the model's training documents,
    in file order (a document with no stored check is not among them)."""
    return [document.id for document in documents if document.id in domain and domain[document.id].unusual]


def status_of(reviews: dict[int, Review], document_id: int) -> str:
    review = reviews.get(document_id)
    return review.status if review else "pending"


def progress(documents: Sequence[StoredDocument], reviews: dict[int, Review]) -> tuple[int, int]:
    """(reviewed, total) for a curator."""
    return sum(status_of(reviews, document.id) == "reviewed" for document in documents), len(documents)


def _top(scores: np.ndarray | None) -> float:
    return float("inf") if scores is None or len(scores) == 0 else float(scores.max())


def bulk_candidates(
    document_ids: Sequence[int],
    scores: dict[int, np.ndarray],
    labels: Sequence[str],
    minimum: float,
    reviews: dict[int, Review],
) -> dict[int, list[tuple[str, float]]]:
    """For bulk accept: each document's tags scored at or
    above `minimum` that the curator has not decided yet."""
    chosen: dict[int, list[tuple[str, float]]] = {}
    for document_id in document_ids:
        decided = reviews[document_id].verdicts if document_id in reviews else {}
        tags = [
            (proposal.tag, proposal.score)
            for proposal in proposals(scores.get(document_id), labels, minimum)
            if proposal.tag not in decided
        ]
        if tags:
            chosen[document_id] = tags
    return chosen
