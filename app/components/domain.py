"""The domain warning: a document unlike the model's training documents is flagged above its tags."""

from __future__ import annotations

import streamlit as st

from jman_core.errors import JmanError
from jman_core.predict import DOMAIN_WARNING_START, domain_warning
from jman_core.text import markdown_literal
from jman_core.workspace import StoredDomainCheck

from .. import state


def render_domain_warning(explanation) -> None:
    """The explanation's domain warning, first and prominent (nothing when the document is usual or the
    checkpoint stores no domain statistic)."""
    check = getattr(explanation, "domain", None)
    if check is not None and check.unusual:
        st.warning(f"**{domain_warning(check)}**", icon="⚠️")


def other_warnings(explanation) -> list[str]:
    """The explanation's warnings without the domain one (shown on its own by render_domain_warning)."""
    return [warning for warning in explanation.warnings if not warning.startswith(DOMAIN_WARNING_START)]


def render_domain_mark(predictor, title: str, content: str, stored: StoredDomainCheck | None = None) -> None:
    """One warning line for a document of the review queue that reads unlike the training documents: the
    check stored when it was scored, else computed for the shown document (a sparse product, about a
    millisecond). Silent when it cannot be computed."""
    if stored is not None:
        if stored.unusual:
            st.warning("Unlike the model's training documents: its suggested tags may not fit.", icon="⚠️")
        return
    try:
        check = predictor.domain_check(title, content)
    except JmanError:
        return  # an empty document: the panel says so elsewhere
    if check is not None and check.unusual:
        st.warning(f"Unlike the model's training documents: {markdown_literal(check.reason)}", icon="⚠️")


def render_domain_count(unlike: int, checked: int, total: int) -> bool:
    """How many documents of the collection read unlike the model's training documents, and a toggle that
    keeps only those in the queue; returns whether to keep only those. Nothing when none was checked (a
    checkpoint without the domain statistic, or scores older than the check)."""
    if not checked:
        return False
    where = f"{total} documents" if checked == total else f"{checked} checked documents (of {total})"
    if not unlike:
        st.caption(f"None of the {where} reads unlike the model's training documents.")
        return False
    left, right = st.columns([5, 2], vertical_alignment="center")
    left.warning(
        f"**{unlike} of the {where} read unlike the model's training documents**: their suggested tags "
        "may not fit.",
        icon="⚠️",
    )
    return right.toggle(
        "Only these",
        key=state.QUEUE_UNLIKE_TRAINING,
        help="Show only the documents that read unlike the model's training documents",
    )
