"""The domain warning: a document unlike the model's training documents is flagged above its tags."""

from __future__ import annotations

import streamlit as st

from jman_core.errors import JmanError
from jman_core.predict import DOMAIN_WARNING_START, domain_warning


def render_domain_warning(explanation) -> None:
    """The explanation's domain warning, first and prominent (nothing when the document is usual or the
    checkpoint stores no domain statistic)."""
    check = getattr(explanation, "domain", None)
    if check is not None and check.unusual:
        st.warning(f"**{domain_warning(check)}**", icon="⚠️")


def other_warnings(explanation) -> list[str]:
    """The explanation's warnings without the domain one (shown on its own by render_domain_warning)."""
    return [warning for warning in explanation.warnings if not warning.startswith(DOMAIN_WARNING_START)]


def render_domain_mark(predictor, title: str, content: str) -> None:
    """One warning line for a document of the review queue that reads unlike the training documents; computed
    for the shown document only (a sparse product, about a millisecond). Silent when it cannot be computed."""
    try:
        check = predictor.domain_check(title, content)
    except JmanError:
        return  # an empty document: the panel says so elsewhere
    if check is not None and check.unusual:
        st.warning(
            f"Unlike the model's training documents (similarity {1 - check.score:.2f}, below "
            f"{1 - check.threshold:.2f}): its suggested tags may not fit.",
            icon="⚠️",
        )
