"""Train a model from the sidebar: upload, confirm columns, set options, follow the run live, use the model.

The training itself runs in a separate process (jman_core.jobs, the same function as `jman train`);
this page only starts it and reads its status files, so it stays responsive and survives reloads. The form
is generated from the declared options (jman_core.options) and starts from the settings that beat the
linear SVM baseline on our three sites (options.RECOMMENDED).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from jman_core import options
from jman_core.checkpoint import (
    baseline_rows,
    baseline_verdict,
    beats_baseline,
    blend_summary,
    calibration_line,
    read_metadata,
)
from jman_core.config import DataConfig, ExperimentConfig, ModelConfig, build_config, semantic_lambdas
from jman_core.data import SUPPORTED_EXTENSIONS
from jman_core.errors import JmanError
from jman_core.jobs import (
    JobStatus,
    active_job,
    cancel_job,
    checked_model_name,
    list_jobs,
    model_exists,
    read_status,
    start_job,
)
from jman_core.model import HEADS
from jman_core.text import markdown_literal
from jman_core.training import available_devices
from jman_core.upload import SEPARATORS, UploadReport, inspect_upload

from .. import state
from ..guard import show_error, show_unexpected
from ..models import REPOSITORY_ROOT, checkpoints_directory, find_checkpoints

JOBS_VARIABLE = "JMAN_JOBS_DIR"
ACCEPTED_TYPES = [extension.lstrip(".") for extension in SUPPORTED_EXTENSIONS]
NOT_USED = "(none)"
INSPECTIONS_KEPT = 3  # the guessed columns', and the confirmed ones' (sidebar and Train view agree)
# The data options confirmed beside the uploaded file's preview (the Train view), not in the sidebar form.
COLUMN_KEYS = {
    "data.title_column": state.TRAIN_TITLE_COLUMN,
    "data.content_column": state.TRAIN_CONTENT_COLUMN,
    "data.tags_column": state.TRAIN_TAGS_COLUMN,
    "data.id_column": state.TRAIN_ID_COLUMN,
    "data.tag_separator": state.TRAIN_SEPARATOR,
}
# The form's options always shown, in this order; "All settings" shows every other one of the form.
MAIN_OPTIONS = (
    "model.variation",
    "model.heads",
    "linear.enabled",
    "training.num_epochs",
    "data.min_label_count",
    "training.lambda_sim",
    "training.lambda_sub",
    "data.validation_fraction",
    "training.seed",
    "training.device",
    "training.calibration",
)
# Words a person reads for the main options (the others are labelled by their names).
LABELS = {
    "model.variation": "Variation",
    "model.heads": "Score heads (not in the paper)",
    "linear.enabled": "Blend with the linear SVM",
    "training.num_epochs": "Epochs (at most)",
    "data.min_label_count": "Minimum label count",
    "training.lambda_sim": "λ_sim (similarity regulariser)",
    "training.lambda_sub": "λ_sub (subsumption regulariser)",
    "data.validation_fraction": "Validation fraction",
    "training.seed": "Seed",
    "training.device": "Device",
    "training.calibration": "Calibration",
}


def jobs_directory() -> Path:
    """$JMAN_JOBS_DIR, or runs/jobs at the repository root."""
    configured = os.environ.get(JOBS_VARIABLE, "").strip()
    return Path(configured).expanduser() if configured else REPOSITORY_ROOT / "runs" / "jobs"


def upload_limit_mb() -> int:
    """The largest upload Streamlit accepts (server.maxUploadSize in .streamlit/config.toml)."""
    return int(st.get_option("server.maxUploadSize"))


# ---- the sidebar: upload, options, estimate, start ------------------------------------------------


def render_training_sidebar() -> None:
    """Upload and options in the sidebar; a new upload opens the Train view (called before the view radio)."""
    with st.sidebar.expander("Train a new model", expanded=bool(st.session_state.get(state.TRAIN_FILE))):
        upload = st.file_uploader(
            f"Tagged documents (CSV, TSV, JSONL, JMAN text or zip; up to {upload_limit_mb()} MB)",
            type=ACCEPTED_TYPES,
            key=state.TRAIN_FILE,
        )
        if upload is not None:
            digest = hashlib.sha1(upload.getvalue()).hexdigest()
            if st.session_state[state.TRAIN_UPLOAD_SEEN] != digest:
                st.session_state[state.TRAIN_UPLOAD_SEEN] = digest
                st.session_state[state.VIEW] = "Train"
                if not st.session_state.get(state.TRAIN_NAME):
                    st.session_state[state.TRAIN_NAME] = _default_name(upload.name)
        _render_options()
        if upload is not None:
            _render_estimate(upload.name, upload.getvalue())
        unconfirmed = not _replacement_confirmed()
        running = active_job(jobs_directory())
        st.button(
            "Start training",
            key=state.TRAIN_START,
            type="primary",
            on_click=_start,
            disabled=upload is None or running is not None or unconfirmed,
            help="One training at a time per server." if running else "Trains in a separate process.",
        )
        if running is not None:
            st.caption(
                markdown_literal(f"Training '{running.name}': {running.message}.")
                + " Follow it in the Train view."
            )


def _existing_model() -> Path | None:
    """The model the name in the box would replace, if one exists (a bad name is for Start to refuse)."""
    try:
        output = checkpoints_directory() / checked_model_name(st.session_state.get(state.TRAIN_NAME) or "")
    except JmanError:
        return None
    return output if model_exists(output) else None


def _replacement_confirmed() -> bool:
    """True unless the name is an existing model's and the user has not ticked "Replace the existing
    model"."""
    existing = _existing_model()
    if existing is None:
        return True
    return st.checkbox(
        f"Replace the existing model {markdown_literal(existing.name)}",
        key=state.TRAIN_REPLACE,
        value=False,
        help="Training saves over it when it finishes. Untick and choose another name to keep it.",
    )


