"""Training from the sidebar, driven with AppTest and real worker processes on a small dataset made here."""

from __future__ import annotations

import csv
import io
import os
import re
import signal
import sys
import time
from pathlib import Path

import pytest

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
if str(REPOSITORY_ROOT) not in sys.path:
    sys.path.insert(0, str(REPOSITORY_ROOT))

from conftest import make_rows  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from app import state  # noqa: E402
from app.components.training import COLUMN_KEYS  # noqa: E402
from jman_core import options  # noqa: E402
from jman_core.checkpoint import beats_baseline, read_metadata  # noqa: E402
from jman_core.config import SEMANTIC_LAMBDAS  # noqa: E402
from jman_core.jobs import list_jobs  # noqa: E402
from jman_core.model import HEADS  # noqa: E402

APP_FILE = str(REPOSITORY_ROOT / "app" / "streamlit_app.py")


def dataset_bytes(rows=None) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["id", "title", "content", "tags"])
    writer.writeheader()
    writer.writerows(rows if rows is not None else make_rows(160))
    return buffer.getvalue().encode("utf-8")


@pytest.fixture
def places(tmp_path, monkeypatch):
    checkpoints, jobs = tmp_path / "checkpoints", tmp_path / "jobs"
    checkpoints.mkdir()
    monkeypatch.setenv("JMAN_CHECKPOINTS_DIR", str(checkpoints))
    monkeypatch.setenv("JMAN_JOBS_DIR", str(jobs))
    monkeypatch.setenv("JMAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the worker inherits it: tiny models, busy two-core machine
    yield checkpoints, jobs
    for job in list_jobs(jobs):  # never leave a worker behind
        if job.active and job.pid:
            try:
                os.killpg(job.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def open_app() -> AppTest:
    app = AppTest.from_file(APP_FILE, default_timeout=60)
    app.run()
    assert not app.exception
    return app


def upload(app: AppTest, name: str, data: bytes) -> AppTest:
    app.file_uploader(key=state.TRAIN_FILE).set_value((name, data, "text/csv")).run()
    assert not app.exception, app.exception
    return app


def texts(app: AppTest) -> str:
    """Every message on the page as the reader sees it (user text is escaped in the Markdown source)."""
    parts = [
        element.value
        for kind in ("error", "warning", "success", "info", "caption", "markdown")
        for element in getattr(app, kind)
    ]
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", "\n".join(str(part) for part in parts))


def wait_for_job(app: AppTest, jobs: Path, predicate, timeout: float = 150.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statuses = list_jobs(jobs)
        if statuses and predicate(statuses[0]):
            app.run()
            assert not app.exception, app.exception
            return statuses[0]
        time.sleep(0.5)
    raise AssertionError(f"job did not get there: {list_jobs(jobs)}")


def start(app: AppTest, name: str, epochs: int, heads: tuple[str, ...] = (), linear: bool = True) -> AppTest:
    app.text_input(key=state.TRAIN_NAME).set_value(name)
    app.multiselect(key=state.TRAIN_HEADS).set_value(list(heads))
    app.checkbox(key=state.TRAIN_LINEAR).set_value(linear)
    app.number_input(key=state.TRAIN_EPOCHS).set_value(epochs)
    app.number_input(key=state.TRAIN_MIN_LABEL_COUNT).set_value(2)
    app.run()
    app.button(key=state.TRAIN_START).click().run()
    assert not app.exception, app.exception
    return app


def widget_keys(app: AppTest) -> set[str]:
    kinds = ("checkbox", "toggle", "number_input", "selectbox", "multiselect", "text_input", "slider")
    return {element.key for kind in kinds for element in app.get(kind) if element.key}


def test_the_form_offers_every_declared_training_option_from_its_declaration(places):
    app = open_app()
    keys = widget_keys(app)
    assert state.train_option_key("training.learning_rate") not in keys  # the main options only, at first
    app.toggle(key=state.TRAIN_ALL_SETTINGS).set_value(True).run()
    assert not app.exception, app.exception
    upload(app, "questions.csv", dataset_bytes())  # the columns are confirmed beside the preview
    keys = widget_keys(app)
    for option in options.form_options():
        key = COLUMN_KEYS.get(option.path, state.train_option_key(option.path))
        assert key in keys, option.path
    start_from = options.recommended_config()
    assert app.number_input(key=state.TRAIN_EPOCHS).value == start_from.training.num_epochs
    assert app.selectbox(key=state.TRAIN_VARIATION).value == start_from.model.variation == "JMAN-s"
    assert app.checkbox(key=state.TRAIN_LINEAR).value is True
    early_stop = app.number_input(key=state.train_option_key("training.early_stop_lr"))
    assert early_stop.value == start_from.training.early_stop_lr
    assert options.option_named("training.early_stop_lr").help[1:] in early_stop.help
    assert app.multiselect(key=state.TRAIN_HEADS).options == list(HEADS)
    assert HEADS["label_mentions"].description in app.multiselect(key=state.TRAIN_HEADS).help
    assert app.number_input(key=state.train_option_key("training.lambda_sim")).value == 0  # JMAN-s: none
    app.selectbox(key=state.TRAIN_VARIATION).set_value("JMAN").run()
    assert app.number_input(key=state.train_option_key("training.lambda_sim")).value == pytest.approx(
        SEMANTIC_LAMBDAS["lambda_sim"]
    )


def test_the_estimated_duration_is_shown_before_start(places):
    app = upload(open_app(), "questions.csv", dataset_bytes(make_rows(400)))
    epochs = options.recommended_config().training.num_epochs
    estimate = next(caption.value for caption in app.sidebar.caption if "Estimated duration" in caption.value)
    train = int(re.search(r"for ([\d,]+) documents", estimate).group(1).replace(",", ""))
    assert 250 < train < 400 and f"× {epochs} epochs (measured on a 2-core CPU" in estimate
    seconds = options.estimated_seconds(400, train, epochs)
    assert ("under a minute" in estimate) == (seconds < 60)
    app.number_input(key=state.TRAIN_EPOCHS).set_value(epochs * 50).run()
    longer = next(caption.value for caption in app.sidebar.caption if "Estimated duration" in caption.value)
    assert f"× {epochs * 50} epochs" in longer and re.search(r"about \d+ minutes", longer)
    assert list_jobs(places[1]) == []  # nothing started


def test_upload_shows_columns_preview_and_statistics(places):
    app = upload(open_app(), "questions.csv", dataset_bytes())
    assert app.radio(key=state.VIEW).value == "Train"
    assert app.selectbox(key=state.TRAIN_TAGS_COLUMN).value == "tags"
    assert app.selectbox(key=state.TRAIN_SEPARATOR).value == " "
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics["Documents"] == "160" and "Distinct tags" in metrics
    assert len(app.dataframe) >= 1 and app.get("vega_lite_chart")  # preview table and frequency chart
    assert app.text_input(key=state.TRAIN_NAME).value == "questions"


def test_train_from_the_sidebar_then_annotate_with_the_new_model(places):
    checkpoints, jobs = places
    app = start(
        upload(open_app(), "questions.csv", dataset_bytes()),
        "sidebar-model",
        2,
        heads=("label_attention", "label_mentions"),
    )
    assert "started" in texts(app)
    status = wait_for_job(app, jobs, lambda job: not job.active)
    assert status.state == "finished", status.message
    assert (checkpoints / "sidebar-model" / "checkpoint.json").exists()
    assert "Finished" in texts(app) and "most frequent labels" in texts(app)
    metrics = read_metadata(checkpoints / "sidebar-model").metrics
    summary = texts(app)  # the new model beside the linear SVM baseline, as `jman train` prints it
    assert "Beside the project's linear SVM baseline" in summary and "beat the linear SVM baseline" in summary
    assert ("does NOT beat" in summary) == (not beats_baseline(metrics))
    assert (
        "x the linear SVM" in summary and "ECE" in summary and "tags per document score above 0.2" in summary
    )
    table = next(frame.value for frame in app.dataframe if "model" in frame.value.columns)
    assert list(table["model"]) == ["new model", "linear SVM baseline"]
    assert table["P@1"][1] == f"{100 * metrics['baseline_svm_test']['P@1']:.1f}"
    assert any(option.endswith("sidebar-model") for option in app.selectbox(key=state.MODEL_FOLDER).options)
    app.button(key=state.TRAIN_USE_MODEL).click().run()
    assert app.radio(key=state.VIEW).value == "Annotate"
    assert app.selectbox(key=state.MODEL_FOLDER).value.endswith("sidebar-model")
    app.text_input(key=state.TITLE).set_value("Bread oven recipe?")
    app.text_area(key=state.CONTENT).set_value("Knead the dough with yeast. Bake the bread.")
    app.button(key=state.PREDICT).click().run()
    assert not app.exception
    assert app.session_state[state.RESULT] is not None
    assert app.session_state[state.RESULT].explanation.prediction.tags
    metadata = read_metadata(checkpoints / "sidebar-model")
    assert set(metadata.model_config.heads) == {
        "label_attention",
        "label_mentions",
    }  # the form reached the model
    assert metadata.linear_config.enabled and metadata.statistics["linear_features"] > 0
    assert metadata.training_config.early_stop_lr == options.recommended_config().training.early_stop_lr
    assert any("Score of" in element.value for element in app.markdown)  # the blend is explained
    assert any("tag-name matching" in element.value for element in app.markdown)  # what the tag's name added
    assert any("looked" in element.value for element in app.markdown)  # the tag's own attention is drawn
    assert len(app.get("plotly_chart")) >= 3  # attention, evidence and the tag's attention


def test_cancel_stops_the_process_and_leaves_no_model(places):
    checkpoints, jobs = places
    # 1,500 documents, so that early stopping cannot end the run before the click even on a busy machine
    app = start(upload(open_app(), "questions.csv", dataset_bytes(make_rows(1500))), "cancelled-model", 200)
    wait_for_job(app, jobs, lambda job: job.state == "running" and job.epoch >= 1)
    assert app.button(key=state.TRAIN_START).disabled  # one training at a time
    second_tab = open_app()
    assert second_tab.button(key=state.TRAIN_START).disabled
    app.button(key=state.TRAIN_CANCEL).click().run()
    status = wait_for_job(app, jobs, lambda job: not job.active)
    assert status.state == "cancelled"
    assert not (checkpoints / "cancelled-model").exists()
    assert "Cancelled" in texts(app)


def test_a_killed_training_is_reported_and_leaves_no_checkpoint(places):
    checkpoints, jobs = places
    app = start(upload(open_app(), "questions.csv", dataset_bytes()), "killed-model", 200)
    running = wait_for_job(app, jobs, lambda job: job.state == "running" and job.epoch >= 1)
    os.killpg(running.pid, signal.SIGKILL)
    status = wait_for_job(app, jobs, lambda job: not job.active)
    assert status.state == "died"
    assert "died" in texts(app) and "no model was saved" in texts(app)
    assert not (checkpoints / "killed-model").exists()


BAD_FILES = {
    "not UTF-8": ("latin.csv", "title,content,tags\nCaf\xe9,Cr\xe8me,dessert\n".encode("latin-1"), "UTF-8"),
    "a picture named .csv": ("photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "UTF-8"),
    "no tags column": ("notags.csv", b"title,content\nA,B\nC,D\n", "no column 'tags'"),
    "too few documents": ("tiny.csv", b"title,content,tags\nA,B,x\nC,D,x\n", "validation"),
    "JMAN text without labels": ("docs.txt", b"a title __abstract__ some words\n", "__label__"),
    "empty file": ("empty.csv", b"", "no"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_files_give_a_message_and_training_does_not_start(places, case):
    name, data, expected = BAD_FILES[case]
    app = upload(open_app(), name, data)
    assert expected in texts(app), texts(app)
    app.button(key=state.TRAIN_START).click().run()
    assert not app.exception
    assert "Not started" in texts(app) or "error" in texts(app).lower()
    assert list_jobs(places[1]) == []


def test_rows_without_tags_or_text_are_reported_by_line(places):
    rows = make_rows(160)
    rows[4]["tags"] = ""
    rows[9]["title"], rows[9]["content"] = "", ""
    app = upload(open_app(), "gaps.csv", dataset_bytes(rows))
    report = texts(app)
    assert "1 document without tags" in report and "line 6" in report
    assert "neither title nor content" in report and "line 11" in report


def test_a_bad_model_name_is_refused(places):
    app = start(upload(open_app(), "questions.csv", dataset_bytes()), "../outside", 1)
    assert "cannot be a folder name" in texts(app)
    assert list_jobs(places[1]) == []
