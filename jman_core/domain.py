"""How far a document lies from a model's training documents: three signals, each measured against the
model's own validation documents, combined into one check.

- similarity: 1 - the mean TF-IDF cosine to the nearest stored training documents (high: unusual);
- vocabulary: how typical of the training documents its content words are, against general English
  (the mean log-ratio of a unigram model of the training part to one of English, `wordfreq`'s list,
  interpolated half and half, as in Moore and Lewis's cross-entropy difference; low: unusual);
- confidence: its best tag's score, given by the Predictor (low: unusual).

Each signal's value is turned into its tail probability among the validation documents' values, and the
three are combined by Fisher's method (-sum of their logs); the threshold keeps `warned_share` of the
validation documents flagged. A statistic saved before the vocabulary signal existed (domain format 1)
still loads and checks the similarity alone, against its stored threshold.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from .text import UNKNOWN_ID, TextPipeline

DOMAIN_FILE = "domain.safetensors"
WORDS_READ = 1000  # per title and per content: enough to place a document, cheap on a long one
MAX_STORED_DOCUMENTS = 20_000
MAX_STORED_ENTRIES = 250_000  # nonzero word weights kept over all stored documents (about 1.5 MB on disk)
MAX_VOCABULARY = 1_000_000
MAX_VALIDATION_VALUES = 200_000
GENERAL_LANGUAGE = "en"
# Words this frequent in English ("what", "use", "possible") say nothing of a topic: they are not counted
COMMON_WORD_FREQUENCY = 1e-4
RAREST_GENERAL_FREQUENCY = 1e-8  # wordfreq lists nothing rarer: a word it lacks counts as this rare
TRAINING_SHARE = 0.5  # the training unigram model's weight against English in the interpolation
SIGNALS = ("similarity", "vocabulary", "confidence")
# The confidence signal is left out when the validation documents' best scores take fewer distinct values
# (to 3 decimals): a model certain of nearly every one of them (all at the calibration's ceiling) would call
# any less certain document unusual, however confident.
MIN_CONFIDENCE_LEVELS = 10
_LETTER = re.compile(r"[^\W\d_]")


@dataclass
class DomainCheck:
    """`score`: the combined evidence that the document is unusual (-sum of the logs of each signal's tail
    probability among the validation documents; 0 for the most typical); `unusual` when it is above the
    threshold tuned on validation. `signals`: each signal's value; `typical_share`: for each, the share of
    the model's own validation documents that look less unusual on it. A domain-format-1 check gives the
    similarity alone as its score (1 - mean cosine) and no signals."""

    score: float
    threshold: float
    unusual: bool
    reason: str
    # The document's best tag score (the Predictor adds it), and, for a domain-format-1 statistic, the
    # blend's floor under which it is unusual too (jman_core.blend.Blend.confidence_floor).
    best_score: float | None = None
    confidence_floor: float | None = None
    signals: dict[str, float] = field(default_factory=dict)
    typical_share: dict[str, float] = field(default_factory=dict)


def general_frequencies(words: Sequence[str]) -> np.ndarray:
    """(V,) each word's frequency in general English (wordfreq's list; 0 where it lists none)."""
    from wordfreq import get_frequency_dict

    frequencies = get_frequency_dict(GENERAL_LANGUAGE, wordlist="best")
    return np.asarray([frequencies.get(word.lower(), 0.0) for word in words], np.float64)


def word_evidence(
    pipeline: TextPipeline, rows: Sequence[np.ndarray], general: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(V,) log(TRAINING_SHARE * p_train / p_english + 1 - TRAINING_SHARE) per word, and (V,) whether the
    word counts: it has a letter, two characters or more, and is rarer in English than
    COMMON_WORD_FREQUENCY. Unknown words count with log(1 - TRAINING_SHARE): the training part never had
    them (often enough to be in the vocabulary)."""
    counted = np.asarray(
        [len(word) > 1 and bool(_LETTER.search(word)) for word in pipeline.id_to_word], bool
    ) & (general < COMMON_WORD_FREQUENCY)
    counts = np.zeros(len(counted), np.float64)
    for ids in rows:
        np.add.at(counts, ids, 1.0)
    counts[~counted] = 0.0
    counts[UNKNOWN_ID] = 0.0
    training = counts / max(counts.sum(), 1.0)
    ratio = training / np.maximum(general, RAREST_GENERAL_FREQUENCY)
    evidence = np.log(TRAINING_SHARE * ratio + 1 - TRAINING_SHARE)
    counted[UNKNOWN_ID] = True
    evidence[UNKNOWN_ID] = np.log(1 - TRAINING_SHARE)
    return evidence.astype(np.float32), counted