def _default_name(file_name: str) -> str:
    stem = Path(file_name).name.split(".")[0]
    cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in stem).strip("-_") or "my-model"
    return cleaned[:60]


def offered_options() -> list[options.Option]:
    """The sidebar form's options: the main ones first, then every other declared option the app offers,
    the columns aside (confirmed in the Train view)."""
    offered = {option.path: option for option in options.form_options() if option.path not in COLUMN_KEYS}
    return [offered[path] for path in MAIN_OPTIONS] + [
        option for path, option in offered.items() if path not in MAIN_OPTIONS
    ]


def _render_options() -> None:
    st.text_input(
        "Model name",
        key=state.TRAIN_NAME,
        placeholder="my-model",
        help="The model is saved as checkpoints/<name>; letters, digits, '-', '_' and '.'.",
    )
    defaults = options.recommended_config()
    text = defaults.text
    st.caption(
        "Starts from the settings that beat the linear SVM baseline on our three Stack Exchange sites "
        f"(JMAN-s blended with the SVM). The model reads {text.max_title_tokens} title words and "
        f"{text.max_sentences} sentences of {text.max_sentence_tokens} words."
    )
    offered = offered_options()
    for option in offered[: len(MAIN_OPTIONS)]:
        _render_option(option, _default(defaults, option))
    if st.toggle(
        "All settings",
        key=state.TRAIN_ALL_SETTINGS,
        help="Every option of `jman train`, with its default and help. Hiding them again returns them to "
        "their defaults.",
    ):
        for option in offered[len(MAIN_OPTIONS) :]:
            _render_option(option, _default(defaults, option))


def _default(config: ExperimentConfig, option: options.Option) -> Any:
    return getattr(getattr(config, option.section), option.name)


