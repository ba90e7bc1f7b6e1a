"""The annotate view: one document in, tags, Fig. 4 attention, per-tag evidence, review and export."""

from __future__ import annotations

import streamlit as st

from jman_core.errors import JmanError
from jman_core.workspace import Workspace
from jman_core.workspace.scoring import register_predictor

from .. import state
from ..curation import current_curator, open_workspace
from ..documents import MAX_INPUT_CHARACTERS, cap_text, document_key, parse_tags, read_samples
from ..guard import call_library
from .attention import render_attention
from .document_input import render_document_input
from .domain import other_warnings, render_domain_warning
from .evidence import render_evidence
from .review import render_exports, render_review_panel, visualisation_html
from .tags import render_tags


def current_inputs() -> tuple[str, str, list[str], list[str]]:
    """(title, content, gold tags, notices) from the boxes, each text cut to MAX_INPUT_CHARACTERS."""
    title, title_cut = cap_text(st.session_state[state.TITLE] or "")
    content, content_cut = cap_text(st.session_state[state.CONTENT] or "")
    notices = [
        f"The {name} is longer than {MAX_INPUT_CHARACTERS:,} characters; "
        f"only the first {MAX_INPUT_CHARACTERS:,} were sent to the model "
        "(it reads at most 10 sentences of 30 words anyway)."
        for name, cut in (("title", title_cut), ("content", content_cut))
        if cut
    ]
    return title, content, parse_tags(st.session_state[state.GOLD_TAGS] or ""), notices


def predict(predictor, model_folder: str, model_name: str) -> None:
    """Runs the model once on the boxes, keeps the result and saves the document in the workspace
    (a new typed document, or an edit of the one the boxes hold, which keeps its history)."""
    title, content, gold_tags, notices = current_inputs()
    st.session_state[state.RESULT] = None
    explanation = call_library(predictor.explain, title, content, what="suggesting tags")
    if explanation is None:
        return
    result = state.AnnotationResult(
        document_key(title, content),
        model_folder,
        title,
        content,
        gold_tags,
        explanation,
        explanation.scores,
        notices,
    )
    workspace = open_workspace()
    if workspace is not None:
        result.document_id = call_library(
            save_typed_document,
            workspace,
            predictor,
            model_folder,
            model_name,
            result,
            what="saving the document in the workspace",
        )
    st.session_state[state.RESULT] = result


def save_typed_document(
    workspace: Workspace, predictor, model_folder: str, model_name: str, result: state.AnnotationResult
) -> int:
    """The workspace id of the boxes' document, saved with its scores by this model."""
    document_id = st.session_state.get(state.TYPED_DOCUMENT)
    try:
        stored = (
            workspace.edit_document(document_id, result.title, result.content, result.gold_tags)
            if document_id is not None
            else None
        )
    except JmanError:
        stored = None  # the document is gone (another database?): save a new one
    if stored is None:
        stored = workspace.add_typed_document(result.title, result.content, result.gold_tags)
    st.session_state[state.TYPED_DOCUMENT] = stored.id
    scoring = register_predictor(workspace, predictor, model_folder, model_name)
    domain = {stored.id: result.explanation.domain}  # the domain check, so the queue counts it
    workspace.store_scores(scoring, {stored.id: result.scores}, predictor.threshold, domain)
    return stored.id


def start_new_document() -> None:
    """Callback: empty boxes that will be saved as a new typed document."""
    for key in (state.TITLE, state.CONTENT, state.GOLD_TAGS):
        st.session_state[key] = ""
    st.session_state[state.SAMPLE] = state.NO_SAMPLE
    st.session_state[state.TYPED_SAMPLE] = state.NO_SAMPLE
    st.session_state[state.TYPED_DOCUMENT] = None
    st.session_state[state.RESULT] = None


def follow_sample_choice() -> None:
    """A sample picked from the list starts a new document (editing the boxes afterwards edits that one)."""
    if st.session_state[state.SAMPLE] != st.session_state[state.TYPED_SAMPLE]:
        st.session_state[state.TYPED_SAMPLE] = st.session_state[state.SAMPLE]
        st.session_state[state.TYPED_DOCUMENT] = None


def render_messages(result: state.AnnotationResult) -> None:
    render_domain_warning(result.explanation)
    title, content, gold_tags, _ = current_inputs()
    if (title, content) != (result.title, result.content):
        st.info(
            "The boxes have changed since these tags were suggested: press **Suggest tags** to update them."
        )
    elif gold_tags != result.gold_tags:
        result.gold_tags = gold_tags
    for notice in result.notices:
        st.info(notice)
    for warning in other_warnings(result.explanation):
        st.warning(warning)


def render_annotate(
    predictor, model_name: str, model_folder: str, variation: str, threshold: float, top_k: int | None
) -> None:
    follow_sample_choice()
    left, right = st.columns([5, 6], gap="large")
    with left:
        pressed = render_document_input(read_samples(), model_folder)
        st.button(
            "New document",
            key="new-document",
            on_click=start_new_document,
            help="Empties the boxes; the next Suggest tags saves another document (until then, Suggest tags "
            "after an edit updates the same document and keeps its earlier text)",
        )
    if pressed or st.session_state[state.PENDING_PREDICTION]:
        st.session_state[state.PENDING_PREDICTION] = False
        with right:
            predict(predictor, model_folder, model_name)
    result = st.session_state[state.RESULT]
    with right:
        st.subheader("Suggested tags")
        if result is None:
            st.caption("Pick a sample document or write a title and a content, then press **Suggest tags**.")
            return
        prediction = predictor.rank(result.scores, threshold, top_k)
        render_messages(result)
        render_tags(prediction, result.gold_tags)
    render_details(predictor, result, prediction, model_name, variation, threshold, top_k)


def render_details(
    predictor, result, prediction, model_name: str, variation: str, threshold: float, top_k: int | None
) -> None:
    st.divider()
    st.subheader("Where the model looked")
    figure = render_attention(result.explanation, variation)
    suggested = [(tag.label, tag.score) for tag in prediction.tags if tag.selected]
    st.download_button(
        "Visualisation as HTML",
        lambda: visualisation_html(result.title, suggested, figure, model_name),
        "jman-attention.html",
        "text/html",
        on_click="ignore",
        key=state.DOWNLOAD_VISUALISATION,
    )
    st.divider()
    st.subheader("Evidence for one tag")
    render_evidence(predictor, result, prediction)
    st.divider()
    render_typed_review(predictor, result, model_name, threshold, top_k)


def render_typed_review(predictor, result, model_name: str, threshold: float, top_k: int | None) -> None:
    """Review and export: the document is saved in the collection 'Typed documents' of the workspace."""
    st.subheader("Review")
    workspace = open_workspace() if result.document_id is not None else None
    if workspace is None:
        st.caption("This document is not saved in the workspace, so it cannot be reviewed.")
        return
    document = call_library(workspace.document, result.document_id, what="reading the saved document")
    if document is None:
        return
    st.caption(
        f"Saved as {document.source_id} in the collection 'Typed documents'; every click below is saved at "
        "once. Editing the boxes and pressing Suggest tags updates this document and keeps its earlier text."
    )
    render_review_panel(
        workspace, document, result.scores, predictor.labels, threshold, top_k, current_curator()
    )
    with st.expander("Export the typed documents"):
        scoring = register_predictor(workspace, predictor, result.model_folder, model_name)
        render_exports(workspace, document.collection_id, current_curator(), scoring, threshold, key="-typed")
