"""JMAN tagger: suggested tags with the attention that
explains them (run: streamlit run app/streamlit_app.py)."""

from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run app/streamlit_app.py` puts app/ on the path, not the repository root that holds jman_core.
REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
if str(REPOSITORY_ROOT) not in sys.path:
    sys.path.insert(0, str(REPOSITORY_ROOT))

import streamlit as st  # noqa: E402

from app import state  # noqa: E402
from app.components.annotate import render_annotate  # noqa: E402
from app.components.queue import ModelInUse, render_queue  # noqa: E402
from app.components.sidebar import render_model_picker, render_no_model, render_selection_controls  # noqa: E402
from app.components.training import render_training_sidebar, render_training_view  # noqa: E402
from app.curation import VIEW_PARAMETER, remember_in_url, render_curator_box, seed_from_url  # noqa: E402
from app.guard import call_library, show_unexpected  # noqa: E402
from app.models import checkpoints_directory, find_checkpoints, load_predictor, modification_time  # noqa: E402

VIEW_NAMES = {"Annotate": "One document", "Batch": "Review a collection", "Train": "Train a model"}
INTRODUCTION = (
    "Suggests tags for a document from its title and content with JMAN (Dong et al., IEEE TNNLS 2020), "
    "and shows where the model looked: every word's attention, and each sentence's original and title-guided "
    "attention."
)


def main() -> None:
    st.set_page_config(page_title="JMAN tagger", page_icon="🏷️", layout="wide")
    state.initialise()
    seed_from_url()
    st.title("JMAN tagger")
    st.caption(INTRODUCTION)
    entries = find_checkpoints(checkpoints_directory())
    entry = render_model_picker(entries) if entries else None
    predictor, threshold, top_k = None, 0.5, None
    if entry is not None and entry.metadata is None:
        st.error(f"This checkpoint cannot be used: {entry.problem}")
    elif entry is not None:
        modified = modification_time(entry.folder)
        predictor = call_library(load_predictor, str(entry.folder), modified, what="loading the model")
        if predictor is not None:
            state.track_model(f"{entry.folder}@{modified}")
            threshold, top_k = render_selection_controls(predictor)
    render_curator_box()
    render_training_sidebar()  # before the view radio: a new upload switches the view to Train
    view = st.radio(
        "View",
        state.VIEWS,
        key=state.VIEW,
        horizontal=True,
        label_visibility="collapsed",
        format_func=VIEW_NAMES.get,
    )
    remember_in_url(VIEW_PARAMETER, view)
    try:
        if view == "Train":
            render_training_view()
        elif entry is None:
            render_no_model()
        elif predictor is not None and view == "Annotate":
            render_annotate(
                predictor,
                entry.metadata.name or entry.name,
                str(entry.folder),
                entry.metadata.model_config.variation,
                threshold,
                top_k,
            )
        elif predictor is not None:
            render_queue(
                ModelInUse(
                    predictor,
                    str(entry.folder),
                    entry.metadata.name or entry.name,
                    entry.metadata.model_config.variation,
                    threshold,
                    top_k,
                )
            )
    except Exception as error:  # noqa: BLE001 - the last line of defence: a message, never a traceback
        show_unexpected(error, "drawing the page")


main()
