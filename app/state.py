"""Every session-state key the app uses, declared once, with the values they start from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import streamlit as st

# ---- widgets (the key is the widget's key) ------------------------------------------------------
VIEW = "view"  # "Annotate", "Batch" (review a collection) or "Train"
CURATOR = "curator"  # str, the curator's name (kept in the page's URL as ?curator=)
MODEL_FOLDER = "model_folder"  # str path of the chosen checkpoint folder
THRESHOLD = "threshold"  # float, the decision threshold slider
TOP_K = "top_k"  # int, 0 = no limit
SAMPLE = "sample"  # name of the chosen sample document, or NO_SAMPLE
TITLE = "title"  # str, the title box
CONTENT = "content"  # str, the content box
GOLD_TAGS = "gold_tags"  # str, optional gold tags separated by commas or spaces
PREDICT = "predict"  # the "Suggest tags" button
EVIDENCE_LABEL = "evidence_label"  # the tag whose evidence is shown
BATCH_FILE = "batch_file"  # the uploader that turns a file of documents into a collection
COLLECTION = "collection"  # int id of the collection shown in the queue (kept in the URL as ?collection=)
QUEUE_FILTER = "queue_filter"  # all, pending, reviewed, skipped
QUEUE_ORDER = "queue_order"  # a key of jman_core.workspace.queue.ORDERS
QUEUE_UNLIKE_TRAINING = "queue_unlike_training"  # bool: the queue keeps only documents unlike training
QUEUE_JUMP = "queue_jump"  # the "jump to" box (1-based position in the queue)
HIDE_HEATMAPS = "hide_heatmaps"  # bool: annotate without the attention shading (it can bias a curator)
BULK_MINIMUM = "bulk_minimum"  # float, the score from which bulk accept takes suggestions
BULK_CONFIRM = "bulk_confirm"  # bool, the confirmation box of bulk accept
CLEAR_CONFIRM = "clear_confirm"  # bool, the confirmation box of "clear my decisions"
NEW_TAGS = "new_tags"  # tags typed to add to the current document
VOCABULARY_TAGS = "vocabulary_tags"  # tags chosen from the model's vocabulary to add
LEARN_NAME = "learn_name"  # name of the model trained on reviewed documents
LEARN_HOLDOUT = "learn_holdout"  # share of reviewed documents held out for the comparison
LEARN_BASE_FILE = (
    "learn_base_file"  # optional: the model's own training file, added to the reviewed documents
)
LEARN_EPOCHS = "learn_epochs"
LEARN_REPLACE = "learn_replace"  # bool: the curator confirmed replacing an existing model of that name
RESET_THRESHOLD = "reset_threshold"  # the "Use the tuned threshold" button
DOWNLOAD_REVIEWS_JSONL = "download_reviews_jsonl"
DOWNLOAD_REVIEWS_CSV = "download_reviews_csv"
DOWNLOAD_VISUALISATION = "download_visualisation"
DOWNLOAD_BATCH_CSV = "download_batch_csv"
DOWNLOAD_BATCH_JSONL = "download_batch_jsonl"
ATTENTION_CHART = "attention_chart"  # the Fig. 4 heatmap (charts get keys so two can never collide)
EVIDENCE_CHART = "evidence_chart"
LABEL_ATTENTION_CHART = "label_attention_chart"  # the evidence tag's own attention (label-attention models)

# ---- training from the sidebar (widgets) --------------------------------------------------------
TRAIN_FILE = "train_file"  # the dataset uploader in the sidebar
TRAIN_NAME = "train_name"  # name of the model to make (a folder under checkpoints/)
TRAIN_OPTION = (
    "train_option."  # + "section.name": the form's widget of each declared option (train_option_key)
)
TRAIN_ALL_SETTINGS = (
    "train_all_settings"  # bool: the form shows every declared option, not only the main ones
)


def train_option_key(path: str) -> str:
    """The widget key of a declared option ("training.num_epochs") in the training form."""
    return TRAIN_OPTION + path


TRAIN_VARIATION = train_option_key("model.variation")
TRAIN_HEADS = train_option_key("model.heads")  # list of head names (jman_core.model.HEADS)
TRAIN_LINEAR = train_option_key("linear.enabled")  # bool: blend with the word-and-pair SVM
TRAIN_EPOCHS = train_option_key("training.num_epochs")
TRAIN_MIN_LABEL_COUNT = train_option_key("data.min_label_count")
TRAIN_DEVICE = train_option_key("training.device")
TRAIN_TITLE_COLUMN = "train_title_column"  # the confirmed columns and tag separator
TRAIN_CONTENT_COLUMN = "train_content_column"
TRAIN_TAGS_COLUMN = "train_tags_column"
TRAIN_ID_COLUMN = "train_id_column"
TRAIN_SEPARATOR = "train_separator"
TRAIN_START = "train_start"
TRAIN_CANCEL = "train_cancel"
TRAIN_USE_MODEL = "train_use_model"
TRAIN_REPLACE = (
    "train_replace"  # bool: the user confirmed that training may replace the existing model of that name
)

# ---- values the app keeps between runs ---------------------------------------------------------
TRAIN_INSPECTION = "train_inspection"  # dict[settings key, UploadReport]: inspections already made
TRAIN_UPLOAD_SEEN = (
    "train_upload_seen"  # digest of the last uploaded dataset (a new one opens the Train view)
)
TRAIN_MESSAGE = "train_message"  # (kind, text) | None: what the last Start press said
TRAIN_JOB = "train_job"  # folder of the job this session started or looked at last
RESULT = "result"  # AnnotationResult | None: the last prediction for the document in the boxes
EVIDENCE = "evidence"  # dict[(document_key, label), TagEvidence]: evidence already computed
TYPED_SAMPLE = "typed_sample"  # the sample the boxes were last filled from (a new one starts a new document)
TYPED_DOCUMENT = (
    "typed_document"  # int | None: the workspace document the boxes belong to (edits keep its id)
)
QUEUE_DOCUMENT = (
    "queue_document"  # int | None: the document shown in the queue (kept in the URL as ?document=)
)
UPLOAD_SEEN = "upload_seen"  # digest of the last file turned into a collection (not imported twice)
WORKSPACE_MESSAGE = "workspace_message"  # (kind, text) | None: what the last review click said
URL_SEEDED = "url_seeded"  # bool: the view, curator, collection and document were taken from the URL once
QUEUE_CACHE = "queue_cache"  # dict: a collection's documents and scores, read once per (collection, model)
PENDING_PREDICTION = "pending_prediction"  # bool: predict as soon as the annotate view renders
LOADED_MODEL = "loaded_model"  # "folder@mtime" of the model that produced RESULT, EVIDENCE and BATCH

NO_SAMPLE = "(write your own)"
VIEWS = ("Annotate", "Batch", "Train")


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
    document_id: int | None = (
        None  # the workspace document it was saved as (None: the workspace is unavailable)
    )


def initialise() -> None:
    """Sets every non-widget key to its starting value (widgets start from their own defaults)."""
    defaults: dict[str, Any] = {
        VIEW: VIEWS[0],
        SAMPLE: NO_SAMPLE,
        TITLE: "",
        CONTENT: "",
        GOLD_TAGS: "",
        TOP_K: 0,
        RESULT: None,
        EVIDENCE: {},
        PENDING_PREDICTION: False,
        LOADED_MODEL: "",
        TYPED_DOCUMENT: None,
        TYPED_SAMPLE: NO_SAMPLE,
        QUEUE_DOCUMENT: None,
        UPLOAD_SEEN: "",
        WORKSPACE_MESSAGE: None,
        QUEUE_CACHE: {},
        TRAIN_INSPECTION: {},
        TRAIN_UPLOAD_SEEN: "",
        TRAIN_MESSAGE: None,
        TRAIN_JOB: "",
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
    st.session_state[QUEUE_CACHE] = {}
