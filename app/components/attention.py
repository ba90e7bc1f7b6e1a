"""The attention section: the Fig. 4 heatmap, ori vs tg per sentence, and what the model did not read."""

from __future__ import annotations

import altair as alt
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from jman_core.blend import ATTENTION_EXPLAINS_BELOW
from jman_core.text import markdown_literal

from .. import state
from .figure_cache import cached_figure
from .heatmap import Grid, attention_grid, heatmap_figure

HEATMAP_CAPTION = (
    "Row **title** is the title, rows **s1, s2, …** the sentences the model read (long rows wrap onto "
    "unlabelled continuation rows). Purple cells: word attention, darkest = the largest weight in that "
    "title or sentence. Red columns: **ori** = original sentence attention, **tg** = title-guided sentence "
    "attention (their values are written in the cells). *Italic words with '?'* are unknown to the model; "
    "grey cells are words beyond the model's 30-word limit, not read. Hover over a cell for the exact weight."
)


def sentence_attention_table(explanation) -> pd.DataFrame:
    """Long table: one row per (read sentence, kind) with the weight; empty when neither attention exists."""
    records = []
    kinds = (
        ("original (ori)", explanation.original_sentence_attention),
        ("title-guided (tg)", explanation.title_guided_sentence_attention),
    )
    for kind, values in kinds:
        for index, value in enumerate(values or []):
            records.append(
                {"sentence": f"s{index + 1}", "order": index, "attention": kind, "weight": float(value)}
            )
    return pd.DataFrame(records, columns=["sentence", "order", "attention", "weight"])


def sentence_attention_chart(table: pd.DataFrame) -> alt.Chart:
    """Grouped bars: for each sentence, its original and title-guided attention side by side."""
    sentence_order = list(dict.fromkeys(table.sort_values("order")["sentence"]))
    return (
        alt.Chart(table)
        .mark_bar()
        .encode(
            x=alt.X("sentence:N", sort=sentence_order, title="sentence", axis=alt.Axis(labelAngle=0)),
            xOffset=alt.XOffset("attention:N"),
            y=alt.Y("weight:Q", title="sentence attention"),
            color=alt.Color(
                "attention:N",
                scale=alt.Scale(range=["#c0392b", "#f1948a"]),
                legend=alt.Legend(orient="top", title=None),
            ),
            tooltip=["sentence", "attention", alt.Tooltip("weight:Q", format=".4f")],
        )
        .properties(height=220)
    )


def render_unread(grid: Grid) -> None:
    if not grid.unread_sentences and not grid.omitted_sentences:
        return
    count = len(grid.unread_sentences) + grid.omitted_sentences
    with st.expander(f"{count} sentence(s) after the first ten were not read by the model"):
        st.caption("JMAN reads the title and the first 10 sentences of the content; these were left out.")
        for text in grid.unread_sentences:
            st.markdown(f"- :gray[{_plain(text)}]")
        if grid.omitted_sentences:
            st.caption(f"…and {grid.omitted_sentences} more, not listed.")


def _plain(text: str, limit: int = 400) -> str:
    """Sentence text safe to show inside markdown (cut to `limit` characters)."""
    return markdown_literal(text if len(text) <= limit else text[:limit]) + ("…" if len(text) > limit else "")


def attention_figures(explanation, variation: str):
    """(grid, heatmap figure, bar chart or None), built once per explanation (see figure_cache)."""
    grid = attention_grid(explanation, variation)
    figure = cached_figure(explanation, f"attention-{variation}", lambda: heatmap_figure(grid))
    table = sentence_attention_table(explanation)
    chart = (
        None
        if table.empty
        else cached_figure(explanation, "sentence-bars", lambda: sentence_attention_chart(table))
    )
    return grid, figure, chart


def network_share_note(network_weight: float) -> str:
    """How much of this model's scores the network (whose attention is drawn) carries, in words."""
    if network_weight >= 1:
        return "The network carries all of this model's scores: this attention is where it looked."
    share = (
        f"The network carries {network_weight:.0%} of this model's scores; the word-and-pair SVM carries "
        f"{1 - network_weight:.0%}."
    )
    if network_weight < ATTENTION_EXPLAINS_BELOW:
        return (
            share + " **This attention does not explain the suggestions**: the SVM makes them. The evidence "
            "below shows the words behind each score."
        )
    return (
        share
        + " This attention explains the network's share only; the evidence below covers the whole score."
    )


def render_attention(explanation, variation: str) -> go.Figure:
    """Draws the section and returns the heatmap figure (for the HTML export)."""
    grid, figure, chart = attention_figures(explanation, variation)
    note = network_share_note(explanation.network_weight)
    if explanation.attention_explains:
        st.caption(note)
    else:
        st.warning(note)
    for message in grid.missing:
        st.info(message)
    st.plotly_chart(figure, width="content", config={"displayModeBar": False}, key=state.ATTENTION_CHART)
    st.caption(HEATMAP_CAPTION)
    render_unread(grid)
    if chart is None:
        st.caption("No sentence attention to compare: the content is empty or the model does not read it.")
    else:
        st.markdown("**Original vs title-guided attention per sentence**")
        st.altair_chart(chart, width="stretch")
    return figure
