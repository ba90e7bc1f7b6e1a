"""Evaluating a saved checkpoint on a dataset, and plain-dict views of predictions for JSON output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .data import filter_labels, multi_hot, read_documents, split_documents
from .errors import DataError
from .metrics import evaluate
from .predict import Explanation, Prediction, Predictor
from .text import Segment


def evaluate_checkpoint(
    checkpoint: str | Path, data: str | Path, part: str = "test", threshold: float | None = None
) -> dict[str, Any]:
    """The paper's metrics of a checkpoint on `part` ("test", "validation" or "all") of a dataset.

    The split is the checkpoint's own (same settings and seed), so "test" is what the model never saw
    when it was trained on this file. Tags unknown to the model are ignored; documents left without a
    known tag are dropped and counted.
    """
    predictor = Predictor.from_checkpoint(checkpoint)
    metadata = predictor.metadata
    documents = read_documents(data, metadata.data_config)
    if part != "all":
        split = split_documents(documents, metadata.data_config, metadata.training_config.seed)
        documents = getattr(split, part)
    kept, dropped = filter_labels(documents, predictor.labels)
    if not kept:
        raise DataError(
            f"No document of the {part} part carries a tag this model knows.",
            path=str(data),
            fix="check that the dataset uses the model's tags (`jman info` lists them).",
        )
    scores = predictor.predict_proba_batch([(document.title, document.content) for document in kept])
    truth = multi_hot(kept, predictor.labels)
    chosen = predictor.threshold if threshold is None else threshold
    # the paper's Q: mean labels per document, of the training part as in training (else of this data)
    normaliser = float(metadata.statistics.get("mean_labels_per_document") or truth.sum(1).mean())
    return {
        "documents": len(kept),
        "dropped": dropped,
        "threshold": chosen,
        "metrics": evaluate(truth, scores, chosen, normaliser),
        "metrics_at_0.5": evaluate(truth, scores, 0.5, normaliser),
    }


def read_unlabelled(path: str | Path) -> list[dict[str, str]]:
    """Documents to annotate from a file; the tags column is optional."""
    return [
        {"id": document.id, "title": document.title, "content": document.content}
        for document in read_documents(path, require_tags=False)
    ]


def prediction_to_dict(prediction: Prediction, limit: int = 20) -> dict[str, Any]:
    """JSON-ready view: the selected tags and the `limit` best-scoring tags with scores."""
    return {
        "tags": prediction.selected,
        "threshold": prediction.threshold,
        "scores": [
            {"label": tag.label, "score": round(tag.score, 6), "selected": tag.selected}
            for tag in prediction.tags[:limit]
        ],
    }


def _segment_dict(segment: Segment) -> dict[str, Any]:
    return {
        "start": segment.start,
        "end": segment.end,
        "read": segment.read,
        "tokens": [
            {"text": t.text, "start": t.start, "end": t.end, "known": t.known, "read": t.read}
            for t in segment.tokens
        ],
    }


def explanation_to_dict(explanation: Explanation) -> dict[str, Any]:
    """JSON-ready view of an explanation: prediction, tokens with spans, and all four attentions."""
    document = explanation.document
    return {
        **prediction_to_dict(explanation.prediction),
        "title_text": document.title_text,
        "content_text": document.content_text,
        "title": _segment_dict(document.title),
        "sentences": [_segment_dict(sentence) for sentence in document.sentences],
        "omitted_sentences": document.omitted_sentences,
        "title_word_attention": explanation.title_word_attention,
        "sentence_word_attention": explanation.sentence_word_attention,
        "original_sentence_attention": explanation.original_sentence_attention,
        "title_guided_sentence_attention": explanation.title_guided_sentence_attention,
        "warnings": explanation.warnings,
        # the network's share of the scores: below 0.05 its attention does not explain the suggestions
        "network_weight": explanation.network_weight,
        "attention_explains": explanation.attention_explains,
        "domain": None
        if explanation.domain is None
        else {
            "score": explanation.domain.score,
            "threshold": explanation.domain.threshold,
            "unusual": explanation.domain.unusual,
            "reason": explanation.domain.reason,
            # each signal's value and the share of the model's own validation documents less unusual on it
            "signals": {
                name: {"value": value, "typical_share": explanation.domain.typical_share.get(name)}
                for name, value in explanation.domain.signals.items()
            },
        },
    }