def tail_shares(values: np.ndarray, reference: np.ndarray, high_is_unusual: bool) -> np.ndarray:
    """(N,) each value's tail probability among the sorted `reference` values, (count beyond + 1) / (n + 1):
    small when the value is more unusual than nearly all of them. Beyond the most unusual reference value
    it keeps falling, by a factor e per standard deviation of the references, so that a document far
    outside the validation documents' range weighs more than one just past it."""
    if high_is_unusual:
        beyond = len(reference) - np.searchsorted(reference, values, side="left")
        excess = np.maximum(values - reference[-1], 0.0)
    else:
        beyond = np.searchsorted(reference, values, side="right")
        excess = np.maximum(reference[0] - values, 0.0)
    scale = max(float(reference.std()), 1e-3)
    return (beyond + 1) / (len(reference) + 1) * np.exp(-excess / scale)


class DomainEstimator:
    """fit() on the training part, tune the threshold on validation, score() any document.

    Learned state: `idf_` (V,) float32 over the vocabulary's ids; the stored documents as a CSR matrix
    (`offsets_` (D + 1,) int64, `columns_` (N,) int32, `values_` (N,) float16, rows of unit length);
    `word_evidence_` (V,) float32 and `counted_` (V,) bool (see word_evidence); the validation documents'
    values of each signal, sorted (`validation_` by signal name; no confidence values when fitted without
    best scores); `threshold_`. Unknown words weigh the largest IDF (rarer than any known word): they
    lengthen a document's vector and match nothing, so text in a foreign vocabulary scores near 1.
    """

    def __init__(
        self,
        neighbours: int = 5,
        warned_share: float = 0.03,
        max_documents: int = MAX_STORED_DOCUMENTS,
        max_entries: int = MAX_STORED_ENTRIES,
        seed: int = 42,
    ):
        self.neighbours = neighbours
        self.warned_share = warned_share
        self.max_documents = max_documents
        self.max_entries = max_entries
        self.seed = seed
        self.word_evidence_: np.ndarray | None = None  # None: a domain-format-1 statistic
        self.validation_: dict[str, np.ndarray] = {}

    # ---- fitting ------------------------------------------------------------------------------
    def fit(
        self,
        pipeline: TextPipeline,
        train: Sequence[tuple[str, str]],
        validation: Sequence[tuple[str, str]],
        validation_best: np.ndarray | None = None,
    ) -> DomainEstimator:
        """`train`, `validation`: plain (title, content) pairs; `validation_best` (len(validation),) the
        validation documents' best tag scores (None: no confidence signal). Sets the IDF, the stored
        documents, the words' evidence, the validation values and the threshold (the (1 - warned_share)
        quantile of the validation documents' combined evidence)."""
        rows = [document_ids(pipeline, title, content) for title, content in train]
        frequencies = np.zeros(pipeline.vocabulary_size, np.int64)
        for ids in rows:
            frequencies[np.unique(ids)] += 1
        self.idf_ = (np.log((len(rows) + 1) / (frequencies + 1)) + 1).astype(np.float32)
        self._store(self._sample(rows))
        self.word_evidence_, self.counted_ = word_evidence(
            pipeline, rows, general_frequencies(pipeline.id_to_word)
        )
        validation_rows = [document_ids(pipeline, title, content) for title, content in validation]
        if not validation_rows:  # no validation part: the training documents are the reference
            validation_rows, validation_best = rows, None
        if (
            validation_best is not None
            and len(np.unique(np.round(validation_best, 3))) < MIN_CONFIDENCE_LEVELS
        ):
            validation_best = None
        values = self.signal_values(validation_rows, validation_best)
        self.validation_ = {name: np.sort(value).astype(np.float32) for name, value in values.items()}
        combined = self.combined(self.typical_shares(values))
        self.threshold_ = float(np.quantile(combined, 1 - self.warned_share)) if len(combined) else 0.0
        self.validation_warned_ = float((combined > self.threshold_).mean()) if len(combined) else 0.0
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
        """(N,) the similarity signal: 1 - mean cosine to the nearest stored documents, for word-id arrays."""
        if not rows:
            return np.zeros(0, np.float32)
        similarities = (self.stored @ self._vectors(rows).T).toarray()  # (D, N)
        k = min(self.neighbours, similarities.shape[0])
        nearest = -np.partition(-similarities, k - 1, axis=0)[:k]  # (k, N)
        return np.clip(1 - nearest.mean(0), 0.0, 1.0).astype(np.float32)

    def vocabulary_values(self, rows: Sequence[np.ndarray]) -> np.ndarray:
        """(N,) the vocabulary signal: the mean evidence of each document's counted words (0, neither way,
        for a document without one: only common words say nothing of its topic)."""
        values = []
        for ids in rows:
            evidence = self.word_evidence_[ids[self.counted_[ids]]]
            values.append(float(evidence.mean()) if len(evidence) else 0.0)
        return np.asarray(values, np.float32)

    @property
    def uses_confidence(self) -> bool:
        """Whether the check needs each document's best tag score (fitted with the validation ones)."""
        return len(self.validation_.get("confidence", ())) > 0

    def signal_values(self, rows: Sequence[np.ndarray], best: np.ndarray | None) -> dict[str, np.ndarray]:
        values = {"similarity": self.score_ids(rows), "vocabulary": self.vocabulary_values(rows)}
        if best is not None:
            values["confidence"] = np.asarray(best, np.float32)
        return values

    def typical_shares(self, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """For each signal the validation models hold, (N,) each document's tail probability on it."""
        return {
            name: tail_shares(values[name], reference, high_is_unusual=name == "similarity")
            for name, reference in self.validation_.items()
        }

    @staticmethod
    def combined(tails: dict[str, np.ndarray]) -> np.ndarray:
        """(N,) Fisher's combination of the signals' tails (typical_shares): -sum of their logs."""
        return -np.log(np.stack(list(tails.values()))).sum(0) if tails else np.zeros(0)

    def checks(
        self,
        pipeline: TextPipeline,
        documents: Sequence[tuple[str, str]],
        best_scores: np.ndarray | None = None,
    ) -> list[DomainCheck]:
        """One DomainCheck per plain (title, content) pair; `best_scores` (N,) each one's best tag score,
        needed when the statistic was fitted with them (`uses_confidence`)."""
        rows = [document_ids(pipeline, title, content) for title, content in documents]
        if self.word_evidence_ is None:  # domain format 1: the similarity alone
            return [self._similarity_check(float(score)) for score in self.score_ids(rows)]
        if self.uses_confidence and best_scores is None:
            raise ValueError("this domain statistic needs each document's best tag score")
        values = self.signal_values(rows, best_scores if self.uses_confidence else None)
        tails = self.typical_shares(values)
        combined = self.combined(tails)
        return [
            self._check(
                float(combined[index]),
                {name: float(value[index]) for name, value in values.items()},
                {name: float(tail[index]) for name, tail in tails.items()},
            )
            for index in range(len(rows))
        ]

    def _check(self, score: float, signals: dict[str, float], tails: dict[str, float]) -> DomainCheck:
        unusual = score > self.threshold_
        reason = _reason(signals, tails) if unusual else ""
        typical = {name: 1 - tail for name, tail in tails.items()}
        best = signals.get("confidence")
        return DomainCheck(score, self.threshold_, unusual, reason, best, None, signals, typical)

    def _similarity_check(self, score: float) -> DomainCheck:
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

    def summary(self) -> dict[str, float | int | list[str]]:
        """What the model card and checkpoint.json say of the fitted statistic."""
        return {
            "neighbours": self.neighbours,
            "stored_documents": len(self.offsets_) - 1,
            "threshold": self.threshold_,
            "validation_warned": getattr(self, "validation_warned_", self.warned_share),
            "signals": list(self.validation_) or ["similarity"],
        }

    # ---- storage ------------------------------------------------------------------------------
    def to_tensors(self) -> dict[str, np.ndarray]:
        tensors = {
            "idf": self.idf_,
            "offsets": self.offsets_,
            "columns": self.columns_,
            "values": self.values_,
            "threshold": np.asarray([self.threshold_], np.float32),
            "neighbours": np.asarray([self.neighbours], np.int64),
        }
        if self.word_evidence_ is not None:
            tensors["word_evidence"] = self.word_evidence_
            tensors["counted"] = self.counted_.astype(np.uint8)
            for name in SIGNALS:
                tensors[f"validation_{name}"] = self.validation_.get(name, np.zeros(0, np.float32))
        return tensors

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
        if "word_evidence" in tensors:
            estimator.word_evidence_ = tensors["word_evidence"]
            estimator.counted_ = tensors["counted"].astype(bool)
            estimator.validation_ = {
                name: tensors[f"validation_{name}"] for name in SIGNALS if len(tensors[f"validation_{name}"])
            }
        return estimator


_PHRASES = {
    "similarity": ("its similarity to the closest training documents is {value:.2f}, lower than for {share}"),
    "vocabulary": "its words are less typical of the training documents than those of {share}",
    "confidence": "its best tag scores only {value:.2f}, lower than for {share}",
}


def _reason(signals: dict[str, float], tails: dict[str, float]) -> str:
    """The signals that make a document unusual (those rarer than 1 in 10 validation documents, or the
    rarest one), each with the share of the model's own validation documents it is more unusual than."""
    ranked = sorted(tails, key=tails.get)
    shown = [name for name in ranked if tails[name] < 0.1] or ranked[:1]
    parts = [
        _PHRASES[name].format(
            value=1 - signals[name] if name == "similarity" else signals[name],
            share=f"{math.floor((1 - tails[name]) * 1000) / 10:g}%",  # rounded down: never "100%"
        )
        + " of the model's own validation documents"
        for name in shown
    ]
    return "; ".join(parts) + "; its tags may not fit."


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
    if (
        not 0 <= threshold
        or not 1 <= neighbours <= documents
        or ("word_evidence" not in tensors and threshold > 1)
    ):
        return (
            "has a negative threshold, a similarity threshold over 1, or a neighbour count outside 1 and "
            "its document count"
        )
    return _evidence_problem(tensors, vocabulary_size) if "word_evidence" in tensors else ""


def _evidence_problem(tensors: dict[str, np.ndarray], vocabulary_size: int) -> str:
    """What is wrong with the vocabulary and validation arrays of a domain-format-2 statistic, or ""."""
    expected = {"word_evidence": np.float32, "counted": np.uint8}
    expected.update({f"validation_{name}": np.float32 for name in SIGNALS})
    for name, dtype in expected.items():
        if name not in tensors or tensors[name].dtype != dtype or tensors[name].ndim != 1:
            return f"has no 1-dimensional {np.dtype(dtype).name} array {name!r}"
    evidence, counted = tensors["word_evidence"], tensors["counted"]
    if len(evidence) != vocabulary_size or len(counted) != vocabulary_size or (counted > 1).any():
        return f"has word evidence or counted-word flags for other than {vocabulary_size:,} words"
    if not np.isfinite(evidence).all():
        return "has word evidence that is not finite"
    validation = [tensors[f"validation_{name}"] for name in SIGNALS]
    if any(len(values) > MAX_VALIDATION_VALUES or not np.isfinite(values).all() for values in validation):
        return "has validation values that are not finite or too many"
    if not len(validation[0]) or len(validation[1]) != len(validation[0]):
        return "has no validation values for the similarity and the vocabulary, or unequal counts"
    if any((np.diff(values) < 0).any() for values in validation):
        return "has validation values that are not sorted"
    return ""
