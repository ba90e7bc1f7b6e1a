"""Batch: tag every document of an uploaded file, show a table, open any row, download the results."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import streamlit as st

from jman_core.data import Document, read_documents_from_bytes
from jman_core.errors import DocumentError, JmanError

from .. import state
from ..documents import cap_text, precision_recall_f1
from ..guard import show_unexpected

ACCEPTED_TYPES = ["csv", "tsv", "jsonl", "json", "txt", "zip"]
CHUNK_SIZE = 32
TOP_SCORES_EXPORTED = 10
MAX_SKIPPED_LISTED = 10
RESULT_COLUMNS = ["line", "id", "title", "content", "suggested_tags", "scores", "gold_tags"]


@dataclass
class BatchResult:
    """An uploaded file, its documents, and (once run) the scores of every document that could be read."""

    file_name: str
    digest: str
    documents: list[Document] = field(default_factory=list)
    error: str = ""  # why the file could not be read
    scores: dict[int, np.ndarray] | None = None  # document index -> (L,) scores; None before the run
    skipped: list[str] = field(default_factory=list)  # one message per document that was left out


def read_upload(name: str, data: bytes) -> BatchResult:
    """Documents from an uploaded file (tags optional); a malformed file gives `error`, naming the line."""
    result = BatchResult(name, hashlib.sha1(data).hexdigest())
    try:
        result.documents = read_documents_from_bytes(name, data, require_tags=False)
    except JmanError as error:
        result.error = str(error)
    return result


def skipped_message(document: Document, reason: str) -> str:
    where = f"line {document.line}" if document.line else f"document {document.id}"
    return f"{where} (id {document.id}): {reason}"


def score_documents(predictor, documents: list[Document], on_progress: Callable[[int], None] | None = None):
    """Scores for every usable document, in chunks; empty documents are reported by line, not fatal.

    Returns (index -> scores, skipped messages).
    """
    scores: dict[int, np.ndarray] = {}
    skipped: list[str] = []
    for start in range(0, len(documents), CHUNK_SIZE):
        indices = list(range(start, min(start + CHUNK_SIZE, len(documents))))
        _score_chunk(predictor, documents, indices, scores, skipped)
        if on_progress:
            on_progress(indices[-1] + 1)
    return scores, skipped


def _texts(document: Document) -> tuple[str, str]:
    return cap_text(document.title)[0], cap_text(document.content)[0]


def _score_chunk(predictor, documents, indices, scores, skipped) -> None:
    try:
        rows = predictor.predict_proba_batch([_texts(documents[index]) for index in indices])
        scores.update(zip(indices, rows))
        return
    except DocumentError:
        pass  # some document of the chunk is empty: score them one by one to find which
    for index in indices:
        try:
            scores[index] = predictor.predict_proba(*_texts(documents[index]))
        except DocumentError as error:
            skipped.append(skipped_message(documents[index], str(error)))


def result_records(predictor, batch: BatchResult, threshold: float, top_k: int | None) -> list[dict]:
    """One record per scored document, partitioned at the current threshold and top-k."""
    records = []
    for index, document in enumerate(batch.documents):
        if index not in batch.scores:
            continue
        prediction = predictor.rank(batch.scores[index], threshold, top_k)
        records.append({
            "index": index, "line": document.line, "id": document.id, "title": document.title,
            "content": document.content, "suggested_tags": prediction.selected,
            "scores": {tag.label: round(tag.score, 6) for tag in prediction.tags[:TOP_SCORES_EXPORTED]},
            "gold_tags": list(document.tags),
        })
    return records


def batch_jsonl(records: list[dict]) -> str:
    return "".join(json.dumps({key: record[key] for key in RESULT_COLUMNS}, ensure_ascii=False) + "\n"
                   for record in records)


def batch_csv(records: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=RESULT_COLUMNS)
    writer.writeheader()
    for record in records:
        writer.writerow({**{key: record[key] for key in ("line", "id", "title", "content")},
                         "suggested_tags": " ".join(record["suggested_tags"]),
                         "scores": " ".join(f"{tag}:{score:.4f}" for tag, score in record["scores"].items()),
                         "gold_tags": " ".join(record["gold_tags"])})
    return buffer.getvalue()


def mean_scores(records: list[dict]) -> tuple[float, float, float, int] | None:
    """Mean per-document P, R, F1 over the records that carry gold tags (None if none do)."""
    triples = [precision_recall_f1(record["suggested_tags"], record["gold_tags"]) for record in records if record["gold_tags"]]
    if not triples:
        return None
    return (*(float(np.mean(values)) for values in zip(*triples)), len(triples))


# ---- widgets ----------------------------------------------------------------------------------
def current_batch(upload) -> BatchResult | None:
    """The session's batch for the uploaded file, read again only when the file changes."""
    if upload is None:
        return None
    data = upload.getvalue()
    batch = st.session_state[state.BATCH]
    if batch is None or batch.digest != hashlib.sha1(data).hexdigest() or batch.file_name != upload.name:
        batch = read_upload(upload.name, data)
        st.session_state[state.BATCH] = batch
    return batch


