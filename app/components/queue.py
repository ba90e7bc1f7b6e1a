"""The review queue: a file of documents becomes a collection, scored once, then worked through document by
document (tags, Fig. 4 heatmap, evidence), with bulk accept, exports, and training on the reviewed documents.

The document panel is a fragment: a click on accept, reject, next or previous reruns only the panel.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from jman_core.errors import JmanError
from jman_core.options import recommended_config
from jman_core.workspace import CollectionInfo, ScoringModel, StoredDocument, StoredDomainCheck, Workspace
from jman_core.workspace.learning import (
    compare_models,
    finished_comparisons,
    reviewed_documents,
    start_training,
)
from jman_core.workspace.queue import (
    ORDERS,
    STATUS_FILTERS,
    bulk_candidates,
    progress,
    queue,
    unlike_training,
)
from jman_core.workspace.scoring import import_file, register_predictor, score_collection

from .. import state
from ..curation import click, current_curator, open_workspace, remember_in_url, render_message, say
from ..documents import markdown_text
from ..guard import call_library, show_unexpected
from .attention import attention_figures, render_attention
from .domain import other_warnings, render_domain_count, render_domain_mark
from .evidence import render_evidence
from .review import render_exports, render_review_panel
from .training import ACCEPTED_TYPES

RESULTS_KEPT = 64  # explanations kept per session (a curator going back and forth redraws none of them)
MAX_SKIPPED_LISTED = 10
SHORTCUTS_CAPTION = (
    "Keys: **N** next · **P** previous · **1**-**9** accept the tag of that row · **Alt+1**-**9** "
    "reject it · **A** accept the proposed tags and mark reviewed · **M** mark reviewed · **S** skip · "
    "**U** undo (not while typing in a box)"
)


@dataclass
class ModelInUse:
    """What the queue needs of the model picked in the sidebar."""

    predictor: object
    folder: str
    name: str
    variation: str
    threshold: float
    top_k: int | None


# ---- a file becomes a collection ----------------------------------------------------------------
def render_upload(workspace: Workspace, model: ModelInUse) -> None:
    upload = st.file_uploader(
        "Add a file of documents as a new collection",
        type=ACCEPTED_TYPES,
        key=state.BATCH_FILE,
        help="CSV or TSV with columns title, content (or abstract/body) and optional tags and id; "
        "JSONL with the same keys; the JMAN text format; or a zip holding one such file. "
        "Its ids are kept (else each document is known by its line).",
    )
    if upload is None:
        return
    data = upload.getvalue()
    digest = hashlib.sha1(data).hexdigest() + upload.name
    if st.session_state[state.UPLOAD_SEEN] == digest:
        return  # already imported in this session: a rerun must not make a second collection
    st.session_state[state.UPLOAD_SEEN] = digest
    collection = call_library(
        import_file, workspace, upload.name, data, what="reading the uploaded documents"
    )
    if collection is None:
        return
    st.session_state[state.COLLECTION] = collection.id
    st.session_state[state.QUEUE_DOCUMENT] = None
    score_with_progress(workspace, collection, model)


def score_with_progress(workspace: Workspace, collection: CollectionInfo, model: ModelInUse) -> None:
    """Scores the documents the model has not scored yet, with a progress bar; empty ones are listed by id."""
    scoring = register_predictor(workspace, model.predictor, model.folder, model.name)
    bar = st.progress(0.0, text=f"Scoring {collection.documents} documents of {collection.name}…")
    try:
        skipped = score_collection(
            workspace,
            collection.id,
            model.predictor,
            scoring,
            lambda done, total: bar.progress(done / max(total, 1), text=f"Scored {done} of {total}"),
        )
    except JmanError as error:
        st.error(str(error))
        return
    except Exception as error:  # noqa: BLE001 - keep the page alive
        show_unexpected(error, "scoring the documents")
        return
    finally:
        bar.empty()
    st.session_state[state.QUEUE_CACHE] = {}
    if skipped:
        shown = "\n".join(f"- {markdown_text(message)}" for message in skipped[:MAX_SKIPPED_LISTED])
        more = (
            f"\n\n…and {len(skipped) - MAX_SKIPPED_LISTED} more." if len(skipped) > MAX_SKIPPED_LISTED else ""
        )
        st.warning(
            f"{len(skipped)} document(s) could not be scored (they stay in the collection, with no "
            f"proposal):\n{shown}{more}"
        )


# ---- what the queue reads once per collection and model --------------------------------------------
def collection_data(workspace: Workspace, collection_id: int, scoring: ScoringModel):
    """(documents, scores) of the collection, read once per session until it is rescored."""
    cache = st.session_state[state.QUEUE_CACHE]
    key = ("data", collection_id, scoring.id)
    if key not in cache:
        cache[key] = (workspace.documents(collection_id), workspace.scores(collection_id, scoring))
    return cache[key]


def collection_domain(
    workspace: Workspace, collection_id: int, scoring: ScoringModel
) -> dict[int, StoredDomainCheck]:
    """The domain checks stored when the model scored the collection, read once like its scores."""
    cache = st.session_state[state.QUEUE_CACHE]
    key = ("domain", collection_id, scoring.id)
    if key not in cache:
        cache[key] = workspace.domain_checks(collection_id, scoring)
    return cache[key]


def annotation_result(
    model: ModelInUse, document: StoredDocument, quiet: bool = False
) -> state.AnnotationResult | None:
    """The explanation of one document (the heatmap's input), computed once per text and kept in the session.

    `quiet`: a failure is not shown (ahead-of-time preparation of the next document)."""
    cache = st.session_state[state.QUEUE_CACHE]
    text_digest = hashlib.sha1(
        f"{document.title}\x00{document.content}".encode("utf-8", "replace")
    ).hexdigest()[:12]
    key = ("result", model.folder, document.id, text_digest)
    if key not in cache:
        if quiet:
            try:
                explanation = model.predictor.explain(document.title, document.content)
            except Exception:  # noqa: BLE001 - shown when the document itself is opened
                return None
        else:
            explanation = call_library(
                model.predictor.explain, document.title, document.content, what="explaining the document"
            )
        if explanation is None:
            return None
        results = [entry for entry in cache if entry[0] == "result"]
        for stale in results[:-RESULTS_KEPT]:
            del cache[stale]
        cache[key] = state.AnnotationResult(
            f"ws{document.id}-{text_digest}",
            model.folder,
            document.title,
            document.content,
            document.gold_tags,
            explanation,
            explanation.scores,
        )
    return cache[key]


# ---- the panel (a fragment) --------------------------------------------------------------------
def _go_to(document_id: int) -> None:
    st.session_state[state.QUEUE_DOCUMENT] = document_id


def _jump(ids: list[int]) -> None:
    position = int(st.session_state.get(state.QUEUE_JUMP) or 1)
    st.session_state[state.QUEUE_DOCUMENT] = ids[min(max(position, 1), len(ids)) - 1]


def render_navigation(ids: list[int], position: int) -> None:
    previous, next_, jump, _ = st.columns([1, 1, 2, 3], vertical_alignment="bottom")
    previous.button(
        "← Previous",
        key="queue-previous",
        disabled=position == 0,
        shortcut="P",
        on_click=_go_to,
        args=(ids[max(position - 1, 0)],),
    )
    next_.button(
        "Next →",
        key="queue-next",
        disabled=position >= len(ids) - 1,
        shortcut="N",
        on_click=_go_to,
        args=(ids[min(position + 1, len(ids) - 1)],),
    )
    st.session_state[state.QUEUE_JUMP] = position + 1
    jump.number_input(
        "Go to", min_value=1, max_value=len(ids), step=1, key=state.QUEUE_JUMP, on_change=_jump, args=(ids,)
    )


def render_document_text(document: StoredDocument) -> None:
    st.markdown(f"#### {markdown_text(document.title) or '(no title)'}")
    with st.container(height=160, border=True):
        st.text(document.content[:20_000] or "(no content)")
    if document.gold_tags:
        st.caption("Tags in the file: " + ", ".join(markdown_text(tag) for tag in document.gold_tags))


def render_evidence_section(model: ModelInUse, document: StoredDocument) -> None:
    if st.session_state.get(state.HIDE_HEATMAPS):
        st.caption("Heatmaps are hidden while you annotate (the toggle above shows them again).")
        return
    result = annotation_result(model, document)
    if result is None:
        return
    for warning in other_warnings(result.explanation):  # the domain one is the mark under the caption
        st.warning(warning)
    st.markdown("**Where the model looked**")
    render_attention(result.explanation, model.variation)
    st.markdown("**Evidence for one tag**")
    prediction = model.predictor.rank(result.scores, model.threshold, model.top_k)
    render_evidence(model.predictor, result, prediction)


def prepare(model: ModelInUse, document: StoredDocument | None) -> None:
    """Builds the next document's explanation and figures after this one is drawn, so Next only sends them."""
    if document is None or st.session_state.get(state.HIDE_HEATMAPS):
        return
    result = annotation_result(model, document, quiet=True)
    if result is not None:
        attention_figures(result.explanation, model.variation)


def nothing_shown(status_filter: str, only_unlike: bool) -> str:
    if status_filter == "all" and not only_unlike:
        return "The collection is empty."
    status = "" if status_filter == "all" else f"{status_filter} "
    unlike = " that reads unlike the training documents" if only_unlike else ""
    return f"No {status}document{unlike} in this collection."


@st.fragment
def render_queue_panel(
    workspace: Workspace, collection_id: int, scoring: ScoringModel, model: ModelInUse
) -> None:
    """Progress, filters, navigation and the current document: reruns alone on every click inside it."""
    curator = current_curator()
    documents, scores = collection_data(workspace, collection_id, scoring)
    domain = collection_domain(workspace, collection_id, scoring)
    reviews = (
        call_library(workspace.reviews, collection_id, curator, what="reading the reviews") if curator else {}
    )
    reviews = reviews or {}
    done, total = progress(documents, reviews)
    st.progress(
        done / max(total, 1), text=f"{done} of {total} reviewed" + (f" by {curator}" if curator else "")
    )
    left, middle, right = st.columns([2, 3, 2], vertical_alignment="bottom")
    status_filter = left.selectbox("Show", STATUS_FILTERS, key=state.QUEUE_FILTER)
    order = middle.selectbox("Order", list(ORDERS), key=state.QUEUE_ORDER, format_func=ORDERS.get)
    right.toggle(
        "Hide heatmaps",
        key=state.HIDE_HEATMAPS,
        help="Annotate without the attention shading, which can bias you",
    )
    only_unlike = render_domain_count(len(unlike_training(documents, domain)), len(domain), len(documents))
    ids = queue(documents, reviews, scores, model.threshold, status_filter, order, domain, only_unlike)
    if not ids:
        render_message()
        st.info(nothing_shown(status_filter, only_unlike))
        return
    current = st.session_state.get(state.QUEUE_DOCUMENT)
    position = ids.index(current) if current in ids else 0
    st.session_state[state.QUEUE_DOCUMENT] = ids[position]
    remember_in_url("document", ids[position])
    render_navigation(ids, position)
    st.caption(SHORTCUTS_CAPTION)
    document = next(item for item in documents if item.id == ids[position])
    st.caption(f"Document {position + 1} of {len(ids)} shown · id {markdown_text(document.source_id)}")
    render_domain_mark(model.predictor, document.title, document.content, domain.get(document.id))
    render_document_text(document)
    following = ids[position + 1] if position + 1 < len(ids) else None
    render_review_panel(
        workspace,
        document,
        scores.get(document.id),
        scoring.labels,
        model.threshold,
        model.top_k,
        curator,
        following,
    )
    render_evidence_section(model, document)
    prepare(model, next((item for item in documents if item.id == following), None))


# ---- actions on the whole (filtered) collection -------------------------------------------------
def _bulk_accept(workspace: Workspace, collection_id: int, curator: str, items) -> None:
    click(
        workspace.bulk_accept,
        collection_id,
        curator,
        items,
        done=(
            f"Accepted {sum(len(tags) for tags in items.values())} suggestion(s) "
            f"on {len(items)} document(s). Undo takes them all back."
        ),
    )
    st.session_state[state.BULK_CONFIRM] = False


def render_bulk_accept(
    workspace: Workspace, collection_id: int, scoring: ScoringModel, model: ModelInUse, curator: str
) -> None:
    documents, scores = collection_data(workspace, collection_id, scoring)
    domain = collection_domain(workspace, collection_id, scoring)
    reviews = workspace.reviews(collection_id, curator)
    status_filter = st.session_state.get(state.QUEUE_FILTER, "all")
    # the queue's filters: with "only these" on (and some document unlike training), only those
    only_unlike = bool(st.session_state.get(state.QUEUE_UNLIKE_TRAINING)) and bool(
        unlike_training(documents, domain)
    )
    ids = queue(documents, reviews, scores, model.threshold, status_filter, "file", domain, only_unlike)
    st.session_state.setdefault(state.BULK_MINIMUM, max(round(model.threshold, 2), 0.8))
    minimum = st.slider(
        "Accept every suggestion scored at least", 0.0, 1.0, step=0.01, key=state.BULK_MINIMUM
    )
    items = bulk_candidates(ids, scores, scoring.labels, minimum, reviews)
    count = sum(len(tags) for tags in items.values())
    st.caption(
        f"{count} undecided suggestion(s) on {len(items)} of the {len(ids)} {status_filter} document(s)"
        + (" unlike the training documents" if only_unlike else "")
        + ". Documents stay pending: mark them reviewed when you have looked."
    )
    confirmed = st.checkbox(
        f"Yes, accept these {count} suggestion(s)", key=state.BULK_CONFIRM, disabled=not count
    )
    st.button(
        "Bulk accept",
        key="bulk-accept",
        disabled=not (confirmed and count),
        on_click=_bulk_accept,
        args=(workspace, collection_id, curator, items),
    )


def _clear(workspace: Workspace, collection_id: int, curator: str) -> None:
    click(
        workspace.clear,
        collection_id,
        curator,
        done="Cleared. Undo (in the document panel) brings every decision back.",
    )
    st.session_state[state.CLEAR_CONFIRM] = False


def render_clear(workspace: Workspace, collection: CollectionInfo, curator: str) -> None:
    st.caption(
        f"Takes back every decision and status of **{markdown_text(curator)}** on this collection (other "
        "curators' are untouched). Nothing is deleted: Undo brings them back."
    )
    confirmed = st.checkbox(
        f"Yes, clear my decisions on {markdown_text(collection.name)}", key=state.CLEAR_CONFIRM
    )
    st.button(
        "Clear my decisions",
        key="clear-decisions",
        disabled=not confirmed,
        on_click=_clear,
        args=(workspace, collection.id, curator),
    )


# ---- learn from the reviewed documents ----------------------------------------------------------
def _start_learning(workspace: Workspace, collection_id: int, curator: str, model: ModelInUse) -> None:
    from ..models import checkpoints_directory
    from .training import jobs_directory

    base = st.session_state.get(state.LEARN_BASE_FILE)
    overrides = {
        "training": {"num_epochs": int(st.session_state[state.LEARN_EPOCHS])},
        "data": {"min_label_count": 2, "validation_fraction": 0.2, "test_fraction": 0.0},
    }
    try:
        status = start_training(
            workspace,
            collection_id,
            curator,
            jobs_directory(),
            checkpoints_directory(),
            st.session_state[state.LEARN_NAME],
            overrides,
            float(st.session_state[state.LEARN_HOLDOUT]),
            (base.name, base.getvalue()) if base is not None else None,
            model.folder,
            bool(st.session_state.get(state.LEARN_REPLACE)),
        )
    except JmanError as error:
        say("error", str(error))
        return
    st.session_state[state.TRAIN_JOB] = status.folder
    st.session_state[state.VIEW] = "Train"  # follow the training there


def render_learning(workspace: Workspace, collection_id: int, model: ModelInUse, curator: str) -> None:
    from ..models import checkpoints_directory
    from .training import jobs_directory

    count = len(reviewed_documents(workspace, collection_id, curator))
    st.caption(
        f"{count} document(s) reviewed with tags by {markdown_text(curator)}. A share is held out: the new "
        "model and the current one are compared on it once training ends."
    )
    for key, value in (
        (state.LEARN_NAME, f"{model.name}-reviewed"),
        (state.LEARN_HOLDOUT, 0.2),
        (state.LEARN_EPOCHS, recommended_config().training.num_epochs),
    ):
        st.session_state.setdefault(key, value)
    left, middle, right = st.columns(3)
    left.text_input("New model's name", key=state.LEARN_NAME)
    middle.slider("Held out for the comparison", 0.1, 0.5, step=0.05, key=state.LEARN_HOLDOUT)
    right.number_input("Epochs", 1, 100, step=1, key=state.LEARN_EPOCHS)
    st.file_uploader(
        "Optional: the model's own training file, added to the reviewed documents",
        type=ACCEPTED_TYPES,
        key=state.LEARN_BASE_FILE,
    )
    exists = (checkpoints_directory() / str(st.session_state.get(state.LEARN_NAME) or "")).exists()
    if exists:
        st.checkbox(
            f"Replace the existing model {markdown_text(st.session_state[state.LEARN_NAME])}",
            key=state.LEARN_REPLACE,
        )
    blocked = exists and not st.session_state.get(state.LEARN_REPLACE)
    st.button(
        "Train on reviewed documents",
        key="learn-start",
        disabled=blocked or count == 0,
        on_click=_start_learning,
        args=(workspace, collection_id, curator, model),
    )
    render_comparisons(jobs_directory(), collection_id)


@st.cache_data(show_spinner="Comparing the models on the held-out reviewed documents…", max_entries=16)
def comparison_table(job_folder: str, checkpoint: str, base_model: str, _held_out) -> pd.DataFrame:
    from ..models import load_predictor, modification_time

    predictors = {}
    if base_model and Path(base_model).is_dir():
        predictors["model in use when training started"] = load_predictor(
            base_model, modification_time(Path(base_model))
        )
    predictors["new model"] = load_predictor(checkpoint, modification_time(Path(checkpoint)))
    results = compare_models(predictors, _held_out.documents)
    names = ["P@1", "P@3", "nDCG@3", "P", "R", "F1"]
    return pd.DataFrame(
        {model: [f"{100 * results[model][name]:.1f}" for name in names] for model in results}, index=names
    )


def render_comparisons(jobs_dir, collection_id: int) -> None:
    for status, held_out in finished_comparisons(jobs_dir, collection_id)[:3]:
        st.markdown(
            f"**{markdown_text(status.name)}** (finished {status.finished}): on {len(held_out.documents)} "
            "held-out reviewed document(s), in %"
        )
        if not held_out.documents or not status.checkpoint:
            st.caption("No reviewed document was held out, so there is nothing to compare on.")
            continue
        try:
            st.dataframe(comparison_table(status.folder, status.checkpoint, held_out.base_model, held_out))
        except JmanError as error:
            st.caption(f"Cannot compare: {error}")


# ---- the view ----------------------------------------------------------------------------------
def render_collection_picker(workspace: Workspace, collections: list[CollectionInfo]) -> CollectionInfo:
    by_id = {collection.id: collection for collection in collections}
    if st.session_state.get(state.COLLECTION) not in by_id:
        st.session_state[state.COLLECTION] = collections[0].id
    chosen = st.selectbox(
        "Collection",
        list(by_id),
        key=state.COLLECTION,
        format_func=lambda key: f"{by_id[key].name} · {by_id[key].documents} documents",
    )
    remember_in_url("collection", chosen)
    return by_id[chosen]


def render_queue(model: ModelInUse) -> None:
    workspace = open_workspace()
    if workspace is None:
        return
    st.subheader("Review a collection")
    render_upload(workspace, model)
    collections = call_library(workspace.collections, what="listing the collections")
    if not collections:
        st.info(
            "Upload a file of documents: it becomes a collection, scored by the model, that you can review "
            "document by document. Documents typed in **One document** are kept in the collection "
            "'Typed documents'."
        )
        return
    collection = render_collection_picker(workspace, collections)
    scoring = register_predictor(workspace, model.predictor, model.folder, model.name)
    documents, scores = collection_data(workspace, collection.id, scoring)
    missing = sum(document.id not in scores for document in documents)
    if missing and st.button(f"Score {missing} document(s) with {model.name}", key="score-missing"):
        score_with_progress(workspace, collection, model)
        documents, scores = collection_data(workspace, collection.id, scoring)
    render_queue_panel(workspace, collection.id, scoring, model)
    render_collection_actions(workspace, collection, scoring, model)


def render_collection_actions(
    workspace: Workspace, collection: CollectionInfo, scoring: ScoringModel, model: ModelInUse
) -> None:
    curator = current_curator()
    with st.expander("Export"):
        render_exports(workspace, collection.id, curator, scoring, model.threshold, key="-queue")
    if not curator:
        return
    try:
        with st.expander("Bulk accept"):
            render_bulk_accept(workspace, collection.id, scoring, model, curator)
        with st.expander("Train a model on the reviewed documents"):
            render_learning(workspace, collection.id, model, curator)
        with st.expander("Clear my decisions"):
            render_clear(workspace, collection, curator)
    except JmanError as error:
        st.error(str(error))
