"""Bringing documents into the workspace: a file becomes a collection, a model scores it in durable chunks."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..data import read_documents_from_bytes
from ..errors import JmanError
from .curation import CollectionInfo, ScoringModel, StoredDocument, Workspace

if TYPE_CHECKING:
    from ..domain import DomainCheck

CHUNK_SIZE = 64  # documents scored, then written, at a time: progress survives a crash, memory stays flat


def import_file(
    workspace: Workspace, file_name: str, data: bytes, collection_name: str | None = None
) -> CollectionInfo:
    """A new collection from an uploaded file (the formats of `jman train`, tags optional), ids kept."""
    documents = read_documents_from_bytes(file_name, data, require_tags=False)
    name = collection_name or workspace.unused_name(Path(file_name).name)
    return workspace.create_collection(name, documents, source=Path(file_name).name)


def model_fingerprint(checkpoint_folder: str | Path) -> str:
    """16 hex digits naming the checkpoint's weights and
    tokenizer as saved (a retrained model gets another)."""
    folder = Path(checkpoint_folder)
    try:
        document = json.loads((folder / "checkpoint.json").read_text(encoding="utf-8"))
        parts = [
            str(document.get("weights_sha256", "")),
            str(document.get("tokenizer_sha256", "")),
            json.dumps(document.get("labels", [])),
        ]
    except (OSError, ValueError):
        parts = [str(folder.resolve())]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def register_predictor(
    workspace: Workspace, predictor, checkpoint_folder: str | Path, name: str
) -> ScoringModel:
    return workspace.scoring_model(name, model_fingerprint(checkpoint_folder), predictor.labels)


def score_collection(
    workspace: Workspace,
    collection_id: int,
    predictor,
    model: ScoringModel,
    on_progress: Callable[[int, int], None] | None = None,
    only_missing: bool = True,
) -> list[str]:
    """Scores the collection's documents (those not yet scored by `model`, unless `only_missing` is False),
    each with its domain check (how far it lies from the model's training documents).

    Each chunk is written as soon as it is scored. Returns one message per document that could not be
    scored (empty ones), by id; the others are scored all the same.
    """
    documents = workspace.documents(collection_id)
    if only_missing:
        done = set(workspace.scores(collection_id, model))
        documents = [document for document in documents if document.id not in done]
    skipped: list[str] = []
    for start in range(0, len(documents), CHUNK_SIZE):
        chunk = documents[start : start + CHUNK_SIZE]
        scores = score_documents(predictor, chunk, skipped)
        domain = check_documents(predictor, [document for document in chunk if document.id in scores], scores)
        workspace.store_scores(model, scores, predictor.threshold, domain)
        if on_progress:
            on_progress(start + len(chunk), len(documents))
    return skipped


def score_documents(
    predictor, documents: Sequence[StoredDocument], skipped: list[str]
) -> dict[int, np.ndarray]:
    """Document id -> scores; a document that cannot be
    scored is reported in `skipped`, never fails the rest."""
    try:
        rows = predictor.predict_proba_batch([(document.title, document.content) for document in documents])
        return {document.id: row for document, row in zip(documents, rows)}
    except JmanError:
        pass  # some document of the chunk is empty: score them one by one to find which
    scores = {}
    for document in documents:
        try:
            scores[document.id] = predictor.predict_proba(document.title, document.content)
        except JmanError as error:
            skipped.append(f"id {document.source_id}: {error}")
    return scores


def check_documents(
    predictor, documents: Sequence[StoredDocument], scores: dict[int, np.ndarray] | None = None
) -> dict[int, DomainCheck | None]:
    """Document id -> its domain check (None for every one when the checkpoint stores no domain statistic);
    a document that cannot be checked gets None, never fails the rest (scoring reports why). `scores`, the
    documents' scores by id when the caller has them, spare the model a second run."""
    try:
        known = np.stack([scores[document.id] for document in documents]) if scores and documents else None
        checks = predictor.domain_checks(
            [(document.title, document.content) for document in documents], known
        )
        return {document.id: check for document, check in zip(documents, checks)}
    except JmanError:
        pass  # some document of the chunk is empty: check them one by one
    checks = {}
    for document in documents:
        try:
            checks[document.id] = predictor.domain_check(document.title, document.content)
        except JmanError:
            checks[document.id] = None
    return checks
