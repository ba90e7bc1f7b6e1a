"""The word-and-pair SVM (not in the paper): a linear SVM per tag over TF-IDF of the words and pairs read.

A scikit-learn-style estimator (`fit`, `decision_function`, fitted state ending in `_`) over the same token
ids the network reads, saved as tensors in safetensors. It is the strongest baseline on every site; the
Predictor blends it with the network (jman_core.blend), each calibrated on validation first.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from .batching import Batch, EncodedDataset, iterate_batches
from .config import LinearConfig
from .errors import CheckpointError, ConfigError

LINEAR_FILE = "linear.safetensors"
STATE_NAMES = ("counted_words_", "feature_keys_", "idf_", "label_features_", "label_weights_", "bias_")


def counted_words(id_to_word: list[str]) -> torch.Tensor:
    """(V,) bool: the words counted, as scikit-learn's default tokens do: two characters or more with a
    letter or digit (punctuation, single letters, padding and <unk> are skipped)."""
    return torch.tensor(
        [
            index > 1 and len(word) > 1 and any(character.isalnum() for character in word)
            for index, word in enumerate(id_to_word)
        ],
        dtype=torch.bool,
    )


def word_and_pair_keys(
    ids: torch.Tensor, mask: torch.Tensor, counted: torch.Tensor, vocabulary_size: int, offset: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """ids, mask (N, K) sequences -> keys, valid (N, 2K - 1), order (N, K): each counted word w as w*V, and
    each pair of counted words (a, b) adjacent once the others are skipped as a*V + b (b >= 2, so the two
    never collide), plus `offset`; key i < K is the word at position order[i], key K + i the pair at
    positions order[i] and order[i + 1]. counted (V,) bool says which words count."""
    keep = mask & counted[ids]  # (N, K)
    order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)  # counted words first, in reading order
    ids, keep = torch.gather(ids, 1, order), torch.gather(keep, 1, order)
    keys = torch.cat([ids * vocabulary_size, ids[:, :-1] * vocabulary_size + ids[:, 1:]], dim=1) + offset
    return keys, torch.cat([keep, keep[:, :-1] & keep[:, 1:]], dim=1), order


def content_of(batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """The content the SVM reads: the batch's first content words (B, K) when it carries them, else its
    sentences (B*S, W) (pairs never cross a sentence), with their masks."""
    if batch.content_ids is not None:
        return batch.content_ids, batch.content_ids != 0
    return batch.sentence_ids.reshape(-1, batch.sentence_ids.shape[-1]), batch.word_mask.reshape(
        -1, batch.word_mask.shape[-1]
    )


class WordPairSVM:
    """TF-IDF (sublinear, smoothed IDF, unit rows, as scikit-learn's TfidfVectorizer) of the words and word
    pairs read, the title twice and once more under its own keys, so a word can weigh more in the title;
    one LinearSVC per tag, each keeping its `per_label` largest weights."""

    def __init__(self, options: LinearConfig | None = None):
        self.options = options or LinearConfig()

    # ---- reading ---------------------------------------------------------------------------------
    @property
    def vocabulary_size(self) -> int:
        return len(self.counted_words_)

    def _sequences(self, batch: Batch) -> list[tuple[torch.Tensor, torch.Tensor, int, str]]:
        """(ids, mask, key offset, where) of each reading of a batch: the title twice, the content, then the
        title under its own keys (offset V*V)."""
        content, content_mask = content_of(batch)
        size = self.vocabulary_size
        title = (batch.title_ids, batch.title_mask)
        return [
            (*title, 0, "title"),
            (*title, 0, "title"),
            (content, content_mask, 0, "content"),
            (*title, size * size, "title"),
        ]

    def read_keys(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Every key read and whether it is valid, (B, K') each."""
        rows = batch.title_ids.shape[0]
        parts = [
            word_and_pair_keys(ids, mask, self.counted_words_, self.vocabulary_size, offset)[:2]
            for ids, mask, offset, _ in self._sequences(batch)
        ]
        return (
            torch.cat([keys.reshape(rows, -1) for keys, _ in parts], dim=1),
            torch.cat([valid.reshape(rows, -1) for _, valid in parts], dim=1),
        )

    def _counts(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> counts (B, F) of each known feature, and the feature position (B, K') and known flag of each
        key."""
        keys, valid = self.read_keys(batch)
        positions = torch.searchsorted(self.feature_keys_, keys).clamp(
            max=len(self.feature_keys_) - 1
        )  # (B, K')
        known = valid & (self.feature_keys_[positions] == keys)
        counts = torch.zeros(keys.shape[0], len(self.feature_keys_), device=keys.device)  # (B, F)
        counts.scatter_add_(1, positions, known.float())
        return counts, positions, known

    def tfidf(self, batch: Batch) -> torch.Tensor:
        """(B, F) sublinear TF-IDF of the known words and pairs read, each row of unit length."""
        return self._weighted(self._counts(batch)[0])

    def _weighted(self, counts: torch.Tensor) -> torch.Tensor:
        """counts (B, F) -> their sublinear TF-IDF, each row of unit length."""
        values = torch.where(counts > 0, 1 + torch.log(counts.clamp(min=1)), counts) * self.idf_  # (B, F)
        return values / values.norm(dim=1, keepdim=True).clamp(min=1e-12)

    def contributions(self, features: torch.Tensor) -> torch.Tensor:
        """features (B, F) -> (B, L, k) what each tag's kept features add to its margin."""
        return features[:, self.label_features_] * self.label_weights_  # (B, L, k)

    def decision_function(self, batch: Batch) -> torch.Tensor:
        """(B, L) the SVMs' margins (0 at the decision boundary)."""
        with torch.no_grad():
            return self.contributions(self.tfidf(batch)).sum(-1) + self.bias_

    # ---- evidence --------------------------------------------------------------------------------
    def feature_effects(self, batch: Batch, label: int, counts: torch.Tensor | None = None) -> torch.Tensor:
        """(F,) what each feature read in document 0 adds to tag `label`'s margin (0 for the rest); `counts`
        (B, F), when the caller has them, are not counted again."""
        added = torch.zeros(len(self.feature_keys_))
        features = (self.tfidf(batch) if counts is None else self._weighted(counts))[0]  # (F,)
        kept = self.label_features_[label]  # (k,)
        added[kept] = features[kept] * self.label_weights_[label]
        return added

    def token_effects(self, batch: Batch, label: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact per-word evidence for tag `label` of a batch of ONE document: each feature's effect shared
        equally among its occurrences, a pair's half to each of its two words -> title (T,) and content
        values (K,) or (S*W,), as `content_of` reads it; their sum plus the bias is the margin."""
        counts, positions, known = self._counts(batch)
        effects = self.feature_effects(batch, label, counts)  # (F,)
        share = torch.where(
            known[0], effects[positions[0]] / counts[0, positions[0]].clamp(min=1), 0.0
        )  # (K',)
        title = torch.zeros(batch.title_ids.shape[1])
        content = torch.zeros(content_of(batch)[0].numel())
        start = 0
        for ids, mask, offset, where in self._sequences(batch):
            order = word_and_pair_keys(ids, mask, self.counted_words_, self.vocabulary_size, offset)[
                2
            ]  # (R, K)
            rows, length = order.shape
            part = share[start : start + rows * (2 * length - 1)].reshape(rows, 2 * length - 1)
            start += part.numel()
            base = (torch.arange(rows) * length).unsqueeze(1)  # flat index of each row's first word
            target, pairs = (title if where == "title" else content), part[:, length:].reshape(-1) / 2
            target.index_add_(0, (order + base).reshape(-1), part[:, :length].reshape(-1))
            target.index_add_(0, (order[:, :-1] + base).reshape(-1), pairs)
            target.index_add_(0, (order[:, 1:] + base).reshape(-1), pairs)
        return title, content

    def strongest_terms(self, batch: Batch, label: int, count: int) -> list[tuple[int, int, bool, float]]:
        """The `count` words and pairs of document 0 that moved tag `label`'s margin most, as (first word id,
        second word id or 0 for a single word, read as the title's own, what it added), largest first."""
        added = self.contributions(self.tfidf(batch))[0, label]  # (k,)
        order = [index for index in added.abs().argsort(descending=True).tolist() if added[index] != 0][
            :count
        ]
        keys = self.feature_keys_[self.label_features_[label, order]].tolist()
        size = self.vocabulary_size
        return [
            ((key % size**2) // size, key % size, key >= size**2, float(added[index]))
            for key, index in zip(keys, order)
        ]

    # ---- fitting ---------------------------------------------------------------------------------
    def fit(
        self, dataset: EncodedDataset, id_to_word: list[str], batch_size: int = 256, seed: int = 42
    ) -> WordPairSVM:
        """Fits on an encoded dataset (its labels (N, L)); `id_to_word` is the vocabulary its ids index."""
        started = time.monotonic()
        self.counted_words_ = counted_words(id_to_word)
        self.feature_keys_ = torch.zeros(0, dtype=torch.long)
        keys, idf = _vocabulary(self._read_all_keys(dataset, batch_size))
        if len(keys) == 0:
            raise ConfigError(
                "The linear SVM found no word read in two training documents; "
                "train with linear.enabled false, or on more documents."
            )
        self._set_features(keys, idf)
        self.label_features_ = torch.zeros(dataset.labels.shape[1], 1, dtype=torch.long)
        weights, bias = _svm_weights(
            self._features(dataset, batch_size), dataset.labels, self.options.regularisation, seed
        )
        per_label = min(self.options.per_label, len(keys))
        top = np.argsort(-np.abs(weights), axis=1, kind="stable")[:, :per_label]  # (L, k)
        used, positions = np.unique(top, return_inverse=True)
        self._set_features(keys[used], idf[used])
        self.label_features_ = torch.from_numpy(positions.reshape(top.shape)).long()
        self.label_weights_ = torch.from_numpy(np.take_along_axis(weights, top, axis=1)).float()
        self.bias_ = torch.from_numpy(bias).float()
        self.statistics_ = {
            "linear_features": int(len(used)),
            "linear_vocabulary": int(len(keys)),
            "linear_seconds": time.monotonic() - started,
        }
        return self

    def _set_features(self, keys: np.ndarray, idf: np.ndarray) -> None:
        self.feature_keys_ = torch.from_numpy(keys).long()
        self.idf_ = torch.from_numpy(idf).float()

    def _read_all_keys(self, dataset: EncodedDataset, batch_size: int) -> list[np.ndarray]:
        rows = []
        for batch in iterate_batches(dataset, np.arange(len(dataset)), batch_size, torch.device("cpu")):
            keys, valid = self.read_keys(batch)
            rows += [row[mask].numpy() for row, mask in zip(keys, valid)]
        return rows

    def _features(self, dataset: EncodedDataset, batch_size: int):
        """(N, F) scipy CSR TF-IDF of a dataset."""
        from scipy import sparse

        blocks = []
        for batch in iterate_batches(dataset, np.arange(len(dataset)), batch_size, torch.device("cpu")):
            blocks.append(sparse.csr_matrix(self.tfidf(batch).numpy()))
        return sparse.vstack(blocks).tocsr()

    def scores(self, dataset: EncodedDataset, batch_size: int = 256) -> np.ndarray:
        """(N, L) margins of a whole dataset."""
        return np.concatenate(
            [
                self.decision_function(batch).numpy()
                for batch in iterate_batches(
                    dataset, np.arange(len(dataset)), batch_size, torch.device("cpu")
                )
            ]
        )

    # ---- saving ----------------------------------------------------------------------------------
    def to_tensors(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self, name).contiguous() for name in STATE_NAMES}

    @classmethod
    def from_tensors(
        cls,
        tensors: dict[str, torch.Tensor],
        options: LinearConfig,
        vocabulary_size: int,
        num_labels: int,
        source: str = "",
    ) -> WordPairSVM:
        """A fitted SVM from saved tensors, checked: a damaged file would score silently wrong, so it is
        refused."""
        svm = cls(options)
        missing = [name for name in STATE_NAMES if name not in tensors]
        if missing:
            raise CheckpointError(
                f"{source} lacks {', '.join(missing)}; it is damaged. Restore it or train again."
            )
        for name in STATE_NAMES:
            setattr(svm, name, tensors[name])
        problem = svm._problem(vocabulary_size, num_labels)
        if problem:
            raise CheckpointError(
                f"{source} is damaged ({problem}); it was not loaded. Restore it or train again."
            )
        return svm

    def _problem(self, vocabulary_size: int, num_labels: int) -> str:
        keys, features = self.feature_keys_, len(self.feature_keys_)
        if len(self.counted_words_) != vocabulary_size or self.counted_words_.dtype != torch.bool:
            return "its word list does not fit the vocabulary"
        if (
            self.label_features_.dim() != 2
            or self.label_features_.dtype != torch.long
            or self.feature_keys_.dtype != torch.long
            or self.label_features_.shape != self.label_weights_.shape
            or self.label_features_.shape[0] != num_labels
        ):
            return "its tag weights do not fit the labels"
        if (
            self.idf_.shape != (features,)
            or self.bias_.shape != (num_labels,)
            or not all(
                torch.isfinite(tensor).all() for tensor in (self.label_weights_, self.idf_, self.bias_)
            )
        ):
            return "its weights have the wrong shape or are not finite"
        if bool((keys[1:] <= keys[:-1]).any()) or bool(
            ((self.label_features_ < 0) | (self.label_features_ >= features)).any()
        ):
            return "its word keys are not sorted, or a tag points past its words"
        return ""

    def to(self, device: torch.device | str) -> WordPairSVM:
        """Moves the fitted state to `device` (where the batches it reads are)."""
        for name in STATE_NAMES:
            setattr(self, name, getattr(self, name).to(device))
        return self

    def summary(self) -> dict[str, Any]:
        return {
            "features": len(self.feature_keys_),
            "per_label": int(self.label_features_.shape[1]),
            "content_words": self.options.content_words,
        }


def _vocabulary(rows: list[np.ndarray], min_count: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Sorted keys read in at least `min_count` documents, and their smoothed IDF as scikit-learn's
    TfidfVectorizer computes it: ln((1 + n) / (1 + df)) + 1."""
    keys, counts = np.unique(
        np.concatenate([np.unique(row) for row in rows] or [np.zeros(0, np.int64)]), return_counts=True
    )
    kept = counts >= min_count
    return keys[kept], np.log((1 + len(rows)) / (1 + counts[kept])) + 1


def _svm_weights(
    features, labels: np.ndarray, regularisation: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """One linear SVM per label -> weights (L, F), bias (L,). A label with one class only in training gets
    zero weights and a bias that says so."""
    from sklearn.svm import LinearSVC

    weights = np.zeros((labels.shape[1], features.shape[1]), np.float32)
    bias = np.zeros(labels.shape[1], np.float32)
    for label in range(labels.shape[1]):
        target = labels[:, label] > 0
        if target.all() or not target.any():
            bias[label] = 1.0 if target.all() else -1.0
            continue
        svm = LinearSVC(C=regularisation, random_state=seed).fit(features, target)
        weights[label], bias[label] = svm.coef_[0], svm.intercept_[0]
    return weights, bias
