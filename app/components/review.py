"""Review one document: accept or reject each proposed tag, add tags, mark it reviewed or skipped, undo.

Every click is one write to the workspace database (app.curation.click); the panel is drawn from the
database each time, so a reload, a second tab or a server restart shows the same decisions.
"""

from __future__ import annotations

import hashlib
import html

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from jman_core.workspace import StoredDocument, Workspace
from jman_core.workspace.exports import export_records, to_csv, to_jsonl
from jman_core.workspace.queue import proposals

from .. import state
from ..curation import click, render_message, say
from ..documents import markdown_text, parse_tags

VERDICT_MARKS = {"accept": "✓ accepted", "reject": "✗ rejected", "add": "＋ added"}
STATUS_MARKS = {"pending": ":orange[pending]", "reviewed": ":green[reviewed]", "skipped": ":gray[skipped]"}


def tag_key(prefix: str, document_id: int, tag: str) -> str:
    """A widget key per (document, tag) that is safe in CSS (the browser tests find buttons by it)."""
    return f"{prefix}-{document_id}-{hashlib.sha1(tag.encode('utf-8', 'replace')).hexdigest()[:10]}"


def review_rows(
    scores: np.ndarray | None,
    labels: list[str],
    threshold: float,
    top_k: int | None,
    verdicts: dict[str, str],
) -> list[tuple[str, float | None, bool]]:
    """(tag, score, proposed) for the proposed tags, then the decided ones no longer proposed (the threshold
    moved, or the curator added them): moving the threshold changes proposals, never decisions."""
    proposed = proposals(scores, labels, threshold, top_k)
    rows = [(item.tag, item.score, True) for item in proposed]
    shown = {item.tag for item in proposed}
    index = {label: position for position, label in enumerate(labels)}
    for tag in verdicts:
        if tag not in shown:
            score = float(scores[index[tag]]) if scores is not None and tag in index else None
            rows.append((tag, score, False))
    return rows


def _decide(workspace: Workspace, document_id: int, curator: str, tag: str, verdict: str, score) -> None:
    click(workspace.decide, document_id, curator, tag, verdict, score)


def _accept_all(
    workspace: Workspace, document_id: int, curator: str, proposed: list[tuple[str, float]], next_document
) -> None:
    """Accepts every proposed tag not decided yet (read at
    the click: the tag panel may have changed since)."""
    try:
        decided = workspace.review(document_id, curator).verdicts
    except Exception as error:  # noqa: BLE001 - shown as a message
        say("error", str(error))
        return
    undecided = [(tag, "accept", score) for tag, score in proposed if tag not in decided]
    if click(workspace.decide_many, document_id, curator, undecided, kind="accept-all", status="reviewed"):
        _advance(next_document)


def _set_status(workspace: Workspace, document_id: int, curator: str, status: str, next_document) -> None:
    if click(workspace.set_status, document_id, curator, status):
        _advance(next_document)


def _advance(next_document: int | None) -> None:
    """After a document is done, the queue moves on to the next one (in the order and filter shown)."""
    if next_document is not None:
        st.session_state[state.QUEUE_DOCUMENT] = next_document


def _undo(workspace: Workspace, collection_id: int, curator: str) -> None:
    try:
        undone = workspace.undo(collection_id, curator)
    except Exception as error:  # noqa: BLE001 - shown as a message
        say("error", str(error))
        return
    say("info", f"Undone: {undone}." if undone else "Nothing left to undo.")


def _add_tags(workspace: Workspace, document_id: int, curator: str, scores, labels: list[str]) -> None:
    chosen = list(st.session_state.get(state.VOCABULARY_TAGS) or [])
    typed = parse_tags(st.session_state.get(state.NEW_TAGS) or "")
    tags = list(dict.fromkeys(chosen + typed))
    if not tags:
        say("info", "Choose or type a tag to add.")
        return
    index = {label: position for position, label in enumerate(labels)}
    verdicts = [
        (tag, "add", float(scores[index[tag]]) if scores is not None and tag in index else None)
        for tag in tags
    ]
    click(workspace.decide_many, document_id, curator, verdicts, kind="decide")
    st.session_state[state.VOCABULARY_TAGS] = []
    st.session_state[state.NEW_TAGS] = ""
    unseen = [tag for tag in tags if tag not in index]
    if unseen:
        say(
            "info",
            f"Added. The model has never seen {', '.join(unseen)}: kept as new tags; it will suggest them "
            "once retrained on documents that carry them.",
        )


