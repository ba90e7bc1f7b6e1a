"""Non-neural baselines of the paper on the same splits and metrics: TF-IDF + LR, SVM-ovr, and LDA."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from .config import ExperimentConfig
from .data import Document, multi_hot
from .errors import ConfigError
from .metrics import evaluate, tune_blend_weight, tune_threshold
from .model import LinearPart
from .training import iterate_batches, predict_scores, resolve_device
from .text import to_plain_text


def document_text(document: Document) -> str:
    """Title (twice, so it weighs more) and plain-text content, for the bag-of-words baselines."""
    title = to_plain_text(document.title)
    return f"{title} {title} {to_plain_text(document.content)}"


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(values, -30, 30)))


class TfidfClassifier:
    """TF-IDF (1-2 grams) features and a one-vs-rest linear classifier ("lr" or "svm-linear")."""

    def __init__(self, kind: str = "lr", regularisation: float = 10.0, seed: int = 42):
        self.kind = kind
        self.regularisation = regularisation
        self.seed = seed

    def fit(self, texts: Sequence[str], y: np.ndarray) -> "TfidfClassifier":
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.multiclass import OneVsRestClassifier
        from sklearn.svm import LinearSVC

        self.vectorizer_ = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=200_000, sublinear_tf=True)
        features = self.vectorizer_.fit_transform(texts)
        if self.kind == "lr":
            base = LogisticRegression(C=self.regularisation, max_iter=300)
        else:
            base = LinearSVC(C=self.regularisation / 10, random_state=self.seed)
        self.classifier_ = OneVsRestClassifier(base, n_jobs=1).fit(features, y.astype(int))
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        features = self.vectorizer_.transform(texts)
        if self.kind == "lr":
            return self.classifier_.predict_proba(features)
        return _sigmoid(self.classifier_.decision_function(features))  # margin 0 <-> score 0.5


class EmbeddingSVM:
    """The paper's SVM-ovr: RBF-kernel SVMs on averaged word2vec vectors of the document."""

    def __init__(self, regularisation: float = 10.0, gamma: float | str = "scale", dimension: int = 100, seed: int = 42):
        self.regularisation = regularisation
        self.gamma = gamma
        self.dimension = dimension
        self.seed = seed

    def _features(self, texts: Sequence[str]) -> np.ndarray:
        rows = []
        for text in texts:
            words = [word for word in text.lower().split() if word in self.vectors_.key_to_index]
            rows.append(np.mean([self.vectors_[word] for word in words], axis=0) if words else np.zeros(self.dimension))
        return np.asarray(rows, dtype=np.float32)

    def fit(self, texts: Sequence[str], y: np.ndarray) -> "EmbeddingSVM":
        from sklearn.multiclass import OneVsRestClassifier
        from sklearn.svm import SVC

        from .embeddings import train_word2vec

        self.vectors_ = train_word2vec([text.lower().split() for text in texts], self.dimension, seed=self.seed)
        model = SVC(kernel="rbf", C=self.regularisation, gamma=self.gamma, random_state=self.seed)
        self.classifier_ = OneVsRestClassifier(model, n_jobs=1).fit(self._features(texts), y.astype(int))
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return _sigmoid(self.classifier_.decision_function(self._features(texts)))


class TopicNeighbours:
    """The paper's LDA baseline: a document gets the tags of its k most similar training documents,
    compared by their LDA topic distributions (cosine); scores are the neighbours' mean tag vector."""

    def __init__(self, topics: int = 200, neighbours: int = 1, passes: int = 5, seed: int = 42):
        self.topics = topics
        self.neighbours = neighbours
        self.passes = passes
        self.seed = seed

    def _topics(self, texts: Sequence[str]) -> np.ndarray:
        from gensim.matutils import corpus2dense

        corpus = [self.dictionary_.doc2bow(text.lower().split()) for text in texts]
        distributions = corpus2dense(self.lda_[corpus], num_terms=self.topics).T  # (N, T)
        norms = np.linalg.norm(distributions, axis=1, keepdims=True)
        return np.divide(distributions, norms, out=np.zeros_like(distributions), where=norms > 0)

    def fit(self, texts: Sequence[str], y: np.ndarray) -> "TopicNeighbours":
        from gensim.corpora import Dictionary
        from gensim.models import LdaModel

        tokenised = [text.lower().split() for text in texts]
        self.dictionary_ = Dictionary(tokenised)
        self.dictionary_.filter_extremes(no_below=2, no_above=0.5)
        corpus = [self.dictionary_.doc2bow(words) for words in tokenised]
        self.lda_ = LdaModel(corpus, num_topics=self.topics, id2word=self.dictionary_, passes=self.passes,
                             random_state=self.seed)
        self.train_topics_ = self._topics(texts)
        self.train_targets_ = y
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        similarity = self._topics(texts) @ self.train_topics_.T  # (N, N_train)
        nearest = np.argsort(-similarity, axis=1, kind="stable")[:, : self.neighbours]
        return self.train_targets_[nearest].mean(axis=1)