def run_batch(predictor, batch: BatchResult) -> None:
    total = len(batch.documents)
    progress = st.progress(0.0, text=f"Tagging {total} documents…")
    try:
        batch.scores, batch.skipped = score_documents(
            predictor, batch.documents,
            lambda done: progress.progress(done / total, text=f"Tagged {done} of {total} documents"))
    except JmanError as error:
        st.error(str(error))
    except Exception as error:  # noqa: BLE001 - keep the page alive
        show_unexpected(error, "tagging the uploaded documents")
    progress.empty()


def open_in_annotate_view(record: dict) -> None:
    """Callback: copies a batch row into the document boxes and switches to the annotate view."""
    st.session_state[state.TITLE] = record["title"]
    st.session_state[state.CONTENT] = record["content"]
    st.session_state[state.GOLD_TAGS] = ", ".join(record["gold_tags"])
    st.session_state[state.SAMPLE] = state.NO_SAMPLE
    st.session_state[state.VIEW] = state.VIEWS[0]
    st.session_state[state.PENDING_PREDICTION] = True


def render_skipped(skipped: list[str]) -> None:
    if not skipped:
        return
    shown = "\n".join(f"- Skipped {message}" for message in skipped[:MAX_SKIPPED_LISTED])
    more = f"\n\n…and {len(skipped) - MAX_SKIPPED_LISTED} more." if len(skipped) > MAX_SKIPPED_LISTED else ""
    st.warning(f"{len(skipped)} document(s) could not be tagged and were left out:\n{shown}{more}")


def render_table(records: list[dict]) -> None:
    has_gold = any(record["gold_tags"] for record in records)
    rows = []
    for record in records:
        row = {"line": record["line"], "id": record["id"], "title": record["title"][:120],
               "suggested tags": " ".join(record["suggested_tags"]),
               "top score": max(record["scores"].values(), default=0.0)}
        if has_gold:
            row["gold tags"] = " ".join(record["gold_tags"])
            row["F1"] = precision_recall_f1(record["suggested_tags"], record["gold_tags"])[2]
        rows.append(row)
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", column_config={
        "top score": st.column_config.ProgressColumn("top score", min_value=0.0, max_value=1.0, format="%.3f"),
        "F1": st.column_config.NumberColumn("F1", format="%.2f"),
    })
    summary = mean_scores(records)
    if summary:
        precision, recall, f1, count = summary
        st.caption(f"Mean over the {count} documents with gold tags: P {precision:.3f} · R {recall:.3f} · F1 {f1:.3f}")


def render_open_row(records: list[dict]) -> None:
    options = list(range(len(records)))
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    choice = left.selectbox("Open a document in the full view", options, key=state.BATCH_ROW,
                            format_func=lambda position: f"line {records[position]['line']}: {records[position]['title'][:90] or '(no title)'}")
    right.button("Open", on_click=open_in_annotate_view, args=(records[choice or 0],), key=state.BATCH_OPEN, type="primary")


def render_downloads(records: list[dict]) -> None:
    left, right, _ = st.columns([1, 1, 2])
    left.download_button("Results as CSV", batch_csv(records), "jman-batch.csv", "text/csv",
                         on_click="ignore", key=state.DOWNLOAD_BATCH_CSV)
    right.download_button("Results as JSONL", batch_jsonl(records), "jman-batch.jsonl", "application/json",
                          on_click="ignore", key=state.DOWNLOAD_BATCH_JSONL)


def render_batch(predictor, threshold: float, top_k: int | None) -> None:
    st.subheader("Tag a file of documents")
    st.caption("CSV or TSV with columns title, content (or abstract/body) and optional tags and id; JSONL with the "
               "same keys; the original JMAN text format (.txt); or a .zip holding one such file.")
    upload = st.file_uploader("Documents", type=ACCEPTED_TYPES, key=state.BATCH_FILE)
    batch = current_batch(upload)
    if batch is None:
        return
    if batch.error:
        st.error(batch.error)
        return
    with_tags = sum(bool(document.tags) for document in batch.documents)
    st.markdown(f"**{len(batch.documents)} documents** read from `{batch.file_name}`"
                + (f", {with_tags} with gold tags." if with_tags else "."))
    if st.button(f"Suggest tags for {len(batch.documents)} documents", key=state.BATCH_RUN, type="primary"):
        run_batch(predictor, batch)
    if batch.scores is None:
        return
    render_skipped(batch.skipped)
    records = result_records(predictor, batch, threshold, top_k)
    if not records:
        st.info("No document of the file could be tagged.")
        return
    render_table(records)
    render_open_row(records)
    render_downloads(records)
