"""Evidence for one tag: which words and sentences pushed its score up (red) or down (blue)."""

from __future__ import annotations

import streamlit as st

from jman_core.text import markdown_literal

from .. import state
from ..guard import call_library
from .figure_cache import cached_figure
from .heatmap import evidence_grid, heatmap_figure, label_attention_grid

EVIDENCE_CHOICES = 10
EVIDENCE_CAPTION = (
    "Same layout as above, shaded by signed evidence (gradient × input on the word vectors): red words raised "
    "the tag's score, blue words lowered it; white is neutral. The left column is each sentence's total."
)
LABEL_ATTENTION_CAPTION = (
    "This model gives each tag its own attention over the words it read (label attention, not in the paper): "
    "darker words are where this tag looked. Its weights sum to 1 over the whole document, and the darkest word is its largest."
)


def name_note(label: str, name_scores: dict[str, float]) -> str:
    """What tag-name matching (a model trained with it) added to the tag's score, in words."""
    written = [f"the {place} ({value:+.2f})" for place, value in name_scores.items() if value]
    label = markdown_literal(label)
    if not written:
        return f"The name **{label}** is not among the words read, so tag-name matching added nothing to its score."
    return (f"The name **{label}** is written in {' and '.join(written)}: tag-name matching added that to its "
            "log-odds score, beside the evidence shaded above (which does not include it).")


def linear_note(label: str, linear) -> str:
    """How a model with a linear part (wide and deep) blended the tag's score, in words."""
    label = markdown_literal(label)
    network = (f"{linear.network_weight:.2f} × the network's {linear.network_score:.3f}"
               if linear.network_score is not None else "nothing from the network")
    return (f"This model blends two scores: {network} + {1 - linear.network_weight:.2f} × the word-and-pair SVM's "
            f"{linear.linear_score:.3f}. The shading above is the network's evidence only; the table lists the words "
            f"and pairs that moved the SVM's margin for **{label}** most.")


def linear_terms_table(linear) -> dict[str, list]:
    """The SVM's strongest words and pairs as table columns."""
    return {"word or pair read": [text for text, _ in linear.terms],
            "added to the SVM's margin": [round(added, 3) for _, added in linear.terms]}


def evidence_choices(prediction) -> list[str]:
    """The selected tags first, then the best others, up to EVIDENCE_CHOICES."""
    selected = prediction.selected
    others = [tag.label for tag in prediction.tags if not tag.selected]
    return (selected + others)[:max(EVIDENCE_CHOICES, len(selected))]


def cached_evidence(predictor, result: state.AnnotationResult, label: str):
    """TagEvidence for (document, label), computed once per document and kept in the session."""
    cache = st.session_state[state.EVIDENCE]
    key = (result.document_key, label)
    if key not in cache:
        evidence = call_library(predictor.tag_evidence, result.title, result.content, label,
                                what=f"computing the evidence for '{label}'")
        if evidence is None:
            return None
        cache[key] = evidence
    return cache[key]


def render_evidence(predictor, result: state.AnnotationResult, prediction) -> None:
    choices = evidence_choices(prediction)
    if not choices:
        return
    if st.session_state.get(state.EVIDENCE_LABEL) not in choices:
        st.session_state[state.EVIDENCE_LABEL] = choices[0]
    label = st.selectbox("Tag", choices, key=state.EVIDENCE_LABEL,
                         format_func=lambda name: f"{name} ({'suggested' if name in prediction.selected else 'not suggested'})")
    evidence = cached_evidence(predictor, result, label)
    if evidence is None:
        return
    st.markdown(f"Score of **{markdown_literal(label)}**: {evidence.score:.3f}")
    grid = evidence_grid(result.explanation.document, evidence)
    figure = cached_figure(evidence, "evidence", lambda: heatmap_figure(grid))
    st.plotly_chart(figure, width="content", config={"displayModeBar": False},
                    key=state.EVIDENCE_CHART)
    st.caption(EVIDENCE_CAPTION)
    if evidence.name_scores is not None:
        st.markdown(name_note(label, evidence.name_scores))
    if evidence.linear is not None:
        st.markdown(linear_note(label, evidence.linear))
        if evidence.linear.terms:
            st.dataframe(linear_terms_table(evidence.linear), hide_index=True)
    if evidence.title_word_attention is not None:
        st.markdown(f"Where **{markdown_literal(label)}** looked")
        st.plotly_chart(cached_figure(evidence, "label-attention", lambda: heatmap_figure(label_attention_grid(
            result.explanation.document, evidence))), width="content",
                        config={"displayModeBar": False}, key=state.LABEL_ATTENTION_CHART)
        st.caption(LABEL_ATTENTION_CAPTION)
