"""Review: accept or reject each suggested tag, add tags, and export the reviewed documents."""

from __future__ import annotations

import csv
import html
import io
import json
from dataclasses import dataclass, field

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from .. import state
from ..documents import parse_tags

ACCEPT, REJECT = "accept", "reject"
DECISIONS = (ACCEPT, REJECT)
CSV_COLUMNS = ["document_id", "title", "content", "gold_tags", "suggested_tags", "decisions", "added_tags",
               "final_tags", "model", "threshold", "top_k"]


@dataclass
class DocumentReview:
    """A curator's decisions about one document's suggested tags."""

    document_key: str
    title: str
    content: str
    suggested: list[tuple[str, float]]  # (tag, score) of the tags the model suggested, best first
    model: str
    threshold: float
    top_k: int | None = None
    gold_tags: list[str] = field(default_factory=list)
    decisions: dict[str, str] = field(default_factory=dict)  # tag -> "accept" | "reject"; missing = accept
    added_tags: list[str] = field(default_factory=list)

    def decision(self, label: str) -> str:
        return self.decisions.get(label, ACCEPT)


def final_tags(review: DocumentReview) -> list[str]:
    """Accepted suggestions in the model's order, then the added tags; no duplicates."""
    accepted = [label for label, _ in review.suggested if review.decision(label) == ACCEPT]
    return list(dict.fromkeys(accepted + review.added_tags))


def review_record(review: DocumentReview) -> dict:
    """One exported record: the document, what the model suggested, what the curator decided."""
    return {
        "document_id": review.document_key,
        "title": review.title,
        "content": review.content,
        "gold_tags": list(review.gold_tags),
        "suggested_tags": [{"tag": label, "score": round(float(score), 6)} for label, score in review.suggested],
        "decisions": {label: review.decision(label) for label, _ in review.suggested},
        "added_tags": list(review.added_tags),
        "final_tags": final_tags(review),
        "model": review.model,
        "threshold": round(float(review.threshold), 4),
        "top_k": review.top_k,
    }


def records_to_jsonl(records: list[dict]) -> str:
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)