def _render_option(option: options.Option, default: Any) -> None:
    """One declared option as a widget, keyed state.train_option_key(path), starting from `default`."""
    key, label = state.train_option_key(option.path), LABELS.get(option.path, option.label)
    help_text = f"{option.help[:1].upper()}{option.help[1:]}."
    if option.registry is not None:
        names = list(option.registry)
        st.multiselect(
            label,
            names,
            default=list(default),
            key=key,
            help=help_text + " " + " ".join(f"**{name}**: {HEADS[name].description}." for name in names),
        )
    elif option.path == "training.device":
        st.selectbox(
            label,
            available_devices(),
            key=key,
            help="CUDA is offered only when a GPU is available; bf16 on CUDA.",
        )
    elif option.type is bool:
        st.checkbox(label, value=bool(default), key=key, help=help_text)
    elif option.choices:
        choices = list(option.choices)
        # a new variation brings its own λ defaults (a keyed widget keeps its value otherwise)
        on_change = _set_semantic_lambdas if option.path == "model.variation" else None
        st.selectbox(
            label, choices, index=choices.index(default), key=key, help=help_text, on_change=on_change
        )
    elif option.optional:  # the λ: unset means the variation's, shown as that number
        if key not in st.session_state:
            _set_semantic_lambdas()
        value = st.session_state[key]
        st.number_input(label, min_value=0.0, step=_step(value), format="%g", key=key, help=help_text)
    elif option.type is int:
        st.number_input(label, value=int(default), step=1, key=key, help=help_text)
    elif option.type is float:
        st.number_input(
            label, value=float(default), step=_step(default), format="%g", key=key, help=help_text
        )
    else:
        st.text_input(label, value=str(default), key=key, help=help_text)


def _set_semantic_lambdas() -> None:
    """The λ widgets set to the chosen variation's weights (config.semantic_lambdas: JMAN's SEMANTIC_LAMBDAS,
    0 for the others)."""
    variation = st.session_state.get(state.TRAIN_VARIATION) or options.recommended_config().model.variation
    weights = semantic_lambdas(ModelConfig(variation=variation), options.recommended_config().training)
    for name, weight in zip(("lambda_sim", "lambda_sub"), weights):
        st.session_state[state.train_option_key(f"training.{name}")] = weight


def _step(value: float) -> float:
    """A step of the order of the value: 0.001 for 0.002, 0.1 for 0.5, 0.01 for 0."""
    return 10.0 ** math.floor(math.log10(abs(value))) if value else 0.01


def _form_values() -> dict[str, dict[str, Any]]:
    """The form's options as config sections (the columns aside): each widget's value, or where a widget is
    hidden, the value the form starts from."""
    defaults = options.recommended_config()
    values: dict[str, dict[str, Any]] = {}
    for option in offered_options():
        value = st.session_state.get(state.train_option_key(option.path), _default(defaults, option))
        if option.registry is not None:
            value = {name: {} for name in value}
        values.setdefault(option.section, {})[option.name] = value
    return values


def _columns() -> dict[str, str]:
    """The confirmed columns and tag separator (the defaults until the Train view has confirmed them)."""
    defaults, values = DataConfig(), {}
    for path, key in COLUMN_KEYS.items():
        name = path.split(".")[1]
        chosen = st.session_state.get(key)
        values[name] = getattr(defaults, name) if not chosen or chosen == NOT_USED else chosen
    return values


def _data_config() -> DataConfig:
    """The confirmed columns and the form's data options as a DataConfig (the columns alone while an option
    is not valid: Start names the problem)."""
    try:
        return build_config(None, {"data": {**_form_values().get("data", {}), **_columns()}}).data
    except JmanError:
        return DataConfig(**_columns())


def _overrides(config: DataConfig) -> dict[str, Any]:
    values = _form_values()
    values["data"] = {**values.get("data", {}), **{name: getattr(config, name) for name in _columns()}}
    return values


