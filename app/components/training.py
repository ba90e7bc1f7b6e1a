"""Train a model from the sidebar: upload, confirm columns, set options, follow the run live, use the model.

The training itself runs in a separate process (jman_core.jobs, the same function as `jman train`);
this page only starts it and reads its status files, so it stays responsive and survives reloads.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from jman_core.config import SEMANTIC_LAMBDAS, VARIATIONS, DataConfig, ExperimentConfig
from jman_core.errors import JmanError
from jman_core.jobs import (
    JobStatus, cancel_job, checked_model_name, list_jobs, model_exists, read_status, start_job,
)
from jman_core.text import markdown_literal
from jman_core.training import available_devices
from jman_core.upload import SEPARATORS, UploadReport, inspect_upload

from .. import state
from ..guard import show_error, show_unexpected
from ..models import REPOSITORY_ROOT, checkpoints_directory, find_checkpoints

JOBS_VARIABLE = "JMAN_JOBS_DIR"
UPLOAD_LIMIT_MB = 200  # also server.maxUploadSize in .streamlit/config.toml
ACCEPTED_TYPES = ["csv", "tsv", "jsonl", "json", "txt", "zip"]
NOT_USED = "(none)"


def jobs_directory() -> Path:
    """$JMAN_JOBS_DIR, or runs/jobs at the repository root."""
    configured = os.environ.get(JOBS_VARIABLE, "").strip()
    return Path(configured).expanduser() if configured else REPOSITORY_ROOT / "runs" / "jobs"


# ---- the sidebar: upload, options, start ----------------------------------------------------------

def render_training_sidebar() -> None:
    """Upload and options in the sidebar; a new upload opens the Train view (called before the view radio)."""
    with st.sidebar.expander("Train a new model", expanded=bool(st.session_state.get(state.TRAIN_FILE))):
        upload = st.file_uploader(f"Tagged documents (CSV, TSV, JSONL, JMAN text or zip; up to {UPLOAD_LIMIT_MB} MB)",
                                  type=ACCEPTED_TYPES, key=state.TRAIN_FILE)
        if upload is not None:
            digest = hashlib.sha1(upload.getvalue()).hexdigest()
            if st.session_state[state.TRAIN_UPLOAD_SEEN] != digest:
                st.session_state[state.TRAIN_UPLOAD_SEEN] = digest
                st.session_state[state.VIEW] = "Train"
                if not st.session_state.get(state.TRAIN_NAME):
                    st.session_state[state.TRAIN_NAME] = _default_name(upload.name)
        _render_options()
        unconfirmed = not _replacement_confirmed()
        running = _active_job()
        st.button("Start training", key=state.TRAIN_START, type="primary", on_click=_start,
                  disabled=upload is None or running is not None or unconfirmed,
                  help="One training at a time per server." if running else "Trains in a separate process.")
        if running is not None:
            st.caption(markdown_literal(f"Training '{running.name}': {running.message}.") + " Follow it in the Train view.")


def _existing_model() -> Path | None:
    """The model the name in the box would replace, if one exists (a bad name is for Start to refuse)."""
    try:
        output = checkpoints_directory() / checked_model_name(st.session_state.get(state.TRAIN_NAME) or "")
    except JmanError:
        return None
    return output if model_exists(output) else None


def _replacement_confirmed() -> bool:
    """True unless the name is an existing model's and the user has not ticked "Replace the existing model"."""
    existing = _existing_model()
    if existing is None:
        return True
    return st.checkbox(f"Replace the existing model {markdown_literal(existing.name)}", key=state.TRAIN_REPLACE, value=False,
                       help="Training saves over it when it finishes. Untick and choose another name to keep it.")


def _default_name(file_name: str) -> str:
    stem = Path(file_name).name.split(".")[0]
    cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in stem).strip("-_") or "my-model"
    return cleaned[:60]


