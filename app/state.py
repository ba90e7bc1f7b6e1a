"""Every session-state key the app uses, declared once, with the values they start from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import streamlit as st

# ---- widgets (the key is the widget's key) ------------------------------------------------------
VIEW = "view"  # "Annotate" or "Batch"
MODEL_FOLDER = "model_folder"  # str path of the chosen checkpoint folder
THRESHOLD = "threshold"  # float, the decision threshold slider
TOP_K = "top_k"  # int, 0 = no limit
SAMPLE = "sample"  # name of the chosen sample document, or NO_SAMPLE
TITLE = "title"  # str, the title box
CONTENT = "content"  # str, the content box
GOLD_TAGS = "gold_tags"  # str, optional gold tags separated by commas or spaces
PREDICT = "predict"  # the "Suggest tags" button
EVIDENCE_LABEL = "evidence_label"  # the tag whose evidence is shown
BATCH_FILE = "batch_file"  # the file uploader
BATCH_RUN = "batch_run"  # the "Suggest tags for every document" button
BATCH_ROW = "batch_row"  # index of the batch row to open in the full view
BATCH_OPEN = "batch_open"  # the button that opens that row
RESET_THRESHOLD = "reset_threshold"  # the "Use the tuned threshold" button
CLEAR_REVIEWS = "clear_reviews"
DOWNLOAD_REVIEWS_JSONL = "download_reviews_jsonl"
DOWNLOAD_REVIEWS_CSV = "download_reviews_csv"
DOWNLOAD_VISUALISATION = "download_visualisation"
DOWNLOAD_BATCH_CSV = "download_batch_csv"
DOWNLOAD_BATCH_JSONL = "download_batch_jsonl"
ATTENTION_CHART = "attention_chart"  # the Fig. 4 heatmap (charts get keys so two can never collide)
EVIDENCE_CHART = "evidence_chart"

# ---- values the app keeps between runs ---------------------------------------------------------
RESULT = "result"  # AnnotationResult | None: the last prediction for the document in the boxes
EVIDENCE = "evidence"  # dict[(document_key, label), TagEvidence]: evidence already computed
REVIEWS = "reviews"  # dict[document_key, DocumentReview]: the curator's decisions, per document
BATCH = "batch"  # BatchResult | None: the uploaded file and its scores
PENDING_PREDICTION = "pending_prediction"  # bool: predict as soon as the annotate view renders
LOADED_MODEL = "loaded_model"  # "folder@mtime" of the model that produced RESULT, EVIDENCE and BATCH

NO_SAMPLE = "(write your own)"
VIEWS = ("Annotate", "Batch")


# ---- widget keys that belong to one document (so each document keeps its own review) ------------
def decision_key(document_key: str, label: str) -> str:
    return f"decision::{document_key}::{label}"


def added_tags_key(document_key: str) -> str:
    return f"added_tags::{document_key}"


def new_tags_key(document_key: str) -> str:
    return f"new_tags::{document_key}"


def is_review_widget_key(key: str) -> bool:
    return key.startswith(("decision::", "added_tags::", "new_tags::"))


@dataclass
class AnnotationResult:
    """What one press of "Suggest tags" produced; the sliders re-partition `scores` without the model."""

    document_key: str
    model_folder: str
    title: str
    content: str
    gold_tags: list[str]
    explanation: Any  # jman_core.predict.Explanation
    scores: np.ndarray  # (L,) in the order of the predictor's labels
    notices: list[str] = field(default_factory=list)


def initialise() -> None:
    """Sets every non-widget key to its starting value (widgets start from their own defaults)."""
    defaults: dict[str, Any] = {
        VIEW: VIEWS[0], SAMPLE: NO_SAMPLE, TITLE: "", CONTENT: "", GOLD_TAGS: "", TOP_K: 0,
        RESULT: None, EVIDENCE: {}, REVIEWS: {}, BATCH: None, PENDING_PREDICTION: False, LOADED_MODEL: "",
    }
    for key, value in defaults.items():
        st.session_state.setdefault(key, value)


def track_model(model_identity: str) -> None:
    """Forgets the scores of another model (or of an older version of this one, replaced on disk)."""
    if st.session_state[LOADED_MODEL] != model_identity:
        forget_predictions()
        st.session_state[LOADED_MODEL] = model_identity


def forget_predictions() -> None:
    """Drops everything computed with a model (called when the model changes)."""
    st.session_state[RESULT] = None
    st.session_state[EVIDENCE] = {}
    st.session_state[BATCH] = None