def _render_estimate(name: str, data: bytes) -> None:
    """About how long the training will take, from the dataset's size and the measured rates, before Start."""
    report = inspection(name, data, _data_config())
    statistics = report.statistics
    if report.problems or "train" not in statistics:
        return
    epochs = int(st.session_state.get(state.TRAIN_EPOCHS) or options.recommended_config().training.num_epochs)
    seconds = options.estimated_seconds(statistics["documents"], statistics["train"], epochs)
    minutes = math.ceil(seconds / 60)
    about = "under a minute" if seconds < 60 else f"about {minutes} minute{'s' if minutes > 1 else ''}"
    st.caption(
        f"Estimated duration: {about} for {statistics['train']:,} documents × {epochs} epochs (measured on a "
        "2-core CPU; early stopping often ends it sooner)."
    )


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
        job = start_job(
            jobs_directory(),
            name,
            upload.name,
            upload.getvalue(),
            _overrides(config),
            checkpoints_directory(),
            replace_existing=bool(st.session_state.get(state.TRAIN_REPLACE)),
        )
    except JmanError as error:
        st.session_state[state.TRAIN_MESSAGE] = ("error", str(error))
        return
    st.session_state[state.TRAIN_JOB] = job.folder
    st.session_state[state.TRAIN_MESSAGE] = ("success", f"Training '{job.name}' started.")
    st.session_state[state.VIEW] = "Train"


# ---- the Train view: confirm, inspect, follow, results, earlier runs -----------------------------


def inspection(name: str, data: bytes, config: DataConfig | None) -> UploadReport:
    """inspect_upload, remembered per file and settings (a large file is read once, not on every rerun)."""
    key = (
        hashlib.sha1(data).hexdigest(),
        name,
        json.dumps(config.__dict__ if config else None, sort_keys=True),
    )
    cache = st.session_state[state.TRAIN_INSPECTION]
    if key not in cache:
        experiment = ExperimentConfig(data=config) if config else None
        while len(cache) >= INSPECTIONS_KEPT:  # the guess, and the settings of the moment in sidebar and view
            cache.pop(next(iter(cache)))
        cache[key] = inspect_upload(name, data, config, experiment)
    return cache[key]


def render_training_view() -> None:
    upload = st.session_state.get(state.TRAIN_FILE)
    job = _watched_job()
    message = st.session_state.get(state.TRAIN_MESSAGE)
    if message and (message[0] == "error" or (job is not None and job.active)):
        (st.success if message[0] == "success" else st.error)(markdown_literal(message[1]))
    if upload is None and job is None:
        st.info(
            "Upload a file of tagged documents under **Train a new model** in the sidebar to train your own "
            "model. CSV, TSV or JSONL with a title, a content and a tags column; the JMAN text format; or a "
            f"zip holding one of them; up to {upload_limit_mb()} MB."
        )
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
    running = active_job(jobs_directory())
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
    choices = [NOT_USED, *report.columns]
    for role, key in (
        ("title", state.TRAIN_TITLE_COLUMN),
        ("content", state.TRAIN_CONTENT_COLUMN),
        ("tags", state.TRAIN_TAGS_COLUMN),
        ("id", state.TRAIN_ID_COLUMN),
    ):
        if st.session_state.get(key) not in choices:
            st.session_state[key] = report.guessed.get(role) or NOT_USED
    if st.session_state.get(state.TRAIN_SEPARATOR) not in SEPARATORS:
        st.session_state[state.TRAIN_SEPARATOR] = report.tag_separator
    columns = st.columns(5)
    columns[0].selectbox("Title column", choices, key=state.TRAIN_TITLE_COLUMN)
    columns[1].selectbox("Content column", choices, key=state.TRAIN_CONTENT_COLUMN)
    columns[2].selectbox("Tags column", choices, key=state.TRAIN_TAGS_COLUMN)
    columns[3].selectbox("Id column (optional)", choices, key=state.TRAIN_ID_COLUMN)
    columns[4].selectbox(
        "Tag separator", list(SEPARATORS), key=state.TRAIN_SEPARATOR, format_func=SEPARATORS.get
    )


