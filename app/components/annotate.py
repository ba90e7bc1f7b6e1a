"""The annotate view: one document in, tags, Fig. 4 attention, per-tag evidence, review and export."""

from __future__ import annotations

import streamlit as st

from .. import state
from ..documents import MAX_INPUT_CHARACTERS, cap_text, document_key, parse_tags, read_samples
from ..guard import call_library
from .attention import render_attention
from .document_input import render_document_input
from .evidence import render_evidence
from .review import render_export, render_review
from .tags import render_tags


def current_inputs() -> tuple[str, str, list[str], list[str]]:
    """(title, content, gold tags, notices) from the boxes, each text cut to MAX_INPUT_CHARACTERS."""
    title, title_cut = cap_text(st.session_state[state.TITLE] or "")
    content, content_cut = cap_text(st.session_state[state.CONTENT] or "")
    notices = [f"The {name} is longer than {MAX_INPUT_CHARACTERS:,} characters; only the first {MAX_INPUT_CHARACTERS:,} "
               "were sent to the model (it reads at most 10 sentences of 30 words anyway)."
               for name, cut in (("title", title_cut), ("content", content_cut)) if cut]
    return title, content, parse_tags(st.session_state[state.GOLD_TAGS] or ""), notices


def predict(predictor, model_folder: str) -> None:
    """Runs the model once on the boxes and keeps the result; on failure the message is shown instead."""
    title, content, gold_tags, notices = current_inputs()
    st.session_state[state.RESULT] = None
    explanation = call_library(predictor.explain, title, content, what="suggesting tags")
    if explanation is None:
        return
    st.session_state[state.RESULT] = state.AnnotationResult(
        document_key(title, content), model_folder, title, content, gold_tags, explanation,
        explanation.scores, notices)


def render_messages(result: state.AnnotationResult) -> None:
    title, content, gold_tags, _ = current_inputs()
    if (title, content) != (result.title, result.content):
        st.info("The boxes have changed since these tags were suggested: press **Suggest tags** to update them.")
    elif gold_tags != result.gold_tags:
        result.gold_tags = gold_tags
    for notice in result.notices:
        st.info(notice)
    for warning in result.explanation.warnings:
        st.warning(warning)


def render_annotate(predictor, model_name: str, model_folder: str, variation: str, threshold: float,
                    top_k: int | None) -> None:
    left, right = st.columns([5, 6], gap="large")
    with left:
        pressed = render_document_input(read_samples())
    if pressed or st.session_state[state.PENDING_PREDICTION]:
        st.session_state[state.PENDING_PREDICTION] = False
        with right:
            predict(predictor, model_folder)
    result = st.session_state[state.RESULT]
    with right:
        st.subheader("Suggested tags")
        if result is None:
            st.caption("Pick a sample document or write a title and a content, then press **Suggest tags**.")
            return
        prediction = predictor.rank(result.scores, threshold, top_k)
        render_messages(result)
        render_tags(prediction, result.gold_tags)
    render_details(predictor, result, prediction, model_name, variation, top_k)


def render_details(predictor, result, prediction, model_name: str, variation: str, top_k: int | None) -> None:
    st.divider()
    st.subheader("Where the model looked")
    figure = render_attention(result.explanation, variation)
    st.divider()
    st.subheader("Evidence for one tag")
    render_evidence(predictor, result, prediction)
    st.divider()
    st.subheader("Review")
    render_review(result, prediction, predictor.labels, model_name, top_k)
    st.subheader("Export")
    render_export(figure, result, prediction, model_name)