def _render_options() -> None:
    st.text_input("Model name", key=state.TRAIN_NAME, placeholder="my-model",
                  help="The model is saved as checkpoints/<name>; letters, digits, '-', '_' and '.'.")
    variations = list(VARIATIONS)
    st.selectbox("Variation", variations, index=variations.index("JMAN-s"), key=state.TRAIN_VARIATION,
                 help="JMAN adds the label-semantics regularisers; the '-s' variations train without them.")
    st.checkbox("Label attention", key=state.TRAIN_LABEL_ATTENTION,
                help="Each tag gets its own attention over the words read, shown as 'where this tag looked' "
                     "beside the evidence (not in the paper; on crypto it raised F1 at the tuned threshold, "
                     "see the README's Benchmarks). Training takes about twice as long.")
    st.checkbox("Tag-name matching", key=state.TRAIN_LABEL_MENTIONS,
                help="Adds a learned score for each tag whose name is written in the title or content, shown "
                     "beside the evidence (not in the paper; on the Stack Exchange sites it raised F1 at the tuned "
                     "threshold by about 2 points, see the README's Benchmarks).")
    st.checkbox("Blend with a word-and-pair SVM", key=state.TRAIN_LINEAR_PART,
                help="After the epochs, fits a linear SVM over the words and word pairs read and blends its scores "
                     "with the network's, the weight tuned on validation (wide and deep; not in the paper). The "
                     "evidence panel shows the blend and the SVM's strongest words. On the Stack Exchange sites it "
                     "raised F1 at the tuned threshold by 4.8-7.2 points and P@1 by 2.7-7.5 over the network alone, past the linear SVM's (see the README's Benchmarks).")
    st.number_input("Epochs (at most)", 1, 200, 10, key=state.TRAIN_EPOCHS,
                    help="Training may stop earlier: the learning rate halves when validation loss rises.")
    st.number_input("Minimum label count", 1, 1000, 10, key=state.TRAIN_MIN_LABEL_COUNT,
                    help="Tags used fewer times in the training part are not learned.")
    with_semantics = st.session_state.get(state.TRAIN_VARIATION, "JMAN-s") == "JMAN"
    st.number_input("λ_sim (similarity regulariser)", 0.0, 10.0,
                    SEMANTIC_LAMBDAS["lambda_sim"] if with_semantics else 0.0, step=1e-4, format="%.4f",
                    key=state.TRAIN_LAMBDA_SIM)
    st.number_input("λ_sub (subsumption regulariser)", 0.0, 10.0,
                    SEMANTIC_LAMBDAS["lambda_sub"] if with_semantics else 0.0, step=1e-3, format="%.3f",
                    key=state.TRAIN_LAMBDA_SUB)
    st.slider("Validation fraction", 0.05, 0.5, 0.1, 0.05, key=state.TRAIN_VALIDATION_FRACTION,
              help="A further 10% is held out as the test part for the evaluation summary.")
    st.number_input("Seed", 0, 2**31 - 1, 42, key=state.TRAIN_SEED)
    devices = available_devices()
    st.selectbox("Device", devices, key=state.TRAIN_DEVICE,
                 help="CUDA is offered only when a GPU is available." if len(devices) == 1 else "bf16 on CUDA.")


def _data_config() -> DataConfig:
    """The confirmed columns and options as a DataConfig (the guessed ones until confirmed)."""
    def column(key: str, default: str) -> str:
        value = st.session_state.get(key)
        return default if not value or value == NOT_USED else value

    return DataConfig(
        title_column=column(state.TRAIN_TITLE_COLUMN, "title"),
        content_column=column(state.TRAIN_CONTENT_COLUMN, "content"),
        tags_column=column(state.TRAIN_TAGS_COLUMN, "tags"),
        id_column=column(state.TRAIN_ID_COLUMN, "id"),
        tag_separator=st.session_state.get(state.TRAIN_SEPARATOR) or " ",
        min_label_count=int(st.session_state.get(state.TRAIN_MIN_LABEL_COUNT, 10)),
        validation_fraction=float(st.session_state.get(state.TRAIN_VALIDATION_FRACTION, 0.1)),
    )


def _overrides(config: DataConfig) -> dict:
    data = {key: getattr(config, key) for key in ("title_column", "content_column", "tags_column", "id_column",
                                                  "tag_separator", "min_label_count", "validation_fraction")}
    return {
        "data": {**data, "split": "random", "test_fraction": 0.1},
        "model": {"variation": st.session_state.get(state.TRAIN_VARIATION, "JMAN-s"),
                  "label_attention": bool(st.session_state.get(state.TRAIN_LABEL_ATTENTION, False)),
                  "label_mentions": bool(st.session_state.get(state.TRAIN_LABEL_MENTIONS, False)),
                  "linear_part": bool(st.session_state.get(state.TRAIN_LINEAR_PART, False))},
        "training": {"num_epochs": int(st.session_state.get(state.TRAIN_EPOCHS, 10)),
                     "seed": int(st.session_state.get(state.TRAIN_SEED, 42)),
                     "device": st.session_state.get(state.TRAIN_DEVICE, "cpu"),
                     "lambda_sim": float(st.session_state.get(state.TRAIN_LAMBDA_SIM, 0.0)),
                     "lambda_sub": float(st.session_state.get(state.TRAIN_LAMBDA_SUB, 0.0))},
    }


