"""How far a document lies from a model's training documents: TF-IDF cosine to the nearest stored ones."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .text import UNKNOWN_ID, TextPipeline

DOMAIN_FILE = "domain.safetensors"
WORDS_READ = 1000  # per title and per content: enough to place a document, cheap on a long one
MAX_STORED_DOCUMENTS = 20_000
MAX_STORED_ENTRIES = 250_000  # nonzero word weights kept over all stored documents (about 1.5 MB on disk)
MAX_VOCABULARY = 1_000_000


@dataclass
class DomainCheck:
    """`score`: 1 - mean cosine similarity to the `neighbours` nearest stored training documents (0: like
    them, 1: no informative word in common); `unusual` when it is above the threshold tuned on validation."""

    score: float
    threshold: float
    unusual: bool
    reason: str
    # The document's best tag score and the floor under which it is unusual too (the Predictor adds them
    # when the model's blend stores a floor: jman_core.blend.Blend.confidence_floor).
    best_score: float | None = None
    confidence_floor: float | None = None


class DomainEstimator:
    """fit() on the training part, tune the threshold on validation, score() any document.

    Learned state: `idf_` (V,) float32 over the vocabulary's ids; the stored documents as a CSR matrix
    (`offsets_` (D + 1,) int64, `columns_` (N,) int32, `values_` (N,) float16, rows of unit length);
    `threshold_`. Unknown words weigh the largest IDF (rarer than any known word): they lengthen a
    document's vector and match nothing, so text in a foreign vocabulary scores near 1.
    """

    def __init__(
        self,
        neighbours: int = 5,
        warned_share: float = 0.025,
        max_documents: int = MAX_STORED_DOCUMENTS,
        max_entries: int = MAX_STORED_ENTRIES,
        seed: int = 42,
    ):
        self.neighbours = neighbours
        self.warned_share = warned_share
        self.max_documents = max_documents
        self.max_entries = max_entries
        self.seed = seed

    # ---- fitting ------------------------------------------------------------------------------
    def fit(
        self, pipeline: TextPipeline, train: Sequence[tuple[str, str]], validation: Sequence[tuple[str, str]]
    ) -> DomainEstimator:
        """`train`, `validation`: plain (title, content) pairs. Sets the IDF, the stored documents and the
        threshold (the (1 - warned_share) quantile of the validation documents' scores)."""
        rows = [document_ids(pipeline, title, content) for title, content in train]
        frequencies = np.zeros(pipeline.vocabulary_size, np.int64)
        for ids in rows:
            frequencies[np.unique(ids)] += 1
        self.idf_ = (np.log((len(rows) + 1) / (frequencies + 1)) + 1).astype(np.float32)
        self._store(self._sample(rows))
        scores = self.score_ids([document_ids(pipeline, title, content) for title, content in validation])
        self.threshold_ = float(np.quantile(scores, 1 - self.warned_share)) if len(scores) else 1.0
        self.validation_warned_ = float((scores > self.threshold_).mean()) if len(scores) else 0.0
        return self

    def _sample(self, rows: list[np.ndarray]) -> list[np.ndarray]:
        """A seeded sample of the training documents, as many as fit in max_documents and max_entries."""
        order = list(range(len(rows)))
        random.Random(self.seed).shuffle(order)
        chosen, entries = [], 0
        for index in order:
            size = len(np.unique(rows[index]))
            if len(chosen) >= self.max_documents or entries + size > self.max_entries:
                break
            chosen.append(rows[index])
            entries += size
        return chosen

    def _store(self, rows: list[np.ndarray]) -> None:
        matrix = self._vectors(rows)
        self.offsets_ = matrix.indptr.astype(np.int64)
        self.columns_ = matrix.indices.astype(np.int32)
        self.values_ = matrix.data.astype(np.float16)
        self._matrix = None

    # ---- scoring ------------------------------------------------------------------------------
    @property
    def unknown_idf(self) -> float:
        return float(self.idf_.max()) if len(self.idf_) else 1.0

    def _vectors(self, rows: Sequence[np.ndarray]) -> sparse.csr_matrix:
        """(len(rows), V) TF-IDF rows of unit length, counting unknown words in the length only."""
        offsets, columns, values = [0], [], []
        for ids in rows:
            words, counts = np.unique(ids[ids != UNKNOWN_ID], return_counts=True)
            weights = (1 + np.log(counts)) * self.idf_[words]
            length = np.sqrt((weights**2).sum() + int((ids == UNKNOWN_ID).sum()) * self.unknown_idf**2)
            columns.append(words)
            values.append(weights / length if length > 0 else weights)
            offsets.append(offsets[-1] + len(words))
        shape = (len(rows), len(self.idf_))
        return sparse.csr_matrix(
            (
                np.concatenate([np.zeros(0), *values]),
                np.concatenate([np.zeros(0, np.int64), *columns]),
                np.asarray(offsets),
            ),
            shape=shape,
        )

    @property
    def stored(self) -> sparse.csr_matrix:
        """(D, V) the stored training documents, built once from the stored arrays."""
        if getattr(self, "_matrix", None) is None:
            shape = (len(self.offsets_) - 1, len(self.idf_))
            self._matrix = sparse.csr_matrix(
                (self.values_.astype(np.float32), self.columns_, self.offsets_), shape=shape
            )
        return self._matrix

    def score_ids(self, rows: Sequence[np.ndarray]) -> np.ndarray:
        """(N,) 1 - mean cosine to the nearest stored documents, for word-id arrays of documents."""
        if not rows:
            return np.zeros(0, np.float32)
        similarities = (self.stored @ self._vectors(rows).T).toarray()  # (D, N)
        k = min(self.neighbours, similarities.shape[0])
        nearest = -np.partition(-similarities, k - 1, axis=0)[:k]  # (k, N)
        return np.clip(1 - nearest.mean(0), 0.0, 1.0).astype(np.float32)

    def checks(self, pipeline: TextPipeline, documents: Sequence[tuple[str, str]]) -> list[DomainCheck]:
        """One DomainCheck per plain (title, content) pair."""
        scores = self.score_ids([document_ids(pipeline, title, content) for title, content in documents])
        return [self._check(float(score)) for score in scores]

    def _check(self, score: float) -> DomainCheck:
        unusual = score > self.threshold_
        reason = (
            (
                f"its similarity to the closest training documents is {1 - score:.2f}, while "
                f"{1 - self.warned_share:.1%} of the model's own validation documents reach "
                f"{1 - self.threshold_:.2f}; its tags may not fit."
            )
            if unusual
            else ""
        )
        return DomainCheck(score, self.threshold_, unusual, reason)

    def summary(self) -> dict[str, float | int]:
        """What the model card and checkpoint.json say of the fitted statistic."""
        return {
            "neighbours": self.neighbours,
            "stored_documents": len(self.offsets_) - 1,
            "threshold": self.threshold_,
            "validation_warned": getattr(self, "validation_warned_", self.warned_share),
        }

    # ---- storage ------------------------------------------------------------------------------
    def to_tensors(self) -> dict[str, np.ndarray]:
        return {
            "idf": self.idf_,
            "offsets": self.offsets_,
            "columns": self.columns_,
            "values": self.values_,
            "threshold": np.asarray([self.threshold_], np.float32),
            "neighbours": np.asarray([self.neighbours], np.int64),
        }

    @classmethod
    def from_tensors(cls, tensors: dict[str, np.ndarray], vocabulary_size: int) -> DomainEstimator:
        """The estimator stored by to_tensors; ValueError naming the problem when the arrays are damaged."""
        problem = tensors_problem(tensors, vocabulary_size)
        if problem:
            raise ValueError(problem)
        estimator = cls(neighbours=int(tensors["neighbours"][0]))
        estimator.idf_, estimator.offsets_ = tensors["idf"], tensors["offsets"]
        estimator.columns_, estimator.values_ = tensors["columns"], tensors["values"]
        estimator.threshold_, estimator._matrix = float(tensors["threshold"][0]), None
        return estimator


def document_ids(pipeline: TextPipeline, title: str, content: str) -> np.ndarray:
    """Word ids of a plain title and content (at most WORDS_READ of each), unknown words as UNKNOWN_ID."""
    ids = pipeline.content_ids(title or "", WORDS_READ) + pipeline.content_ids(content or "", WORDS_READ)
    return np.asarray(ids, np.int64)


_EXPECTED = {
    "idf": np.float32,
    "offsets": np.int64,
    "columns": np.int32,
    "values": np.float16,
    "threshold": np.float32,
    "neighbours": np.int64,
}


def tensors_problem(tensors: dict[str, np.ndarray], vocabulary_size: int) -> str:
    """What is wrong with stored domain arrays (a missing one, a wrong dtype or shape, a value out of
    range), or "" when nothing is."""
    for name, dtype in _EXPECTED.items():
        if name not in tensors or tensors[name].dtype != dtype or tensors[name].ndim != 1:
            return f"has no 1-dimensional {np.dtype(dtype).name} array {name!r}"
    if len(tensors["threshold"]) != 1 or len(tensors["neighbours"]) != 1 or len(tensors["offsets"]) < 2:
        return "has a threshold, a neighbour count or document offsets of the wrong size"
    idf, offsets, columns, values = (tensors[name] for name in ("idf", "offsets", "columns", "values"))
    threshold, neighbours = float(tensors["threshold"][0]), int(tensors["neighbours"][0])
    documents = len(offsets) - 1
    if (
        len(idf) != vocabulary_size
        or vocabulary_size > MAX_VOCABULARY
        or not np.isfinite(idf).all()
        or (idf < 0).any()
    ):
        return (
            f"has word weights for {len(idf):,} words (or weights that are not finite and positive), "
            f"not {vocabulary_size:,}"
        )
    if (
        not 1 <= documents <= MAX_STORED_DOCUMENTS
        or len(columns) != len(values)
        or len(values) > 4 * MAX_STORED_ENTRIES
    ):
        return f"stores {documents:,} documents and {len(values):,} weights, outside the limits"
    if offsets[0] != 0 or offsets[-1] != len(values) or (np.diff(offsets) < 0).any():
        return "has document offsets that are not in order"
    if len(columns) and (columns.min() < 0 or columns.max() >= vocabulary_size):
        return "has word ids outside the vocabulary"
    if not np.isfinite(values).all() or (values < 0).any() or (values > 1.01).any():
        return "has document weights that are not between 0 and 1"
    if not 0 <= threshold <= 1 or not 1 <= neighbours <= documents:
        return "has a threshold outside 0-1 or a neighbour count outside 1 and its document count"
    return ""