def _render_statistics(report: UploadReport) -> None:
    statistics = report.statistics
    minimum = int(st.session_state.get(state.TRAIN_MIN_LABEL_COUNT) or DataConfig().min_label_count)
    cells = st.columns(5)
    cells[0].metric("Documents", f"{statistics['documents']:,}")
    cells[1].metric("Distinct tags", f"{statistics['distinct_tags']:,}")
    cells[2].metric("Tags per document", f"{statistics['mean_tags_per_document']:.2f}")
    cells[3].metric(f"Tags used ≥ {minimum} times", f"{statistics['labels_kept']:,}")
    cells[4].metric(
        "Documents dropped",
        f"{statistics.get('dropped_without_label', statistics['documents_without_kept_label']):,}",
        help="Documents left without any tag that is kept as a label.",
    )
    if "train" in statistics:
        st.caption(
            f"Split: {statistics['train']:,} training, {statistics['validation']:,} validation and "
            f"{statistics['test']:,} test documents; {statistics['labels_for_training']:,} labels."
        )
    if report.label_frequencies:
        frame = pd.DataFrame(
            {"rank": range(1, len(report.label_frequencies) + 1), "documents": report.label_frequencies}
        )
        frame["kept"] = frame["documents"].map(
            lambda count: "kept as a label" if count >= minimum else "too rare"
        )
        chart = (
            alt.Chart(frame)
            .mark_bar()
            .encode(
                x=alt.X("rank:Q", title="tags, most used first"),
                y=alt.Y("documents:Q", title="documents", scale=alt.Scale(type="symlog")),
                color=alt.Color(
                    "kept:N",
                    title=None,
                    scale=alt.Scale(domain=["kept as a label", "too rare"], range=["#8b1e3f", "#bbbbbb"]),
                ),
                tooltip=["rank", "documents"],
            )
            .properties(height=220, title="Label frequency")
        )
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
            text = (
                f"Epoch {status.epoch} of at most {status.num_epochs}, step {status.step} of {status.steps}; "
                f"{_duration(status.elapsed_seconds)} elapsed{left}."
            )
        else:
            text = (
                markdown_literal(f"{status.message[:1].upper()}{status.message[1:]}") + "…"
            )  # before the first step
        st.progress(min(done / total, 1.0), text=text)
        st.button(
            "Cancel training",
            key=state.TRAIN_CANCEL,
            on_click=cancel_job,
            args=(status.folder,),
            help="Stops after the current step; no model is saved.",
        )
    elif status.state == "finished":
        st.success(
            markdown_literal(
                f"Finished ({status.message}). Saved as {status.checkpoint}; it is in the model picker now."
            )
        )
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
    losses["series"] = losses["series"].map(
        {"train_loss": "training loss", "validation_loss": "validation loss"}
    )
    left, right = st.columns(2)
    left.altair_chart(
        alt.Chart(losses)
        .mark_line(point=True)
        .encode(
            x=alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1, format="d")),
            y="loss:Q",
            color="series:N",
            tooltip=["epoch", "series", alt.Tooltip("loss:Q", format=".4f")],
        )
        .properties(height=220, title="Loss"),
        width="stretch",
    )
    right.altair_chart(
        alt.Chart(frame)
        .mark_line(point=True, color="#8b1e3f")
        .encode(
            x=alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("validation_f1:Q", title="validation F1"),
            tooltip=[
                "epoch",
                alt.Tooltip("validation_f1:Q", format=".3f"),
                alt.Tooltip("threshold:Q", format=".2f"),
            ],
        )
        .properties(height=220, title="Validation F1 (at the tuned threshold)"),
        width="stretch",
    )


