"""Suggested tags: the ranked table with score bars, and the document's P, R, F1 against gold tags."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from jman_core.text import markdown_literal

from ..documents import precision_recall_f1

SHOWN_TAGS = 15  # rows of the ranked table beyond the selected ones


def ranked_table(prediction, gold_tags: list[str]) -> pd.DataFrame:
    """The selected tags and the best-scoring others: rank, tag, score, suggested, and ✓ for gold tags."""
    count = max(SHOWN_TAGS, len(prediction.selected) + 5)
    records = []
    for rank, tag in enumerate(prediction.tags[:count], start=1):
        record = {
            "rank": rank,
            "tag": tag.label,
            "score": tag.score,
            "suggested": "✓" if tag.selected else "",
        }
        if gold_tags:
            record["correct"] = "✓" if tag.label in gold_tags else ""
        records.append(record)
    return pd.DataFrame(records)


def badge_line(prediction, gold_tags: list[str]) -> str:
    """The selected tags as badges: green with ✓ when in the gold tags, blue otherwise."""
    if not prediction.selected:
        return "No tag reaches the threshold; lower it or raise top-k to see suggestions."
    badges = []
    for label in prediction.selected:
        safe = markdown_literal(label)
        badges.append(f":green-badge[✓ {safe}]" if label in gold_tags else f":blue-badge[{safe}]")
    return " ".join(badges)


def render_tags(prediction, gold_tags: list[str]) -> None:
    st.markdown(f"**Suggested ({len(prediction.selected)}):** " + badge_line(prediction, gold_tags))
    st.dataframe(
        ranked_table(prediction, gold_tags),
        hide_index=True,
        width="stretch",
        column_config={
            "rank": st.column_config.NumberColumn("#", width="small"),
            "score": st.column_config.ProgressColumn("score", min_value=0.0, max_value=1.0, format="%.3f"),
            "suggested": st.column_config.TextColumn("suggested", width="small"),
            "correct": st.column_config.TextColumn("gold ✓", width="small"),
        },
    )
    if gold_tags:
        render_gold_scores(prediction.selected, gold_tags)


def render_gold_scores(selected: list[str], gold_tags: list[str]) -> None:
    precision, recall, f1 = precision_recall_f1(selected, gold_tags)
    columns = st.columns(3)
    columns[0].metric("Precision", f"{precision:.2f}")
    columns[1].metric("Recall", f"{recall:.2f}")
    columns[2].metric("F1", f"{f1:.2f}")
    st.caption(f"Against the gold tags: {markdown_literal(', '.join(gold_tags))}")