def _active_job() -> JobStatus | None:
    return next((job for job in list_jobs(jobs_directory()) if job.active), None)


def _start() -> None:
    """Callback of "Start training": checks the data as training will, then starts the worker process."""
    upload = st.session_state.get(state.TRAIN_FILE)
    if upload is None:
        return
    try:
        config = _data_config()
        report = inspection(upload.name, upload.getvalue(), config)
        if report.problems:
            st.session_state[state.TRAIN_MESSAGE] = ("error", "Not started: " + " ".join(report.problems))
            return
        name = checked_model_name(st.session_state.get(state.TRAIN_NAME, ""))
        job = start_job(jobs_directory(), name, upload.name, upload.getvalue(), _overrides(config),
                        checkpoints_directory(), replace_existing=bool(st.session_state.get(state.TRAIN_REPLACE)))
    except JmanError as error:
        st.session_state[state.TRAIN_MESSAGE] = ("error", str(error))
        return
    st.session_state[state.TRAIN_JOB] = job.folder
    st.session_state[state.TRAIN_MESSAGE] = ("success", f"Training '{job.name}' started.")
    st.session_state[state.VIEW] = "Train"


# ---- the Train view: confirm, inspect, follow, results, earlier runs -----------------------------

def inspection(name: str, data: bytes, config: DataConfig | None) -> UploadReport:
    """inspect_upload, remembered per file and settings (a large file is read once, not on every rerun)."""
    key = (hashlib.sha1(data).hexdigest(), name, json.dumps(config.__dict__ if config else None, sort_keys=True))
    cache = st.session_state[state.TRAIN_INSPECTION]
    if key not in cache:
        experiment = ExperimentConfig(data=config) if config else None
        cache.clear()  # keep one: the settings of the moment
        cache[key] = inspect_upload(name, data, config, experiment)
    return cache[key]


def render_training_view() -> None:
    upload = st.session_state.get(state.TRAIN_FILE)
    job = _watched_job()
    message = st.session_state.get(state.TRAIN_MESSAGE)
    if message and (message[0] == "error" or (job is not None and job.active)):
        (st.success if message[0] == "success" else st.error)(markdown_literal(message[1]))
    if upload is None and job is None:
        st.info("Upload a file of tagged documents under **Train a new model** in the sidebar to train your own model. "
                f"CSV, TSV or JSONL with a title, a content and a tags column; the JMAN text format; or a zip holding "
                f"one of them; up to {UPLOAD_LIMIT_MB} MB.")
    if upload is not None:
        try:
            _render_dataset(upload.name, upload.getvalue())
        except Exception as error:  # noqa: BLE001 - a bad file must never break the page
            show_unexpected(error, "reading the uploaded dataset")
    if job is not None:
        st.subheader(f"Training '{markdown_literal(job.name)}'")
        render_job_panel(job.folder)
    _render_earlier_runs()


def _watched_job() -> JobStatus | None:
    """The running job (whoever started it), else the last one this session started or looked at."""
    running = _active_job()
    if running is not None:
        st.session_state[state.TRAIN_JOB] = running.folder
        return running
    folder = st.session_state.get(state.TRAIN_JOB)
    return read_status(folder) if folder and Path(folder).exists() else None


def _render_dataset(name: str, data: bytes) -> None:
    guessed = inspection(name, data, None)
    st.subheader(f"Dataset: {markdown_literal(name)}")
    if guessed.columns:
        _render_column_confirmation(guessed)
        report = inspection(name, data, _data_config())
    else:
        report = guessed
    st.caption(f"Format: {report.format}.")
    for problem in report.problems:
        show_error(problem)
    for warning in report.warnings:
        st.warning(markdown_literal(warning))
    if report.preview:
        st.markdown("**First rows**")
        st.dataframe(pd.DataFrame(report.preview), hide_index=True, width="stretch")
    if report.statistics:
        _render_statistics(report)


