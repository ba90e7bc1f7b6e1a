"""Non-neural baselines of the paper on the same splits and metrics: TF-IDF + LR, SVM-ovr, and LDA."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import ExperimentConfig
from .data import Document, multi_hot, split_and_filter
from .errors import ConfigError
from .metrics import evaluate, tune_threshold
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

    def fit(self, texts: Sequence[str], y: np.ndarray) -> TfidfClassifier:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.multiclass import OneVsRestClassifier
        from sklearn.svm import LinearSVC

        self.vectorizer_ = TfidfVectorizer(
            ngram_range=(1, 2), min_df=2, max_features=200_000, sublinear_tf=True
        )
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

    def __init__(
        self, regularisation: float = 10.0, gamma: float | str = "scale", dimension: int = 100, seed: int = 42
    ):
        self.regularisation = regularisation
        self.gamma = gamma
        self.dimension = dimension
        self.seed = seed

    def _features(self, texts: Sequence[str]) -> np.ndarray:
        rows = []
        for text in texts:
            words = [word for word in text.lower().split() if word in self.vectors_.key_to_index]
            rows.append(
                np.mean([self.vectors_[word] for word in words], axis=0)
                if words
                else np.zeros(self.dimension)
            )
        return np.asarray(rows, dtype=np.float32)

    def fit(self, texts: Sequence[str], y: np.ndarray) -> EmbeddingSVM:
        from sklearn.multiclass import OneVsRestClassifier
        from sklearn.svm import SVC

        from .embeddings import train_word2vec

        self.vectors_ = train_word2vec(
            [text.lower().split() for text in texts], self.dimension, seed=self.seed
        )
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

    def fit(self, texts: Sequence[str], y: np.ndarray) -> TopicNeighbours:
        from gensim.corpora import Dictionary
        from gensim.models import LdaModel

        tokenised = [text.lower().split() for text in texts]
        self.dictionary_ = Dictionary(tokenised)
        self.dictionary_.filter_extremes(no_below=2, no_above=0.5)
        corpus = [self.dictionary_.doc2bow(words) for words in tokenised]
        self.lda_ = LdaModel(
            corpus,
            num_topics=self.topics,
            id2word=self.dictionary_,
            passes=self.passes,
            random_state=self.seed,
        )
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
    if name not in BASELINES:
        raise ConfigError(f"Unknown baseline {name!r}. Choose one of: {', '.join(BASELINES)}.")
    split, label_list, statistics = split_and_filter(documents, config.data, config.training.seed)
    labels = [label for label, _ in label_list]
    started = time.monotonic()
    model = BASELINES[name](config.training.seed).fit(
        [document_text(d) for d in split.train], multi_hot(split.train, labels)
    )
    seconds = time.monotonic() - started
    validation_scores = model.predict_proba([document_text(d) for d in split.validation])
    threshold, _ = tune_threshold(multi_hot(split.validation, labels), validation_scores)
    normaliser = float(multi_hot(split.train, labels).sum(1).mean())
    metrics = {
        "validation": evaluate(multi_hot(split.validation, labels), validation_scores, threshold, normaliser)
    }
    if split.test:
        test_truth = multi_hot(split.test, labels)
        test_scores = model.predict_proba([document_text(d) for d in split.test])
        metrics["test"] = evaluate(test_truth, test_scores, threshold, normaliser)
        metrics["test_at_0.5"] = evaluate(test_truth, test_scores, 0.5, normaliser)
    return BaselineResult(name, metrics, float(threshold), seconds, statistics)