BASELINES = {
    "tfidf-lr": lambda seed: TfidfClassifier("lr", seed=seed),
    "svm-linear": lambda seed: TfidfClassifier("svm-linear", seed=seed),
    "svm-rbf": lambda seed: EmbeddingSVM(seed=seed),
    "lda": lambda seed: TopicNeighbours(seed=seed),
}


@dataclass
class BaselineResult:
    name: str
    metrics: dict[str, dict[str, float]]
    threshold: float
    training_seconds: float
    statistics: dict[str, Any]


def run_baseline(name: str, documents: Sequence[Document], config: ExperimentConfig) -> BaselineResult:
    """Trains baseline `name` on the same split and labels as `train_documents`, tunes its threshold on
    validation and returns the same metrics (validation, test, test at 0.5)."""
    from .experiment import split_and_filter

    if name not in BASELINES:
        raise ConfigError(f"Unknown baseline {name!r}. Choose one of: {', '.join(BASELINES)}.")
    split, label_list, statistics = split_and_filter(documents, config)
    labels = [label for label, _ in label_list]
    started = time.monotonic()
    model = BASELINES[name](config.training.seed).fit([document_text(d) for d in split.train], multi_hot(split.train, labels))
    seconds = time.monotonic() - started
    validation_scores = model.predict_proba([document_text(d) for d in split.validation])
    threshold, _ = tune_threshold(multi_hot(split.validation, labels), validation_scores)
    normaliser = float(multi_hot(split.train, labels).sum(1).mean())
    metrics = {"validation": _evaluate(multi_hot(split.validation, labels), validation_scores, threshold, normaliser)}
    if split.test:
        test_truth = multi_hot(split.test, labels)
        test_scores = model.predict_proba([document_text(d) for d in split.test])
        metrics["test"] = _evaluate(test_truth, test_scores, threshold, normaliser)
        metrics["test_at_0.5"] = _evaluate(test_truth, test_scores, 0.5, normaliser)
    return BaselineResult(name, metrics, float(threshold), seconds, statistics)


def _evaluate(truth: np.ndarray, scores: np.ndarray, threshold: float, normaliser: float) -> dict[str, float]:
    return {key: float(value) for key, value in evaluate(truth, scores, threshold, normaliser).items()}


# ----------------------------------------------------------------------------------------------------
# The wide part of a network: the linear SVM above, over the words and word pairs the network reads


def counted_words(pipeline) -> torch.Tensor:
    """(V,) bool: the words a linear part counts, as scikit-learn's default tokens do: two characters or
    more with a letter or digit (punctuation, single letters, padding and <unk> are skipped)."""
    return torch.tensor([index > 1 and len(word) > 1 and any(character.isalnum() for character in word)
                         for index, word in enumerate(pipeline.id_to_word)], dtype=torch.bool)


def _read_keys(part: LinearPart, dataset, batch_size: int) -> list[np.ndarray]:
    """Every document's valid word and pair keys (LinearPart.read_keys), with repeats, in dataset order."""
    rows = []
    for batch in iterate_batches(dataset, np.arange(len(dataset)), batch_size, torch.device("cpu")):
        keys, valid = part.read_keys(*batch.inputs(), batch.content_ids)
        rows += [row[mask].numpy() for row, mask in zip(keys, valid)]
    return rows