def render_tag_rows(
    workspace: Workspace, document: StoredDocument, rows, verdicts: dict[str, str], curator: str
) -> None:
    if not rows:
        st.caption(
            "No tag reaches the threshold for this document; lower it in the sidebar, or add tags below."
        )
    for number, (tag, score, proposed) in enumerate(rows, start=1):
        verdict = verdicts.get(tag)
        # keys 1-9 accept the first nine rows, Alt+1-9 reject them
        digit = str(number) if number <= 9 else None
        name, mark, accept, reject = st.columns([4, 2, 1, 1], vertical_alignment="center")
        score_text = "—" if score is None else f"{score:.3f}"
        name.markdown(
            f"**{markdown_text(tag)}** · {score_text}" + ("" if proposed else " · :gray[not proposed now]")
        )
        mark.markdown(VERDICT_MARKS.get(verdict, ":gray[undecided]"))
        accept.button(
            "✓",
            key=tag_key("accept", document.id, tag),
            help=f"Accept {markdown_text(tag)}",
            type="primary" if verdict in ("accept", "add") else "secondary",
            shortcut=digit,
            on_click=_decide,
            args=(workspace, document.id, curator, tag, "accept", score),
        )
        reject.button(
            "✗",
            key=tag_key("reject", document.id, tag),
            help=f"Reject {markdown_text(tag)}",
            type="primary" if verdict == "reject" else "secondary",
            shortcut=digit and f"Alt+{digit}",
            on_click=_decide,
            args=(workspace, document.id, curator, tag, "reject", score),
        )


def render_additions(
    workspace: Workspace, document: StoredDocument, curator: str, scores, labels: list[str]
) -> None:
    left, middle, right = st.columns([3, 3, 1], vertical_alignment="bottom")
    left.multiselect(
        "Add tags from the model's vocabulary",
        labels,
        key=state.VOCABULARY_TAGS,
        placeholder=f"type to search {len(labels)} tags",
    )
    middle.text_input(
        "New tags (comma or space separated)",
        key=state.NEW_TAGS,
        placeholder="e.g. fermentation, weeknight-dinner",
    )
    right.button(
        "Add",
        key=f"add-{document.id}",
        on_click=_add_tags,
        args=(workspace, document.id, curator, scores, labels),
    )


def render_status_buttons(
    workspace: Workspace,
    document: StoredDocument,
    curator: str,
    proposed: list[tuple[str, float]],
    next_document: int | None,
) -> None:
    columns = st.columns(4)
    columns[0].button(
        "Accept proposed · reviewed",
        key="accept-all",
        type="primary",
        shortcut="A",
        help="Accepts every proposed tag you have not decided yet and marks the document reviewed",
        on_click=_accept_all,
        args=(workspace, document.id, curator, proposed, next_document),
    )
    columns[1].button(
        "Mark reviewed",
        key="mark-reviewed",
        shortcut="M",
        on_click=_set_status,
        args=(workspace, document.id, curator, "reviewed", next_document),
    )
    columns[2].button(
        "Skip",
        key="mark-skipped",
        shortcut="S",
        on_click=_set_status,
        args=(workspace, document.id, curator, "skipped", next_document),
    )
    last = workspace.last_action(document.collection_id, curator)
    columns[3].button(
        "↶ Undo",
        key="undo",
        disabled=last is None,
        shortcut="U",
        help=f"Takes back: {markdown_text(last)}" if last else "Nothing to undo",
        on_click=_undo,
        args=(workspace, document.collection_id, curator),
    )