def _render_column_confirmation(report: UploadReport) -> None:
    """Selectboxes seeded with the guessed columns; the user confirms or corrects them."""
    options = [NOT_USED, *report.columns]
    for role, key in (("title", state.TRAIN_TITLE_COLUMN), ("content", state.TRAIN_CONTENT_COLUMN),
                      ("tags", state.TRAIN_TAGS_COLUMN), ("id", state.TRAIN_ID_COLUMN)):
        if st.session_state.get(key) not in options:
            st.session_state[key] = report.guessed.get(role) or NOT_USED
    if st.session_state.get(state.TRAIN_SEPARATOR) not in SEPARATORS:
        st.session_state[state.TRAIN_SEPARATOR] = report.tag_separator
    columns = st.columns(5)
    columns[0].selectbox("Title column", options, key=state.TRAIN_TITLE_COLUMN)
    columns[1].selectbox("Content column", options, key=state.TRAIN_CONTENT_COLUMN)
    columns[2].selectbox("Tags column", options, key=state.TRAIN_TAGS_COLUMN)
    columns[3].selectbox("Id column (optional)", options, key=state.TRAIN_ID_COLUMN)
    columns[4].selectbox("Tag separator", list(SEPARATORS), key=state.TRAIN_SEPARATOR, format_func=SEPARATORS.get)


def _render_statistics(report: UploadReport) -> None:
    statistics = report.statistics
    minimum = int(st.session_state.get(state.TRAIN_MIN_LABEL_COUNT, 10))
    cells = st.columns(5)
    cells[0].metric("Documents", f"{statistics['documents']:,}")
    cells[1].metric("Distinct tags", f"{statistics['distinct_tags']:,}")
    cells[2].metric("Tags per document", f"{statistics['mean_tags_per_document']:.2f}")
    cells[3].metric(f"Tags used ≥ {minimum} times", f"{statistics['labels_kept']:,}")
    cells[4].metric("Documents dropped", f"{statistics.get('dropped_without_label', statistics['documents_without_kept_label']):,}",
                    help="Documents left without any tag that is kept as a label.")
    if "train" in statistics:
        st.caption(f"Split: {statistics['train']:,} training, {statistics['validation']:,} validation and "
                   f"{statistics['test']:,} test documents; {statistics['labels_for_training']:,} labels.")
    if report.label_frequencies:
        frame = pd.DataFrame({"rank": range(1, len(report.label_frequencies) + 1), "documents": report.label_frequencies})
        frame["kept"] = frame["documents"].map(lambda count: "kept as a label" if count >= minimum else "too rare")
        chart = alt.Chart(frame).mark_bar().encode(
            x=alt.X("rank:Q", title="tags, most used first"),
            y=alt.Y("documents:Q", title="documents", scale=alt.Scale(type="symlog")),
            color=alt.Color("kept:N", title=None, scale=alt.Scale(domain=["kept as a label", "too rare"],
                                                                 range=["#8b1e3f", "#bbbbbb"])),
            tooltip=["rank", "documents"],
        ).properties(height=220, title="Label frequency")
        st.altair_chart(chart, width="stretch")


def render_job_panel(folder: str) -> None:
    """The live panel: refreshes itself every second while the job runs (a fragment, not the whole page)."""
    status = read_status(folder)

    @st.fragment(run_every=1.0 if status.active else None)
    def panel() -> None:
        current = read_status(folder)
        _render_progress(current)
        _render_curves(Path(folder))
        _render_log(Path(folder))
        if current.state == "finished":
            _render_result(current)
        if status.active and not current.active:
            st.rerun()  # the run just ended: redraw the page so the model picker lists the new model

    panel()


def _render_progress(status: JobStatus) -> None:
    if status.active:
        total = max(status.num_epochs * max(status.steps, 1), 1)
        done = max(status.epoch - 1, 0) * max(status.steps, 1) + status.step
        left = f", about {_duration(status.seconds_left)} left at most" if status.seconds_left else ""
        if status.steps:
            text = (f"Epoch {status.epoch} of at most {status.num_epochs}, step {status.step} of {status.steps}; "
                    f"{_duration(status.elapsed_seconds)} elapsed{left}.")
        else:
            text = markdown_literal(f"{status.message[:1].upper()}{status.message[1:]}") + "…"  # before the first step
        st.progress(min(done / total, 1.0), text=text)
        st.button("Cancel training", key=state.TRAIN_CANCEL, on_click=cancel_job, args=(status.folder,),
                  help="Stops after the current step; no model is saved.")
    elif status.state == "finished":
        st.success(markdown_literal(f"Finished ({status.message}). Saved as {status.checkpoint}; it is in the model picker now."))
    elif status.state == "cancelled":
        st.warning(markdown_literal(f"Cancelled: {status.message}."))
    else:
        show_error(f"Training {status.state}: {status.message}")


def _duration(seconds: float | None) -> str:
    seconds = int(seconds or 0)
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


