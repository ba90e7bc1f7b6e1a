"""The document boxes: a sample picker, title, content (HTML accepted), optional gold tags."""

from __future__ import annotations

import streamlit as st

from .. import state
from ..documents import SampleDocument


def load_sample(samples: dict[str, SampleDocument]) -> None:
    """Callback: copies the chosen sample into the boxes."""
    sample = samples.get(st.session_state[state.SAMPLE])
    if sample is None:
        return
    st.session_state[state.TITLE] = sample.title
    st.session_state[state.CONTENT] = sample.content
    st.session_state[state.GOLD_TAGS] = ", ".join(sample.tags)


def sample_label(name: str, samples: dict[str, SampleDocument]) -> str:
    if name not in samples:
        return name
    sample = samples[name]
    return f"{sample.title[:70]}  [{sample.domain}]" if sample.domain else sample.title[:70]


def render_document_input(samples: list[SampleDocument]) -> bool:
    """Draws the boxes; True when "Suggest tags" was pressed."""
    by_name = {sample.name: sample for sample in samples}
    st.subheader("Document")
    st.selectbox("Start from a sample document", [state.NO_SAMPLE, *by_name], key=state.SAMPLE,
                 on_change=load_sample, args=(by_name,), format_func=lambda name: sample_label(name, by_name))
    st.text_input("Title", key=state.TITLE, placeholder="e.g. Why did my bread not rise?")
    st.text_area("Content (plain text or HTML)", key=state.CONTENT, height=220,
                 placeholder="The question body or abstract; <p>, <pre><code> and other HTML are fine.")
    st.text_input("Gold tags (optional, comma or space separated)", key=state.GOLD_TAGS,
                  help="Tags you know are right: the suggestions that match get a ✓, and the document's P, R, F1.")
    return st.button("Suggest tags", key=state.PREDICT, type="primary")
