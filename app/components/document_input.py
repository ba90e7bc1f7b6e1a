"""The document boxes: a sample picker, title, content (HTML accepted), optional gold tags."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from .. import state
from ..documents import SampleDocument, samples_for_model


def load_sample(samples: dict[str, SampleDocument]) -> None:
    """Callback: copies the chosen sample into the boxes."""
    sample = samples.get(st.session_state[state.SAMPLE])
    if sample is None:
        return
    st.session_state[state.TITLE] = sample.title
    st.session_state[state.CONTENT] = sample.content
    st.session_state[state.GOLD_TAGS] = ", ".join(sample.tags)


def sample_label(name: str, samples: dict[str, SampleDocument], model_name: str = "") -> str:
    """The sample's title; one written for other models says so: "... (for another model: NAME)"."""
    if name not in samples:
        return name
    sample = samples[name]
    label = f"{sample.title[:70]}  [{sample.domain}]" if sample.domain else sample.title[:70]
    if not sample.models:
        label += "  (written for none of the shipped models)"
    elif model_name not in sample.models:
        label += f"  (for another model: {', '.join(sample.models)})"
    return label


def render_document_input(samples: list[SampleDocument], model_folder: str = "") -> bool:
    """Draws the boxes, the samples of the model in `model_folder`
    listed first; True when "Suggest tags" was pressed."""
    model_name = Path(model_folder).name
    by_name = {sample.name: sample for sample in samples_for_model(samples, model_name)}
    st.subheader("Document")
    st.selectbox(
        "Start from a sample document",
        [state.NO_SAMPLE, *by_name],
        key=state.SAMPLE,
        on_change=load_sample,
        args=(by_name,),
        format_func=lambda name: sample_label(name, by_name, model_name),
    )
    st.text_input("Title", key=state.TITLE, placeholder="e.g. Why did my bread not rise?")
    st.text_area(
        "Content (plain text or HTML)",
        key=state.CONTENT,
        height=220,
        placeholder="The question body or abstract; <p>, <pre><code> and other HTML are fine.",
    )
    st.text_input(
        "Gold tags (optional, comma or space separated)",
        key=state.GOLD_TAGS,
        help="Tags you know are right: the suggestions that match get a ✓, and the document's P, R, F1.",
    )
    return st.button("Suggest tags", key=state.PREDICT, type="primary")