def _render_curves(folder: Path) -> None:
    path = folder / "epochs.jsonl"
    if not path.exists():
        return
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not records:
        return
    frame = pd.DataFrame(records)
    losses = frame.melt("epoch", ["train_loss", "validation_loss"], "series", "loss")
    losses["series"] = losses["series"].map({"train_loss": "training loss", "validation_loss": "validation loss"})
    left, right = st.columns(2)
    left.altair_chart(alt.Chart(losses).mark_line(point=True).encode(
        x=alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1, format="d")), y="loss:Q", color="series:N",
        tooltip=["epoch", "series", alt.Tooltip("loss:Q", format=".4f")]).properties(height=220, title="Loss"),
        width="stretch")
    right.altair_chart(alt.Chart(frame).mark_line(point=True, color="#8b1e3f").encode(
        x=alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1, format="d")), y=alt.Y("validation_f1:Q", title="validation F1"),
        tooltip=["epoch", alt.Tooltip("validation_f1:Q", format=".3f"), alt.Tooltip("threshold:Q", format=".2f")],
    ).properties(height=220, title="Validation F1 (at the tuned threshold)"), width="stretch")


def _render_log(folder: Path) -> None:
    lines = []
    path = folder / "epochs.jsonl"
    if path.exists():
        for record in (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()):
            lines.append(f"epoch {record['epoch']}: train loss {record['train_loss']:.4f}, validation loss "
                         f"{record['validation_loss']:.4f}, validation F1 {record['validation_f1']:.3f}, "
                         f"{record['seconds']:.0f}s{' (best)' if record.get('best') else ''}")
    output = (folder / "log.txt").read_text(encoding="utf-8", errors="replace") if (folder / "log.txt").exists() else ""
    with st.expander("Log"):
        st.code("\n".join(lines + ([output[-3000:]] if output.strip() else [])) or "(nothing yet)", language=None)


def _render_result(status: JobStatus) -> None:
    """The evaluation summary of a finished run, and a button to annotate with the new model at once."""
    test = status.metrics.get("test") or {}
    if test:
        st.markdown("**Evaluation on the held-out test part** (the paper's example-based metrics)")
        cells = st.columns(6)
        for cell, name in zip(cells, ("P@1", "F1", "P", "R", "A", "nDCG@3")):
            cell.metric(name, f"{100 * test[name]:.1f}")
        at_half = status.metrics.get("test_at_0.5") or {}
        if at_half:
            st.caption(f"At the paper's threshold 0.5: F1 {100 * at_half['F1']:.1f}, P {100 * at_half['P']:.1f}, "
                       f"R {100 * at_half['R']:.1f}. Micro-F1 {100 * test['Micro-F1']:.1f}, Macro-F1 {100 * test['Macro-F1']:.1f}.")
    if status.per_label:
        st.markdown("**The most frequent labels**")
        frame = pd.DataFrame(status.per_label).rename(columns={"support": "test documents"})
        st.dataframe(frame.style.format({"P": "{:.2f}", "R": "{:.2f}", "F1": "{:.2f}"}), hide_index=True, width="stretch")
    if status.checkpoint and st.button(f"Annotate with '{markdown_literal(status.name)}'", key=state.TRAIN_USE_MODEL,
                                       type="primary", on_click=_use_model, args=(status.checkpoint,)):
        # The button sits in the job panel's fragment, and a click reruns only the fragment: the callback has
        # set the model and the view, and only a whole-app rerun redraws the picker and the view radio.
        st.rerun(scope="app")


def _use_model(folder: str) -> None:
    """Callback: picks the new model (as the picker lists it) and opens the annotate view."""
    target = Path(folder).resolve()
    listed = [entry.folder for entry in find_checkpoints(checkpoints_directory()) if entry.folder.resolve() == target]
    st.session_state[state.MODEL_FOLDER] = str(listed[0]) if listed else folder
    st.session_state.pop(state.THRESHOLD, None)  # seeded again from the new model's tuned threshold
    st.session_state[state.VIEW] = "Annotate"


def _render_earlier_runs() -> None:
    jobs = list_jobs(jobs_directory())
    if not jobs:
        return
    rows = [{"started": job.created.replace("T", " ")[:19], "model": job.name, "state": job.state,
             "test F1": f"{100 * job.metrics['test']['F1']:.1f}" if job.metrics.get("test") else "",
             "message": job.message} for job in jobs]
    with st.expander(f"All training runs on this server ({len(rows)})", expanded=False):
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