def _render_log(folder: Path) -> None:
    lines = []
    path = folder / "epochs.jsonl"
    if path.exists():
        for record in (
            json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
        ):
            lines.append(
                f"epoch {record['epoch']}: train loss {record['train_loss']:.4f}, validation loss "
                f"{record['validation_loss']:.4f}, validation F1 {record['validation_f1']:.3f}, "
                f"{record['seconds']:.0f}s{' (best)' if record.get('best') else ''}"
            )
    output = (
        (folder / "log.txt").read_text(encoding="utf-8", errors="replace")
        if (folder / "log.txt").exists()
        else ""
    )
    with st.expander("Log"):
        st.code(
            "\n".join(lines + ([output[-3000:]] if output.strip() else [])) or "(nothing yet)", language=None
        )


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
            st.caption(
                f"At the paper's threshold 0.5: F1 {100 * at_half['F1']:.1f}, P {100 * at_half['P']:.1f}, "
                f"R {100 * at_half['R']:.1f}. Micro-F1 {100 * test['Micro-F1']:.1f}, "
                f"Macro-F1 {100 * test['Macro-F1']:.1f}."
            )
    _render_baseline(status)
    if status.per_label:
        st.markdown("**The most frequent labels**")
        frame = pd.DataFrame(status.per_label).rename(columns={"support": "test documents"})
        st.dataframe(
            frame.style.format({"P": "{:.2f}", "R": "{:.2f}", "F1": "{:.2f}"}),
            hide_index=True,
            width="stretch",
        )
    if status.checkpoint and st.button(
        f"Annotate with '{markdown_literal(status.name)}'",
        key=state.TRAIN_USE_MODEL,
        type="primary",
        on_click=_use_model,
        args=(status.checkpoint,),
    ):
        # The button sits in the job panel's fragment, and a click reruns only the fragment: the callback has
        # set the model and the view, and only a whole-app rerun redraws the picker and the view radio.
        st.rerun(scope="app")


def _render_baseline(status: JobStatus) -> None:
    """The new model beside the project's linear SVM baseline on the same test part (as `jman train` prints
    it), said plainly when it does not beat it; how the scores were blended; the calibration figures."""
    rows = baseline_rows(status.metrics)
    if not rows:
        return
    st.markdown("**Beside the project's linear SVM baseline** (the same split, test part, %)")
    frame = pd.DataFrame(
        {"model": ["new model", "linear SVM baseline"]}
        | {name: [f"{100 * model:.1f}", f"{100 * baseline:.1f}"] for name, model, baseline in rows}
    )
    st.dataframe(frame, hide_index=True, width="stretch")
    verdict = baseline_verdict(status.metrics)
    (st.success if beats_baseline(status.metrics) else st.warning)(verdict)
    notes = [_blend_text(status.checkpoint), calibration_line(status.metrics)]
    st.caption(" ".join(note for note in notes if note))


def _blend_text(checkpoint: str) -> str:
    """How the saved model's scores are blended (its statistics: the network's weight), or ""."""
    if not checkpoint:
        return ""
    try:
        return blend_summary(read_metadata(checkpoint).statistics)
    except JmanError:
        return ""


def _use_model(folder: str) -> None:
    """Callback: picks the new model (as the picker lists it) and opens the annotate view."""
    target = Path(folder).resolve()
    listed = [
        entry.folder
        for entry in find_checkpoints(checkpoints_directory())
        if entry.folder.resolve() == target
    ]
    st.session_state[state.MODEL_FOLDER] = str(listed[0]) if listed else folder
    st.session_state.pop(state.THRESHOLD, None)  # seeded again from the new model's tuned threshold
    st.session_state[state.VIEW] = "Annotate"


def _render_earlier_runs() -> None:
    jobs = list_jobs(jobs_directory())
    if not jobs:
        return
    rows = [
        {
            "started": job.created.replace("T", " ")[:19],
            "model": job.name,
            "state": job.state,
            "test F1": f"{100 * job.metrics['test']['F1']:.1f}" if job.metrics.get("test") else "",
            "message": job.message,
        }
        for job in jobs
    ]
    with st.expander(f"All training runs on this server ({len(rows)})", expanded=False):
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
