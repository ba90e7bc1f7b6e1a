"""Learning from corrections: reviewed documents become training data, and a new model is compared with the
old one on reviewed documents that neither saw."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data import Document, read_documents_from_bytes
from ..errors import DataError
from .curation import Workspace
from .store import WorkspaceError

HOLDOUT_FILE = "holdout.json"  # beside a job's files: the reviewed documents kept out of its training
DEFAULT_HOLDOUT_FRACTION = 0.2
MINIMUM_REVIEWED = 10


@dataclass
class ReviewedSet:
    """Reviewed documents of a collection (final tags as
    their tags), split into training and held-out parts."""

    training: list[Document]
    held_out: list[Document]


def reviewed_documents(
    workspace: Workspace, collection_id: int, curator: str | None = None
) -> list[Document]:
    """Every document marked reviewed (by `curator`, or by anyone: the latest review wins) with final tags."""
    documents = {document.id: document for document in workspace.documents(collection_id)}
    reviews = workspace.reviews(collection_id, curator)
    latest: dict[int, object] = {}
    for key, review in reviews.items():
        document_id = key if curator is not None else key[0]
        if review.status == "reviewed" and review.final_tags:
            if document_id not in latest or (review.updated or 0) > (latest[document_id].updated or 0):
                latest[document_id] = review
    return [
        Document(
            documents[document_id].source_id,
            documents[document_id].title,
            documents[document_id].content,
            list(review.final_tags),
            line=documents[document_id].position + 1,
        )
        for document_id, review in sorted(latest.items(), key=lambda item: documents[item[0]].position)
    ]


def split_reviewed(documents: list[Document], fraction: float = DEFAULT_HOLDOUT_FRACTION) -> ReviewedSet:
    """A stable split by a hash of each id: the same document is held out every time."""
    if not 0 <= fraction < 1:
        raise WorkspaceError("The held-out share is at least 0 and below 1.")
    if len(documents) < MINIMUM_REVIEWED:
        raise WorkspaceError(
            f"Only {len(documents)} document(s) are reviewed with tags; review at least "
            f"{MINIMUM_REVIEWED} before training on them."
        )
    held_out = [document for document in documents if _unit(document.id) < fraction]
    training = [document for document in documents if _unit(document.id) >= fraction]
    return ReviewedSet(training, held_out)


def _unit(identifier: str) -> float:
    return int(hashlib.sha256(identifier.encode()).hexdigest()[:8], 16) / 0x1_0000_0000


def training_file(
    reviewed: list[Document], base_name: str | None = None, base_data: bytes | None = None
) -> bytes:
    """A CSV that `jman train` reads: the reviewed documents,
    after the base training file's documents if given."""
    documents: list[Document] = []
    if base_data is not None:
        try:
            documents = read_documents_from_bytes(base_name or "base.csv", base_data)
        except DataError as error:
            raise WorkspaceError(f"The model's training file cannot be read: {error}") from None
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "title", "content", "tags"])
    for prefix, group in (("base-", documents), ("reviewed-", reviewed)):
        for document in group:
            writer.writerow([prefix + document.id, document.title, document.content, " ".join(document.tags)])
    return buffer.getvalue().encode("utf-8")


@dataclass
class HeldOut:
    """What a job started from the workspace kept beside its files: where its reviewed documents came from,
    the model it is to be compared with, and the reviewed documents it never saw."""

    collection_id: int
    curator: str
    base_model: str  # checkpoint folder of the model in use when the training started ("" if none)
    documents: list[Document]


def write_held_out(folder: str | Path, held_out: HeldOut) -> None:
    """Keeps the held-out part beside a job's files (atomically), for the comparison once the job ends."""
    from ..jobs import write_json_atomic

    write_json_atomic(
        Path(folder) / HOLDOUT_FILE,
        {
            "collection_id": held_out.collection_id,
            "curator": held_out.curator,
            "base_model": held_out.base_model,
            "documents": [
                {
                    "id": document.id,
                    "title": document.title,
                    "content": document.content,
                    "tags": document.tags,
                }
                for document in held_out.documents
            ],
        },
    )


def read_held_out(folder: str | Path) -> HeldOut | None:
    """What a job held out, or None when it was not started from the workspace (or the file is damaged)."""
    try:
        values = json.loads((Path(folder) / HOLDOUT_FILE).read_text(encoding="utf-8"))
        documents = [
            Document(
                str(value["id"]),
                str(value["title"]),
                str(value["content"]),
                [str(tag) for tag in value["tags"]],
            )
            for value in values["documents"]
        ]
        return HeldOut(
            int(values["collection_id"]), str(values["curator"]), str(values["base_model"]), documents
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def start_training(
    workspace: Workspace,
    collection_id: int,
    curator: str | None,
    jobs_dir: str | Path,
    checkpoints_dir: str | Path,
    name: str,
    overrides: dict,
    holdout_fraction: float = DEFAULT_HOLDOUT_FRACTION,
    base_file: tuple[str, bytes] | None = None,
    base_model: str = "",
    replace_existing: bool = False,
):
    """Starts a training job (jman_core.jobs) on the collection's reviewed documents, a share held out.

    `base_file` (name, bytes) is the model's own training file, added before the reviewed documents; an
    existing model of that name is replaced only with `replace_existing` (the curator confirmed it).
    Returns the job's JobStatus; the held-out documents are kept in the job's folder.
    """
    from ..jobs import start_job

    reviewed = split_reviewed(reviewed_documents(workspace, collection_id, curator), holdout_fraction)
    data = training_file(reviewed.training, *(base_file or (None, None)))
    status = start_job(jobs_dir, name, "reviewed.csv", data, overrides, checkpoints_dir, replace_existing)
    write_held_out(status.folder, HeldOut(collection_id, curator or "", base_model, reviewed.held_out))
    return status


def finished_comparisons(jobs_dir: str | Path, collection_id: int) -> list[tuple[object, HeldOut]]:
    """(JobStatus, HeldOut) of every finished job trained on this collection's reviews, newest first."""
    from ..jobs import list_jobs

    found = []
    for status in list_jobs(jobs_dir):
        held_out = read_held_out(status.folder)
        if held_out is not None and held_out.collection_id == collection_id and status.state == "finished":
            found.append((status, held_out))
    return found


def compare_models(predictors: dict[str, object], held_out: list[Document]) -> dict[str, dict[str, float]]:
    """The paper's metrics of each model (name -> Predictor) on the same held-out reviewed documents.

    Every tag of either model or of the documents counts; a tag a model does not know scores 0 for it.
    """
    if not held_out:
        raise WorkspaceError("No reviewed document was held out, so the models cannot be compared.")
    from ..metrics import evaluate

    tags = sorted(
        {tag for predictor in predictors.values() for tag in predictor.labels}
        | {tag for document in held_out for tag in document.tags}
    )
    column = {tag: index for index, tag in enumerate(tags)}
    truth = np.zeros((len(held_out), len(tags)), np.float32)
    for row, document in enumerate(held_out):
        truth[row, [column[tag] for tag in document.tags]] = 1
    results = {}
    for name, predictor in predictors.items():
        scores = np.zeros_like(truth)
        own = predictor.predict_proba_batch([(document.title, document.content) for document in held_out])
        scores[:, [column[tag] for tag in predictor.labels]] = own
        results[name] = evaluate(truth, scores, predictor.threshold)
    return results
