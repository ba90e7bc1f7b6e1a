"""Tests for jman_core.cli: help, train, info, predict, evaluate, and one-line errors (run in-process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from jman_core.checkpoint import METADATA_FILE, load_checkpoint, read_metadata
from jman_core.cli import main
from jman_core.config import CALIBRATIONS

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
TITLE = "Bread dough in the oven"
CONTENT = "<p>Knead the yeast and butter. Bake with salt.</p>"


def tiny_train_arguments(data: Path, output: Path, cache_dir: Path) -> list[str]:
    return [
        "train",
        "--data",
        str(data),
        "--output",
        str(output),
        "--hidden_size",
        "8",
        "--embedding_dim",
        "8",
        "--num_epochs",
        "1",
        "--min_label_count",
        "2",
        "--min_word_frequency",
        "1",
        "--cache_dir",
        str(cache_dir),
        "--word2vec_epochs",
        "2",
        "--device",
        "cpu",
        "--quiet",
    ]


def assert_one_line_error(code: int, captured, *fragments: str) -> str:
    """Exit code 2, nothing on stdout, and exactly one `error:` line on stderr that names the problem."""
    assert code == 2
    assert "Traceback" not in captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# ----------------------------------------------------------------------------------------------------
# Help


def test_main_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("train", "evaluate", "predict", "info", "recalibrate"):
        assert command in out
    assert "add-linear-part" not in out


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "train" in capsys.readouterr().out


def test_train_help_lists_the_flags(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for flag in (
        "--variations",
        "--kfold",
        "--early_stop_lr",
        "--learning_rate",
        "--num_epochs",
        "--data",
        "--output",
        "--min_label_count",
        "--cache_dir",
        "--resume",
        "--head",
        "--set",
        "--no-linear",
        "--linear_content_words",
        "--calibration",
        "--no-normalise_tags",
        "--keep_tags_as_is",
    ):
        assert flag in out, flag
    assert "0.01" in out  # the paper's learning rate is shown as the default


@pytest.mark.parametrize("command", ["evaluate", "predict", "info", "recalibrate"])
def test_command_help(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "checkpoint" in capsys.readouterr().out


def test_module_entry_point_help():
    environment = {
        **os.environ,
        "PYTHONPATH": str(REPOSITORY_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    completed = subprocess.run(
        [sys.executable, "-m", "jman_core", "--help"],
        cwd=REPOSITORY_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert "predict" in completed.stdout and "train" in completed.stdout


def test_argparse_errors_exit_2_with_a_pointer_to_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train"])  # --data is required
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and "--data" in err and "--help" in err and "Traceback" not in err


# ----------------------------------------------------------------------------------------------------
# train


def test_train_writes_a_checkpoint(capsys, data_csv, cache_dir, tmp_path):
    output = tmp_path / "checkpoints" / "cli-model"
    log = tmp_path / "train.jsonl"
    code = main(tiny_train_arguments(data_csv, output, cache_dir) + ["--log", str(log)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Traceback" not in captured.err
    assert f"Saved {output}" in captured.out
    assert "| part |" in captured.out  # the metrics table
    assert "epoch 1:" in captured.err

    loaded = load_checkpoint(output)
    assert loaded.metadata.model_config.hidden_size == 8
    assert loaded.metadata.model_config.embedding_dim == 8
    assert loaded.metadata.training_config.num_epochs == 1
    assert loaded.metadata.data_config.min_label_count == 2
    assert loaded.metadata.epochs == 1
    assert len(log.read_text(encoding="utf-8").splitlines()) == 1
    assert not any(".building-" in path.name or ".old-" in path.name for path in output.parent.iterdir())

    assert main(["info", str(output)]) == 0
    card = capsys.readouterr().out
    assert card.startswith("# cli-model")


def test_heads_and_their_options_reach_the_checkpoint_and_no_linear_leaves_the_network_alone(
    capsys, data_csv, cache_dir, tmp_path
):
    output = tmp_path / "heads"
    arguments = tiny_train_arguments(data_csv, output, cache_dir) + [
        "--head",
        "lexical_path",
        "--head",
        "label_mentions",
        "--head",
        "label_attention",
        "--set",
        "model.heads.label_mentions.name_words=3",
        "--no-linear",
    ]
    code = main(arguments)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    loaded = load_checkpoint(output)
    assert loaded.metadata.model_config.heads == {
        "lexical_path": {},
        "label_mentions": {"name_words": 3},
        "label_attention": {},
    }
    assert set(loaded.model.heads) >= {"lexical_path", "label_mentions", "label_attention"}
    assert loaded.model.heads["label_mentions"].name_word_ids.shape[1] == 3
    assert not loaded.metadata.linear_config.enabled and loaded.linear is None
    assert loaded.blend.components == ["network"]
    assert "linear SVM baseline" in captured.out  # the baseline is fitted and reported even when not blended
    assert main(["info", str(output)]) == 0
    card = capsys.readouterr().out
    assert "label mentions head" in card and "label attention head" in card and "lexical path head" in card
    assert "linear.enabled = off" in card  # the settings that differ from the defaults


def test_training_blends_the_svm_by_default_and_prints_the_model_beside_the_baseline(
    capsys, data_csv, cache_dir, tmp_path
):
    output = tmp_path / "wide"
    code = main(tiny_train_arguments(data_csv, output, cache_dir) + ["--linear_content_words", "300"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    loaded = load_checkpoint(output)
    linear, statistics = loaded.metadata.linear_config, loaded.metadata.statistics
    assert linear.enabled and linear.content_words == 300 and loaded.linear is not None
    assert set(loaded.blend.components) == {"network", "linear"}
    assert loaded.blend.network_weight() == pytest.approx(statistics["network_weight"])
    metrics = loaded.metadata.metrics
    assert {"baseline_svm_test", "baseline_svm_validation", "calibration_test"} <= set(metrics)
    summary = captured.out
    assert "Scores: " in summary and "x the linear SVM" in summary or "the network alone" in summary
    assert "| new model |" in summary and "| linear SVM baseline |" in summary
    row = next(line for line in summary.splitlines() if line.startswith("| linear SVM baseline |"))
    assert row.split("|")[2].strip() == f"{100 * metrics['baseline_svm_test']['P@1']:.1f}"
    assert "beat the linear SVM baseline" in summary
    assert "ECE" in summary and "tags per document score above 0.2" in summary
    assert "Fitting the linear SVM" in captured.err
    assert main(["info", str(output)]) == 0
    card = capsys.readouterr().out
    assert "blended with a linear SVM over" in card and "linear.content_words = 300" in card
    assert "The project's linear SVM baseline on the same split" in card


def test_the_summary_says_plainly_when_the_model_does_not_beat_the_baseline(capsys, tmp_path):
    from types import SimpleNamespace

    from jman_core.cli import _report_training

    metrics = {
        "test": {"P@1": 0.70, "nDCG@3": 0.65, "F1": 0.50},
        "baseline_svm_test": {"P@1": 0.72, "nDCG@3": 0.60, "F1": 0.55},
        "calibration_test": {
            "ece_network_raw": 0.2,
            "ece_network_calibrated": 0.05,
            "ece_final": 0.05,
            "tags_above_0.2": 2.5,
            "true_tags_per_document": 1.5,
        },
    }
    statistics = {
        "train": 10,
        "validation": 2,
        "test": 2,
        "labels": 3,
        "dropped_without_label": 0,
        "network_weight": 0.4,
        "linear_features": 1234,
        "calibration": "isotonic",
    }
    result = SimpleNamespace(
        stopped_because="done", statistics=statistics, metrics=metrics, checkpoint=tmp_path, threshold=0.3
    )
    _report_training(results=[result], output=tmp_path)
    out = capsys.readouterr().out
    verdict = next(line for line in out.splitlines() if "beat the linear SVM baseline" in line)
    assert (
        "does NOT beat" in verdict
        and "P@1 70.0 against 72.0" in verdict
        and "F1 50.0 against 55.0" in verdict
    )
    assert "nDCG@3" not in verdict  # the model is ahead there
    assert (
        "| new model | 70.0 | 65.0 | 50.0 |" in out and "| linear SVM baseline | 72.0 | 60.0 | 55.0 |" in out
    )
    assert "0.40 x the network + 0.60 x the linear SVM over 1,234 words and word pairs" in out
    assert "the network 0.200 before, 0.050 after calibration" in out and "2.50 tags per document" in out


def test_keep_tags_as_is_still_keeps_the_tags(capsys, data_csv, cache_dir, tmp_path):
    code = main(
        tiny_train_arguments(data_csv, tmp_path / "kept", cache_dir) + ["--keep_tags_as_is", "--no-linear"]
    )
    assert code == 0, capsys.readouterr().err
    assert read_metadata(tmp_path / "kept").data_config.normalise_tags is False


def test_recalibrate_keeps_the_network_refits_the_svm_and_refuses_other_data(
    capsys, checkpoint_copy, data_csv, tmp_path, monkeypatch
):
    monkeypatch.setattr("jman_core.domain.MIN_CONFIDENCE_LEVELS", 1)
    before = load_checkpoint(checkpoint_copy)
    other_method = next(m for m in CALIBRATIONS if m != before.metadata.training_config.calibration)
    output = tmp_path / "recalibrated"
    code = main(
        [
            "recalibrate",
            str(checkpoint_copy),
            "--data",
            str(data_csv),
            "--output",
            str(output),
            "--calibration",
            other_method,
            "--linear_per_label",
            "20",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert f"Saved {output}" in captured.out and "| linear SVM baseline |" in captured.out
    after = load_checkpoint(output)
    assert torch.equal(after.model.embedding.weight, before.model.embedding.weight)  # the network is kept
    assert after.metadata.training_config.calibration == other_method
    assert {calibrator.method for calibrator in after.blend.calibrators.values()} == {other_method}
    assert after.metadata.linear_config.enabled and after.metadata.linear_config.per_label == 20
    assert after.metadata.threshold == pytest.approx(after.metadata.metrics["validation"]["threshold"])
    assert after.metadata.data_fingerprint == before.metadata.data_fingerprint
    # the domain statistic is fitted again: its confidence signal must read the new blend's scores
    assert after.domain is not None and "vocabulary" in after.domain.validation_
    assert after.metadata.statistics["domain_check"]["threshold"] == pytest.approx(after.domain.threshold_)
    confidence = after.domain.validation_["confidence"]  # kept for this test even if nearly all alike
    assert len(confidence) == len(after.domain.validation_["similarity"])
    assert not np.allclose(confidence, 0.999), "the old isotonic blend's best scores, all at its ceiling"
    assert main(["recalibrate", str(checkpoint_copy), "--data", str(data_csv), "--no-linear"]) == 0
    capsys.readouterr()
    assert load_checkpoint(checkpoint_copy).blend.components == ["network"]  # in place, the SVM left out
    other = tmp_path / "other.csv"
    other.write_text(data_csv.read_text(encoding="utf-8").replace("Bread", "Brioche", 1), encoding="utf-8")
    code = main(["recalibrate", str(checkpoint_copy), "--data", str(other), "--output", str(tmp_path / "x")])
    assert_one_line_error(code, capsys.readouterr(), "not the data this model was trained on")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    "flags, fragments",
    [
        (["--set", "training.learning_rte=0.1"], ["--set training.learning_rte=0.1", "learning_rate"]),
        (["--set", "model.heads.label_mentions.name_words=many"], ["name_words must be int"]),
        (["--head", "bogus"], ["--head bogus", "label_mentions"]),
        (["--num_epochs", "ten"], ["--num_epochs ten", "int"]),
        (["--calibration", "magic"], ["--calibration magic", "isotonic"]),
    ],
)
def test_bad_options_are_one_line_before_any_training(
    capsys, data_csv, cache_dir, tmp_path, flags, fragments
):
    code = main(tiny_train_arguments(data_csv, tmp_path / "out", cache_dir) + flags)
    assert_one_line_error(code, capsys.readouterr(), *fragments)
    assert not (tmp_path / "out").exists()


def test_train_does_not_delete_a_folder_that_is_not_a_checkpoint(capsys, data_csv, cache_dir, tmp_path):
    """--output naming a folder of the user's own files must not wipe it (save_checkpoint swaps it out
    and removes it recursively)."""
    output = tmp_path / "my-project"
    output.mkdir()
    (output / "thesis.tex").write_text("years of work", encoding="utf-8")
    code = main(tiny_train_arguments(data_csv, output, cache_dir))
    captured = capsys.readouterr()
    assert (output / "thesis.tex").exists(), "training deleted the user's folder given as --output"
    assert code == 2 and "error:" in captured.err


# ----------------------------------------------------------------------------------------------------
# info, predict, evaluate


def test_info_prints_the_model_card(capsys, checkpoint_path):
    assert main(["info", str(checkpoint_path)]) == 0
    out = capsys.readouterr().out
    from jman_core.checkpoint import model_card, read_metadata

    metadata = read_metadata(checkpoint_path)
    assert out == model_card(metadata), "the terminal gets the card as plain text"
    assert (checkpoint_path / "MODEL_CARD.md").read_text(encoding="utf-8") == model_card(
        metadata, markdown=True
    )
    assert "Decision threshold" in out


def test_info_json_prints_the_metadata(capsys, checkpoint_path):
    assert main(["info", str(checkpoint_path), "--json"]) == 0
    metadata = json.loads(capsys.readouterr().out)
    assert metadata["labels"] == read_metadata(checkpoint_path).labels
    assert metadata["model_config"]["hidden_size"] == 8


def test_predict_prints_tags_and_scores(capsys, checkpoint_path, predictor):
    assert main(["predict", str(checkpoint_path), "--title", TITLE, "--content", CONTENT]) == 0
    records = json_lines(capsys.readouterr().out)
    assert len(records) == 1
    record = records[0]
    assert {"tags", "scores", "threshold"} <= set(record)
    expected = predictor.predict(TITLE, CONTENT)
    assert record["tags"] == expected.selected
    assert record["threshold"] == pytest.approx(predictor.threshold)
    assert [entry["label"] for entry in record["scores"]] == [tag.label for tag in expected.tags][
        : len(record["scores"])
    ]
    scores = [entry["score"] for entry in record["scores"]]
    assert scores == sorted(scores, reverse=True)
    assert all(entry["selected"] == (entry["label"] in record["tags"]) for entry in record["scores"])


def test_predict_top_k_and_threshold(capsys, checkpoint_path):
    assert main(["predict", str(checkpoint_path), "--title", TITLE, "--threshold", "0", "--top_k", "2"]) == 0
    record = json_lines(capsys.readouterr().out)[0]
    assert len(record["tags"]) == 2
    assert record["tags"] == [entry["label"] for entry in record["scores"][:2]]


def test_predict_input_file_prints_one_line_per_document(capsys, checkpoint_path, tmp_path, predictor):
    documents = [
        {"id": "a1", "title": TITLE, "content": CONTENT},
        {"id": "b2", "title": "Telescope for a comet", "content": "Observe the nebula."},
        {"id": "c3", "title": "", "content": "机器学习 是 什么。"},
    ]
    path = tmp_path / "documents.jsonl"
    path.write_text(
        "\n".join(json.dumps(document, ensure_ascii=False) for document in documents) + "\n", encoding="utf-8"
    )
    assert main(["predict", str(checkpoint_path), "--input", str(path)]) == 0
    records = json_lines(capsys.readouterr().out)
    assert [record["id"] for record in records] == ["a1", "b2", "c3"]
    for record, document in zip(records, documents):
        assert record["tags"] == predictor.predict(document["title"], document["content"]).selected
        assert record["scores"]


def test_predict_explain_includes_attention(capsys, checkpoint_path):
    assert main(["predict", str(checkpoint_path), "--title", TITLE, "--content", CONTENT, "--explain"]) == 0
    record = json_lines(capsys.readouterr().out)[0]
    for key in (
        "tags",
        "scores",
        "title_word_attention",
        "sentence_word_attention",
        "original_sentence_attention",
        "title_guided_sentence_attention",
        "title",
        "sentences",
        "warnings",
    ):
        assert key in record, key
    read_title = [token for token in record["title"]["tokens"] if token["read"]]
    assert len(record["title_word_attention"]) == len(read_title)
    assert sum(record["title_word_attention"]) == pytest.approx(1.0, abs=1e-5)
    read_sentences = [sentence for sentence in record["sentences"] if sentence["read"]]
    assert len(record["sentence_word_attention"]) == len(read_sentences) == 2
    assert sum(record["original_sentence_attention"]) == pytest.approx(1.0, abs=1e-5)
    for token in read_title:
        assert record["title_text"][token["start"] : token["end"]] == token["text"]


def test_evaluate_json_prints_the_metrics(capsys, checkpoint_path, data_csv):
    assert main(["evaluate", str(checkpoint_path), "--data", str(data_csv), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["documents"] > 0
    for key in ("H", "A", "P", "R", "F1", "P@1"):
        assert key in report["metrics"] and key in report["metrics_at_0.5"]
        assert report["metrics"][key] >= 0
    for key in ("A", "P", "R", "F1", "P@1"):
        assert report["metrics"][key] <= 1
    assert report["threshold"] == pytest.approx(read_metadata(checkpoint_path).threshold)


def test_evaluate_table(capsys, checkpoint_path, data_csv):
    assert main(["evaluate", str(checkpoint_path), "--data", str(data_csv), "--part", "all"]) == 0
    out = capsys.readouterr().out
    assert "| part |" in out and "at 0.50" in out


# ----------------------------------------------------------------------------------------------------
# Errors: code 2, one line, no traceback


def test_missing_data_file(capsys, tmp_path, cache_dir):
    missing = tmp_path / "missing.csv"
    code = main(tiny_train_arguments(missing, tmp_path / "out", cache_dir))
    assert_one_line_error(code, capsys.readouterr(), "missing.csv", "not found")
    assert not (tmp_path / "out").exists()


def test_missing_data_file_for_evaluate(capsys, checkpoint_path, tmp_path):
    code = main(["evaluate", str(checkpoint_path), "--data", str(tmp_path / "nothing.csv")])
    assert_one_line_error(code, capsys.readouterr(), "nothing.csv")


def test_wrong_column_name(capsys, data_csv, cache_dir, tmp_path):
    code = main(tiny_train_arguments(data_csv, tmp_path / "out", cache_dir) + ["--title_column", "headline"])
    assert_one_line_error(code, capsys.readouterr(), "'headline'", "--title_column")


def test_not_a_checkpoint_folder(capsys, tmp_path):
    (tmp_path / "readme.txt").write_text("hello", encoding="utf-8")
    for arguments in (["info", str(tmp_path)], ["predict", str(tmp_path), "--title", "x"]):
        code = main(arguments)
        assert_one_line_error(code, capsys.readouterr(), "not a JMAN checkpoint")


def test_missing_checkpoint(capsys, tmp_path):
    code = main(["predict", str(tmp_path / "nowhere"), "--title", "x"])
    assert_one_line_error(code, capsys.readouterr(), "No checkpoint at")


def test_corrupt_checkpoint(capsys, checkpoint_copy):
    metadata = checkpoint_copy / METADATA_FILE
    metadata.write_text(metadata.read_text(encoding="utf-8")[:50], encoding="utf-8")
    code = main(["info", str(checkpoint_copy)])
    assert_one_line_error(code, capsys.readouterr(), "not valid JSON")


def test_unknown_variation(capsys, data_csv, cache_dir, tmp_path):
    code = main(tiny_train_arguments(data_csv, tmp_path / "out", cache_dir) + ["--variations", "JMAN-bogus"])
    line = assert_one_line_error(code, capsys.readouterr(), "JMAN-bogus")
    assert "JMAN-s" in line  # the message lists the valid choices


def test_empty_document_for_predict(capsys, checkpoint_path):
    code = main(["predict", str(checkpoint_path), "--title", "", "--content", "  "])
    assert_one_line_error(code, capsys.readouterr(), "empty")


def test_bad_config_file(capsys, data_csv, cache_dir, tmp_path):
    config = tmp_path / "config.json"
    config.write_text('{"training": {"learning_rate": "fast"}}', encoding="utf-8")
    code = main(tiny_train_arguments(data_csv, tmp_path / "out", cache_dir) + ["--config", str(config)])
    assert_one_line_error(code, capsys.readouterr(), "learning_rate")


def test_torchrun_trains_with_two_processes(data_csv, cache_dir, tmp_path):
    """DistributedDataParallel over gloo: two CPU processes train one model and only the first saves it."""
    import os
    import subprocess
    import sys

    output = tmp_path / "ddp-model"
    environment = dict(os.environ, OMP_NUM_THREADS="1")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "jman_core",
            "train",
            "--data",
            str(data_csv),
            "--output",
            str(output),
            "--num_epochs",
            "1",
            "--min_label_count",
            "2",
            "--hidden_size",
            "8",
            "--embedding_dim",
            "8",
            "--min_word_frequency",
            "1",
            "--cache_dir",
            str(cache_dir),
            "--device",
            "cpu",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert (output / "checkpoint.json").exists()
    assert completed.stdout.count("Saved ") == 1  # only rank 0 reports and saves