def records_to_csv(records: list[dict]) -> str:
    """Flat CSV: tag lists joined by spaces, suggestions as tag:score, decisions as tag=decision."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for record in records:
        writer.writerow({
            **{key: record[key] for key in ("document_id", "title", "content", "model", "threshold")},
            "top_k": "" if record["top_k"] is None else record["top_k"],
            "gold_tags": " ".join(record["gold_tags"]),
            "suggested_tags": " ".join(f"{item['tag']}:{item['score']:.4f}" for item in record["suggested_tags"]),
            "decisions": " ".join(f"{tag}={decision}" for tag, decision in record["decisions"].items()),
            "added_tags": " ".join(record["added_tags"]),
            "final_tags": " ".join(record["final_tags"]),
        })
    return buffer.getvalue()


def visualisation_html(title: str, suggested: list[tuple[str, float]], figure: go.Figure, model: str,
                       evidence_figure: go.Figure | None = None) -> str:
    """A standalone page (plotly.js included, works offline): the title, the tags and the heatmap."""
    tags = "".join(f"<li><b>{html.escape(label)}</b> {score:.3f}</li>" for label, score in suggested) or "<li>none</li>"
    parts = [figure.to_html(full_html=False, include_plotlyjs=True)]
    if evidence_figure is not None:
        parts.append(evidence_figure.to_html(full_html=False, include_plotlyjs=False))
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>JMAN attention: "
        f"{html.escape(title or '(no title)')}</title>"
        "<style>body{font-family:sans-serif;margin:2em;color:#222}</style></head><body>"
        f"<h1>{html.escape(title or '(no title)')}</h1>"
        f"<p>Model: {html.escape(model)}</p><h2>Suggested tags</h2><ul>{tags}</ul>"
        "<h2>Attention (title row, then sentences; left columns: ori and tg sentence attention)</h2>"
        + "".join(parts) + "</body></html>\n"
    )


# ---- widgets ----------------------------------------------------------------------------------
def current_review(result: state.AnnotationResult, prediction, model: str, top_k: int | None) -> DocumentReview:
    """The stored review of this document brought up to date with the current suggestions."""
    reviews = st.session_state[state.REVIEWS]
    previous = reviews.get(result.document_key)
    suggested = [(tag.label, tag.score) for tag in prediction.tags if tag.selected]
    review = DocumentReview(result.document_key, result.title, result.content, suggested, model,
                            prediction.threshold, top_k, list(result.gold_tags),
                            dict(previous.decisions) if previous else {}, list(previous.added_tags) if previous else [])
    reviews[result.document_key] = review
    return review


def _seed(key: str, value) -> None:
    """Gives a per-document widget its stored value the first time it is drawn for that document."""
    if key not in st.session_state:
        st.session_state[key] = value


def render_decisions(review: DocumentReview) -> None:
    if not review.suggested:
        st.caption("No suggested tag to review at this threshold; add tags below.")
        return
    columns = st.columns(3)
    for index, (label, score) in enumerate(review.suggested):
        key = state.decision_key(review.document_key, label)
        _seed(key, review.decision(label))
        with columns[index % 3]:
            choice = st.radio(f"**{label}** · {score:.2f}", DECISIONS, key=key, horizontal=True,
                              format_func=lambda option: "✓ accept" if option == ACCEPT else "✗ reject")
        review.decisions[label] = choice


def render_additions(review: DocumentReview, labels: list[str]) -> None:
    vocabulary_key, new_key = state.added_tags_key(review.document_key), state.new_tags_key(review.document_key)
    known = set(labels)
    _seed(vocabulary_key, [tag for tag in review.added_tags if tag in known])
    _seed(new_key, " ".join(tag for tag in review.added_tags if tag not in known))
    left, right = st.columns(2)
    chosen = left.multiselect("Add tags from the model's vocabulary", labels, key=vocabulary_key,
                              placeholder=f"type to search {len(labels)} tags")
    typed = right.text_input("New tags (comma or space separated)", key=new_key,
                             placeholder="e.g. fermentation, weeknight-dinner")
    new_tags = parse_tags(typed)
    unseen = [tag for tag in new_tags if tag not in known]
    if unseen:
        st.warning(f"The model has never seen {', '.join(unseen)}: kept as new tags, but it will not suggest them "
                   "until it is retrained with documents that carry them.")
    review.added_tags = list(dict.fromkeys(chosen + new_tags))


def render_review(result: state.AnnotationResult, prediction, labels: list[str], model: str, top_k: int | None) -> None:
    review = current_review(result, prediction, model, top_k)
    render_decisions(review)
    render_additions(review, labels)
    final = final_tags(review)
    st.markdown("**Final tags:** " + (" ".join(f":green-badge[{tag}]" for tag in final) if final else "none"))


def render_export(figure: go.Figure | None, result: state.AnnotationResult, prediction, model: str) -> None:
    records = [review_record(review) for review in st.session_state[state.REVIEWS].values()]
    st.markdown(f"**{len(records)} reviewed document(s)** in this session (every document you tag here, "
                "with your decisions).")
    if records:
        st.dataframe(pd.DataFrame([{"title": record["title"][:80], "final tags": " ".join(record["final_tags"])}
                                   for record in records]), hide_index=True, width="stretch")
    columns = st.columns(4)
    columns[0].download_button("Reviews as JSONL", records_to_jsonl(records), "reviews.jsonl", "application/json",
                               on_click="ignore", disabled=not records, key=state.DOWNLOAD_REVIEWS_JSONL)
    columns[1].download_button("Reviews as CSV", records_to_csv(records), "reviews.csv", "text/csv",
                               on_click="ignore", disabled=not records, key=state.DOWNLOAD_REVIEWS_CSV)
    if figure is not None:
        suggested = [(tag.label, tag.score) for tag in prediction.tags if tag.selected]
        columns[2].download_button(
            "Visualisation as HTML", lambda: visualisation_html(result.title, suggested, figure, model),
            "jman-attention.html", "text/html", on_click="ignore", key=state.DOWNLOAD_VISUALISATION)
    columns[3].button("Clear reviews", on_click=_clear_reviews, disabled=not records, key=state.CLEAR_REVIEWS)


def _clear_reviews() -> None:
    """Forgets every review, including the per-document widgets' values."""
    st.session_state[state.REVIEWS] = {}
    for key in [key for key in st.session_state if state.is_review_widget_key(str(key))]:
        del st.session_state[key]
