"""A collection as JSONL or CSV: each document, what the
model proposed, every decision, status and final tags.

The CSV is a file `jman train` reads as it is: columns id, title, content and tags (the final tags,
space-separated; empty for a document nobody reviewed, which training then leaves out). Its other columns
(status, suggestions, decisions, unlike_training...) are ones training does not read.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable

from ..data import spreadsheet_safe
from .curation import Review, ScoringModel, Workspace
from .queue import proposals

CSV_COLUMNS = [
    "id",
    "title",
    "content",
    "tags",
    "status",
    "curator",
    "time",
    "suggested_tags",
    "decisions",
    "gold_tags",
    "model",
    "model_fingerprint",
    "threshold",
    "unlike_training",  # yes / no: the model's domain check when it scored; empty when unknown
]


def export_records(
    workspace: Workspace,
    collection_id: int,
    model: ScoringModel | None = None,
    threshold: float | None = None,
    curator: str | None = None,
) -> list[dict]:
    """One record per document and curator (a document nobody touched: one pending record, curator "").

    `model` defaults to the latest model that scored the collection, `threshold` to the one it scored with.
    """
    documents = workspace.documents(collection_id)
    models = workspace.models_for(collection_id)
    model = model or (models[0] if models else None)
    scores = workspace.scores(collection_id, model) if model else {}
    domain = workspace.domain_checks(collection_id, model) if model else {}
    threshold = _threshold(workspace, collection_id, model) if threshold is None else threshold
    reviews = workspace.reviews(collection_id, curator)
    records = []
    for document in documents:
        proposed = (
            proposals(scores.get(document.id), model.labels if model else [], threshold)
            if threshold is not None
            else []
        )
        for review in _reviews_of(reviews, document.id, curator):
            records.append(
                {
                    "id": document.source_id,
                    "title": document.title,
                    "content": document.content,
                    "tags": review.final_tags if review.status == "reviewed" else [],
                    "status": review.status,
                    "curator": review.curator,
                    "time": review.updated.isoformat(timespec="seconds") if review.updated else "",
                    "suggested_tags": [{"tag": item.tag, "score": round(item.score, 6)} for item in proposed],
                    "decisions": dict(review.verdicts),
                    "final_tags": review.final_tags,
                    "gold_tags": document.gold_tags,
                    "model": model.name if model else "",
                    "model_fingerprint": model.fingerprint if model else "",
                    "threshold": None if threshold is None else round(float(threshold), 4),
                    # True: reads unlike the model's training documents; None: not checked
                    "unlike_training": domain[document.id].unusual if document.id in domain else None,
                }
            )
    return records


def _threshold(workspace: Workspace, collection_id: int, model: ScoringModel | None) -> float | None:
    return None if model is None else workspace.stored_threshold(collection_id, model)


def _reviews_of(reviews: dict, document_id: int, curator: str | None) -> list[Review]:
    if curator is not None:
        return [reviews.get(document_id) or Review(document_id, curator)]
    found = [
        review for (key, _), review in sorted(reviews.items(), key=lambda item: item[0]) if key == document_id
    ]
    return found or [Review(document_id, "")]


def to_jsonl(records: Iterable[dict]) -> str:
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)


def to_csv(records: Iterable[dict]) -> str:
    """Flat CSV: tag lists space-separated, suggestions as
    tag:score, decisions as tag=verdict; cells made inert."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for record in records:
        flat = {
            **{
                key: record[key]
                for key in (
                    "id",
                    "title",
                    "content",
                    "status",
                    "curator",
                    "time",
                    "model",
                    "model_fingerprint",
                )
            },
            "tags": " ".join(record["tags"]),
            "gold_tags": " ".join(record["gold_tags"]),
            "suggested_tags": " ".join(
                f"{item['tag']}:{item['score']:.4f}" for item in record["suggested_tags"]
            ),
            "decisions": " ".join(f"{tag}={verdict}" for tag, verdict in record["decisions"].items()),
            "threshold": "" if record["threshold"] is None else record["threshold"],
            "unlike_training": _yes_no(record["unlike_training"]),
        }
        writer.writerow({key: spreadsheet_safe(str(value)) for key, value in flat.items()})
    return buffer.getvalue()


def _yes_no(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "no")
