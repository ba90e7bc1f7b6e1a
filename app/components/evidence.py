"""Evidence for one tag: which words and sentences pushed its score up (red) or down (blue)."""

from __future__ import annotations

import streamlit as st

from jman_core.text import markdown_literal

from .. import state
from ..guard import call_library
from .figure_cache import cached_figure
from .heatmap import component_evidence_grid, evidence_grid, heatmap_figure, label_attention_grid

EVIDENCE_CHOICES = 10
EVIDENCE_CAPTION = (
    "Same layout as above, shaded by what each word added to the tag's final score from every component: "
    "red words raised it, blue words lowered it; white is neutral. The left column is each sentence's total. "
    "A word's value is its first-order effect on the final probability: the network's part by gradient × "
    "input on the word vectors, the word-and-pair SVM's exact (each word and pair's term of its margin, a "
    "pair's half to each word)."
)
COMPONENT_CAPTION = (
    "One component's own evidence, in its calibrated log odds: what each word added before the blend "
    "weighs it."
)
LABEL_ATTENTION_CAPTION = (
    "This model gives each tag its own attention over the words it read (label attention, not in the paper): "
    "darker words are where this tag looked. Its weights sum to 1 over the whole document, and the darkest "
    "word is its largest."
)


def name_note(label: str, name_scores: dict[str, float]) -> str:
    """What tag-name matching (a model trained with it) added to the tag's score, in words."""
    written = [f"the {place} ({value:+.2f})" for place, value in name_scores.items() if value]
    label = markdown_literal(label)
    if not written:
        return (
            f"The name **{label}** is not among the words read, so tag-name matching added nothing to its "
            "score."
        )
    return (
        f"The name **{label}** is written in {' and '.join(written)}: tag-name matching added that to its "
        "log-odds score, beside the evidence shaded above (which does not include it)."
    )


# What the app says about a score head's own evidence (TagEvidence.heads), by head name: a head with
# something to show adds its renderer here.
HEAD_NOTES = {"label_mentions": name_note}


def components_note(label: str, evidence) -> str:
    """How the tag's final score is made of its components, in words and numbers."""
    parts = [
        f"{part.weight:.2f} × {part.label}'s {part.probability:.3f} = **{part.share:.3f}**"
        for part in evidence.components.values()
    ]
    return f"Score of **{markdown_literal(label)}**: {evidence.score:.3f} = " + " + ".join(parts) + "."


def components_table(evidence) -> dict[str, list]:
    """Each component's weight, calibrated probability and share of the score, as table columns."""
    parts = list(evidence.components.values())
    total = sum(part.share for part in parts) or 1.0
    return {
        "component": [part.label for part in parts],
        "blend weight": [round(part.weight, 3) for part in parts],
        "its probability": [round(part.probability, 3) for part in parts],
        "adds to the score": [round(part.share, 3) for part in parts],
        "share of the score": [f"{part.share / total:.0%}" for part in parts],
    }


def linear_terms_table(linear) -> dict[str, list]:
    """The SVM's strongest words and pairs as table columns."""
    return {
        "word or pair read": [text for text, _ in linear.terms],
        "added to the SVM's calibrated log odds": [round(added, 3) for _, added in linear.terms],
    }


def evidence_choices(prediction) -> list[str]:
    """The selected tags first, then the best others, up to EVIDENCE_CHOICES."""
    selected = prediction.selected
    others = [tag.label for tag in prediction.tags if not tag.selected]
    return (selected + others)[: max(EVIDENCE_CHOICES, len(selected))]


def cached_evidence(predictor, result: state.AnnotationResult, label: str):
    """TagEvidence for (document, label), computed once per document and kept in the session."""
    cache = st.session_state[state.EVIDENCE]
    key = (result.document_key, label)
    if key not in cache:
        evidence = call_library(
            predictor.tag_evidence,
            result.title,
            result.content,
            label,
            what=f"computing the evidence for '{label}'",
        )
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
    label = st.selectbox(
        "Tag",
        choices,
        key=state.EVIDENCE_LABEL,
        format_func=lambda name: (
            f"{name} ({'suggested' if name in prediction.selected else 'not suggested'})"
        ),
    )
    evidence = cached_evidence(predictor, result, label)
    if evidence is None:
        return
    st.markdown(components_note(label, evidence))
    st.dataframe(components_table(evidence), hide_index=True)
    document = result.explanation.document
    names = ["whole score", *(part.label for part in evidence.components.values())]
    tabs = st.tabs(names)
    with tabs[0]:
        grid = evidence_grid(document, evidence)
        st.plotly_chart(
            cached_figure(evidence, "evidence", lambda: heatmap_figure(grid)),
            width="content",
            config={"displayModeBar": False},
            key=state.EVIDENCE_CHART,
        )
        st.caption(EVIDENCE_CAPTION)
    for tab, (name, part) in zip(tabs[1:], evidence.components.items()):
        with tab:
            figure = cached_figure(
                evidence,
                f"evidence-{name}",
                lambda part=part: heatmap_figure(component_evidence_grid(document, evidence, part)),
            )
            st.plotly_chart(
                figure,
                width="content",
                config={"displayModeBar": False},
                key=f"{state.EVIDENCE_CHART}-{name}",
            )
            st.caption(COMPONENT_CAPTION + f" Words not drawn and the bias add {part.outside:+.3f}.")
            if part.terms:
                st.dataframe(linear_terms_table(part), hide_index=True)
    for head, values in evidence.heads.items():
        if head in HEAD_NOTES:
            st.markdown(HEAD_NOTES[head](label, values))
    if evidence.title_word_attention is not None:
        st.markdown(f"Where **{markdown_literal(label)}** looked")
        st.plotly_chart(
            cached_figure(
                evidence,
                "label-attention",
                lambda: heatmap_figure(label_attention_grid(result.explanation.document, evidence)),
            ),
            width="content",
            config={"displayModeBar": False},
            key=state.LABEL_ATTENTION_CHART,
        )
        st.caption(LABEL_ATTENTION_CAPTION)