@st.fragment
def render_tag_panel(
    workspace: Workspace,
    document: StoredDocument,
    scores: np.ndarray | None,
    labels: list[str],
    threshold: float,
    top_k: int | None,
    curator: str,
) -> None:
    """The tags with their verdicts: a fragment of its own,
    so accept, reject and add redraw only this part."""
    render_message()
    review = workspace.review(document.id, curator)
    st.markdown(
        f"**{markdown_text(curator)}** · {STATUS_MARKS[review.status]} · final tags: "
        + (" ".join(f":green-badge[{markdown_text(tag)}]" for tag in review.final_tags) or "none yet")
    )
    rows = review_rows(scores, labels, threshold, top_k, review.verdicts)
    render_tag_rows(workspace, document, rows, review.verdicts, curator)
    render_additions(workspace, document, curator, scores, labels)


def render_review_panel(
    workspace: Workspace,
    document: StoredDocument,
    scores: np.ndarray | None,
    labels: list[str],
    threshold: float,
    top_k: int | None,
    curator: str,
    next_document: int | None = None,
) -> None:
    """One document's tags with the curator's decisions (read from the database), and its status buttons."""
    if not curator:
        render_message()
        st.info("Type your name under **Curator** in the sidebar to review: decisions are saved per curator.")
        return
    render_tag_panel(workspace, document, scores, labels, threshold, top_k, curator)
    proposed = [(item.tag, item.score) for item in proposals(scores, labels, threshold, top_k)]
    render_status_buttons(workspace, document, curator, proposed, next_document)


def render_exports(
    workspace: Workspace,
    collection_id: int,
    curator: str,
    model=None,
    threshold: float | None = None,
    key: str = "",
) -> None:
    """Downloads of the collection (this curator's reviews, or every curator's) as JSONL and CSV.

    The files are built when a button is pressed, not at every rerun of the page (a large collection's
    export takes a while)."""
    everyone = st.toggle("Every curator's reviews", key=f"export-everyone{key}", value=not curator)
    chosen = None if everyone or not curator else curator
    reviews = workspace.reviews(collection_id, chosen)
    documents = workspace.collection(collection_id).documents
    touched = {document_id if chosen else document_id[0] for document_id in reviews}
    count = documents if chosen else documents - len(touched) + len(reviews)
    reviewed = sum(review.status == "reviewed" for review in reviews.values())
    st.caption(
        f"{count} record(s), {reviewed} reviewed. The CSV is a file `jman train` reads as it is "
        "(its tags column holds the final tags of reviewed documents)."
    )

    def records() -> list[dict]:
        return export_records(workspace, collection_id, model, threshold, chosen)

    left, right = st.columns(2)
    left.download_button(
        "Export as JSONL",
        lambda: to_jsonl(records()),
        "reviews.jsonl",
        "application/json",
        on_click="ignore",
        key=f"{state.DOWNLOAD_REVIEWS_JSONL}{key}",
    )
    right.download_button(
        "Export as CSV",
        lambda: to_csv(records()),
        "reviews.csv",
        "text/csv",
        on_click="ignore",
        key=f"{state.DOWNLOAD_REVIEWS_CSV}{key}",
    )


def visualisation_html(
    title: str,
    suggested: list[tuple[str, float]],
    figure: go.Figure,
    model: str,
    evidence_figure: go.Figure | None = None,
) -> str:
    """A standalone page (plotly.js included, works offline): the title, the tags and the heatmap."""
    tags = (
        "".join(f"<li><b>{html.escape(label)}</b> {score:.3f}</li>" for label, score in suggested)
        or "<li>none</li>"
    )
    parts = [figure.to_html(full_html=False, include_plotlyjs=True)]
    if evidence_figure is not None:
        parts.append(evidence_figure.to_html(full_html=False, include_plotlyjs=False))
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>JMAN attention: '
        f"{html.escape(title or '(no title)')}</title>"
        "<style>body{font-family:sans-serif;margin:2em;color:#222}</style></head><body>"
        f"<h1>{html.escape(title or '(no title)')}</h1>"
        f"<p>Model: {html.escape(model)}</p><h2>Suggested tags</h2><ul>{tags}</ul>"
        "<h2>Attention (title row, then sentences; left columns: ori and tg sentence attention)</h2>"
        + "".join(parts)
        + "</body></html>\n"
    )