def _vocabulary(rows: list[np.ndarray], min_count: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Sorted keys read in at least `min_count` documents, and their smoothed IDF as scikit-learn's
    TfidfVectorizer computes it: ln((1 + n) / (1 + df)) + 1."""
    keys, counts = np.unique(np.concatenate([np.unique(row) for row in rows] or [np.zeros(0, np.int64)]), return_counts=True)
    kept = counts >= min_count
    return keys[kept], np.log((1 + len(rows)) / (1 + counts[kept])) + 1


def _features(part, dataset, batch_size: int):
    """(N, F) scipy CSR TF-IDF of `dataset` as `part` computes it."""
    from scipy import sparse

    blocks = []
    with torch.no_grad():
        for batch in iterate_batches(dataset, np.arange(len(dataset)), batch_size, torch.device("cpu")):
            blocks.append(sparse.csr_matrix(part.tfidf(*batch.inputs(), batch.content_ids).numpy()))
    return sparse.vstack(blocks).tocsr()


def _svm_weights(features, labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One linear SVM per label (C = 1, as the svm-linear baseline) -> weights (L, F), bias (L,). A label
    with one class only in training gets zero weights and a bias that says so."""
    from sklearn.svm import LinearSVC

    weights = np.zeros((labels.shape[1], features.shape[1]), np.float32)
    bias = np.zeros(labels.shape[1], np.float32)
    for label in range(labels.shape[1]):
        target = labels[:, label] > 0
        if target.all() or not target.any():
            bias[label] = 1.0 if target.all() else -1.0
            continue
        svm = LinearSVC(C=1.0, random_state=seed).fit(features, target)
        weights[label], bias[label] = svm.coef_[0], svm.intercept_[0]
    return weights, bias


def _new_part(model_config, counted: torch.Tensor, keys: np.ndarray, idf: np.ndarray, per_label: int) -> LinearPart:
    """A LinearPart over words and pairs `keys` (sorted) with their IDF; its tag weights still zero."""
    part = LinearPart(model_config.vocabulary_size, model_config.num_labels, len(keys), per_label)
    part.counted_words.copy_(counted)
    part.feature_keys.copy_(torch.from_numpy(keys))
    part.idf.copy_(torch.from_numpy(idf).float())
    return part


def _blend(model, part: LinearPart, validation, batch_size: int, device: torch.device) -> tuple[float, float, float]:
    """Attaches `part` to `model` and sets the blend weight with the best F1 on validation -> (weight,
    threshold, F1)."""
    model.linear_part = None
    network_scores, _ = predict_scores(model.to(device), validation, batch_size, device)
    model.linear_part = part.to(device)
    part.network_weight.fill_(0.0)
    linear_scores, _ = predict_scores(model, validation, batch_size, device)
    weight, threshold, f1 = tune_blend_weight(validation.labels, network_scores, linear_scores)
    part.network_weight.fill_(weight)
    return weight, threshold, f1


def fit_linear_part(model, prepared, model_config, training_config) -> tuple[Any, float, dict[str, Any]]:
    """Fits a trained network's linear part (model.LinearPart) on `prepared.train`: TF-IDF of the words
    and pairs read, a linear SVM per tag, its `linear_per_label` largest weights kept; then the blend
    weight and threshold that give the best F1 on validation. Attaches the part to `model` in place.
    -> (the model config that rebuilds it, the tuned threshold, statistics)."""
    started = time.monotonic()
    batch_size, counted = training_config.batch_size, counted_words(prepared.pipeline)
    empty = np.zeros(0, np.int64)
    keys, idf = _vocabulary(_read_keys(_new_part(model_config, counted, empty, empty, 1), prepared.train, batch_size))
    if len(keys) == 0:
        raise ConfigError("The linear part found no word read in two training documents; "
                          "train without linear_part or on more documents.")
    every = _new_part(model_config, counted, keys, idf, 1)
    weights, bias = _svm_weights(_features(every, prepared.train, batch_size), prepared.train.labels, training_config.seed)
    per_label = min(model_config.linear_per_label, len(keys))
    top = np.argsort(-np.abs(weights), axis=1, kind="stable")[:, :per_label]  # (L, k)
    used, positions = np.unique(top, return_inverse=True)
    part = _new_part(model_config, counted, keys[used], idf[used], per_label)
    part.label_features.copy_(torch.from_numpy(positions.reshape(top.shape)))
    part.label_weights.copy_(torch.from_numpy(np.take_along_axis(weights, top, axis=1)))
    part.bias.copy_(torch.from_numpy(bias))
    weight, threshold, f1 = _blend(model, part, prepared.validation, batch_size, resolve_device(training_config.device))
    statistics = {"linear_part_features": int(len(used)), "linear_part_vocabulary": int(len(keys)),
                  "linear_part_network_weight": weight, "linear_part_validation_f1": f1,
                  "linear_part_seconds": time.monotonic() - started}
    return replace(model_config, linear_features=int(len(used)), linear_per_label=per_label), threshold, statistics
