"""The sidebar: model picker with its model card, and the threshold and top-k controls."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from jman_core.blend import Blend
from jman_core.checkpoint import model_card, read_metadata
from jman_core.errors import JmanError
from jman_core.text import markdown_literal

from .. import state
from ..models import CheckpointEntry, checkpoints_directory, default_entry, test_metrics_rows


def render_no_model() -> None:
    directory = checkpoints_directory()
    st.warning(f"No model found in {markdown_literal(str(directory))}.")
    st.markdown(
        "A model is a checkpoint folder made by `jman train` (it holds `checkpoint.json`). Put one under "
        "that folder, for example:\n\n"
        "```bash\njman train --data my_documents.csv --output checkpoints/my-model\n```\n\n"
        "or train one here: open **Train a new model** in the sidebar and upload your tagged documents. "
        "To use checkpoints kept elsewhere, set the environment variable `JMAN_CHECKPOINTS_DIR` and reload "
        "this page. The repository ships `checkpoints/stackexchange-cooking/`."
    )


def _tuned_threshold(folder: str) -> float | None:
    try:
        return read_metadata(folder).threshold
    except JmanError:
        return None


def on_model_change() -> None:
    """Callback: the threshold goes back to the new model's tuned one (state.track_model drops the scores)."""
    threshold = _tuned_threshold(st.session_state[state.MODEL_FOLDER])
    if threshold is not None:
        st.session_state[state.THRESHOLD] = float(threshold)


def summary_line(entry: CheckpointEntry) -> str:
    if entry.metadata is None:
        return f"Unreadable: {markdown_literal(entry.problem)}"
    metadata = entry.metadata
    test = metadata.metrics.get("test") or {}
    quality = f" · test F1 {test['F1']:.2f}, P@1 {test['P@1']:.2f}" if "F1" in test and "P@1" in test else ""
    return f"{metadata.model_config.variation}{_blend_text(metadata)} · {len(metadata.labels)} tags{quality}"


def _blend_text(metadata) -> str:
    """ " + linear SVM (network 0.15)": the blended SVM and the network's weight in the scores, or ""."""
    if not metadata.linear_config.enabled:
        return ""
    try:
        weight = Blend.from_json(metadata.blend).network_weight() if metadata.blend else 1.0
    except ValueError:  # a damaged blend: the model card says so
        return " + linear SVM"
    return f" + linear SVM (network {weight:.2f})"


def _card(metadata) -> str:
    """The model card with the names it holds escaped (a tag named like an image stays text), its title
    demoted under the sidebar's own headings."""
    card = model_card(metadata, markdown=True)
    return card.replace("# ", "#### ", 1) if card.startswith("# ") else card


def render_model_picker(entries: list[CheckpointEntry]) -> CheckpointEntry:
    by_folder = {str(entry.folder): entry for entry in entries}
    if st.session_state.get(state.MODEL_FOLDER) not in by_folder:
        st.session_state[state.MODEL_FOLDER] = str(default_entry(entries).folder)
        st.session_state.pop(state.THRESHOLD, None)  # seeded again from the model's tuned threshold
    st.sidebar.header("Model")
    folder = st.sidebar.selectbox(
        "Checkpoint",
        list(by_folder),
        key=state.MODEL_FOLDER,
        on_change=on_model_change,
        format_func=lambda path: by_folder[path].name,
    )
    entry = by_folder[folder]
    st.sidebar.caption(summary_line(entry))
    if entry.metadata is not None:
        with st.sidebar.expander("Model card"):
            st.markdown(_card(entry.metadata))
            rows = test_metrics_rows(entry.metadata)
            if rows:
                st.markdown("**Test metrics (%)**")
                st.dataframe(pd.DataFrame(rows).set_index("test set").T, width="stretch")
    return entry


def render_selection_controls(predictor) -> tuple[float, int | None]:
    """Threshold and top-k; moving them re-partitions stored scores, the model is not run again."""
    if state.THRESHOLD not in st.session_state:
        st.session_state[state.THRESHOLD] = float(predictor.threshold)
    st.sidebar.header("Tag selection")
    threshold = st.sidebar.slider(
        "Threshold",
        0.0,
        1.0,
        step=0.005,
        format="%.3f",
        key=state.THRESHOLD,
        help=f"A tag is suggested when its score reaches this. The model's tuned "
        f"threshold is {predictor.threshold:.3f} (the paper used 0.5).",
    )
    st.sidebar.button(
        f"Use the tuned threshold ({predictor.threshold:.3f})",
        on_click=_reset_threshold,
        args=(float(predictor.threshold),),
        key=state.RESET_THRESHOLD,
    )
    top_k = st.sidebar.number_input(
        "At most this many tags (0 = no limit)",
        min_value=0,
        max_value=max(1, len(predictor.labels)),
        step=1,
        key=state.TOP_K,
    )
    return float(threshold), (int(top_k) or None)


def _reset_threshold(value: float) -> None:
    st.session_state[state.THRESHOLD] = value
