"""Tests for jman_core.cli: help, train, info, predict, evaluate, and one-line errors (run in-process)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from safetensors.torch import save_file

from jman_core.checkpoint import METADATA_FILE, load_checkpoint, read_metadata
from jman_core.errors import CheckpointError
from jman_core.cli import main
from jman_core.predict import Predictor

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
TITLE = "Bread dough in the oven"
CONTENT = "<p>Knead the yeast and butter. Bake with salt.</p>"


def tiny_train_arguments(data: Path, output: Path, cache_dir: Path) -> list[str]:
    return ["train", "--data", str(data), "--output", str(output), "--hidden_size", "8", "--embedding_dim", "8",
            "--num_epochs", "1", "--min_label_count", "2", "--min_word_frequency", "1", "--cache_dir", str(cache_dir),
            "--word2vec_epochs", "2", "--device", "cpu", "--quiet"]


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
    for command in ("train", "evaluate", "predict", "info"):
        assert command in out


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "train" in capsys.readouterr().out


def test_train_help_lists_the_flags(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--variations", "--kfold", "--early_stop_lr", "--learning_rate", "--num_epochs", "--data",
                 "--output", "--min_label_count", "--cache_dir", "--resume"):
        assert flag in out, flag
    assert "0.01" in out  # the paper's learning rate is shown as the default


@pytest.mark.parametrize("command", ["evaluate", "predict", "info"])
def test_command_help(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "checkpoint" in capsys.readouterr().out


def test_module_entry_point_help():
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    completed = subprocess.run([sys.executable, "-m", "jman_core", "--help"], cwd=REPOSITORY_ROOT, env=environment,
                               capture_output=True, text=True, timeout=60)
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


def train_with_switch(capsys, data_csv, cache_dir, output, switch: str, weights_of, card_text: str,
                      title: str = TITLE) -> Predictor:
    """Trains 2 epochs with `--switch`, checks the checkpoint keeps the part (`weights_of(model)`, trained away
    from its zero start), that prediction uses it and that the model card names it; returns a Predictor whose
    part has been zeroed."""
    code = main(tiny_train_arguments(data_csv, output, cache_dir) + [f"--{switch}", "--num_epochs", "2"])
    assert code == 0, capsys.readouterr().err
    loaded = load_checkpoint(output)
    assert getattr(loaded.metadata.model_config, switch)
    assert weights_of(loaded.model).abs().sum() > 0  # trained away from its zero start
    predictor = Predictor.from_checkpoint(output)
    with torch.no_grad():
        with_part = predictor.predict_proba(title, CONTENT)
        weights_of(predictor.model).zero_()
        assert not np.allclose(with_part, predictor.predict_proba(title, CONTENT))  # the saved part is used
    assert main(["info", str(output)]) == 0
    assert card_text in capsys.readouterr().out
    return predictor


def test_lexical_path_flag_trains_a_model_whose_checkpoint_keeps_it(capsys, data_csv, cache_dir, tmp_path):
    train_with_switch(capsys, data_csv, cache_dir, tmp_path / "lexical", "lexical_path",
                      lambda model: model.lexical_path.word_scores.weight, "lexical path")


def test_label_mentions_flag_keeps_the_tag_names_and_their_learned_weights(capsys, work_dir, cache_dir, tmp_path):
    from conftest import make_rows, write_csv

    rows = make_rows()
    for row in rows[::2]:
        row["title"] = f"{row['tags'].split()[0]} {row['title']}"  # the topic tag named in half of the titles
    data = write_csv(tmp_path / "named.csv", rows)
    predictor = train_with_switch(capsys, data, cache_dir, tmp_path / "mentions", "label_mentions",
                                  lambda model: model.label_mentions.shared_weights, "tag-name matching",
                                  title=f"cooking {TITLE}")
    names = predictor.model.label_mentions.name_word_ids  # (L, M), saved in the checkpoint
    cooking = predictor.labels.index("cooking")
    assert [predictor.pipeline.id_to_word[index] for index in names[cooking] if index] == ["cooking"]
    assert load_checkpoint(tmp_path / "mentions").model.label_mentions.label_weights.abs().sum() > 0


def test_linear_part_flag_fits_the_svm_after_training_and_saves_the_blend(capsys, data_csv, cache_dir, tmp_path):
    output = tmp_path / "wide"
    code = main(tiny_train_arguments(data_csv, output, cache_dir) + ["--linear_part", "--linear_content_words", "300",
                                                                     "--num_epochs", "2"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Fitting the linear part" in captured.err and "Linear part: " in captured.out
    loaded = load_checkpoint(output)
    config, statistics, part = loaded.metadata.model_config, loaded.metadata.statistics, loaded.model.linear_part
    assert config.linear_part and config.linear_features == len(part.feature_keys) == statistics["linear_part_features"]
    assert float(part.network_weight) == pytest.approx(statistics["linear_part_network_weight"])
    assert part.label_weights.abs().sum() > 0
    predictor = Predictor.from_checkpoint(output)
    blended = predictor.predict_proba(TITLE, CONTENT)
    with torch.no_grad():
        predictor.model.linear_part.network_weight.fill_(1.0)  # the network alone
        network_only = predictor.predict_proba(TITLE, CONTENT)
        predictor.model.linear_part.network_weight.fill_(0.0)  # the SVM alone
        svm_only = predictor.predict_proba(TITLE, CONTENT)
        predictor.model.linear_part.label_weights.zero_()
        assert not np.allclose(svm_only, predictor.predict_proba(TITLE, CONTENT))  # the saved weights are used
    weight = statistics["linear_part_network_weight"]
    assert np.allclose(blended, weight * network_only + (1 - weight) * svm_only, atol=1e-5)
    assert config.linear_content_words == 300
    fresh = Predictor.from_checkpoint(output)
    with torch.no_grad():
        fresh.model.linear_part.network_weight.fill_(0.0)
        filler = " ".join(f"Sentence {number} says little." for number in range(12))  # past the 10 sentences read
        late = fresh.predict_proba("A question", f"{filler} Bake the bread dough with yeast and flour.")
        early = fresh.predict_proba("A question", filler)
    assert not np.allclose(late, early)  # the SVM read the words after the network's limit
    assert main(["info", str(output)]) == 0
    assert "blended with a linear SVM over" in capsys.readouterr().out


def test_add_linear_part_blends_a_trained_checkpoint_in_place_and_refuses_other_data(capsys, checkpoint_copy, data_csv, tmp_path):
    before = load_checkpoint(checkpoint_copy)
    assert before.model.linear_part is None
    assert main(["add-linear-part", str(checkpoint_copy), "--data", str(data_csv)]) == 0
    assert "Linear part: " in capsys.readouterr().out
    after = load_checkpoint(checkpoint_copy)
    assert after.metadata.model_config.linear_features == len(after.model.linear_part.feature_keys) > 0
    assert torch.equal(after.model.embedding.weight, before.model.embedding.weight)  # the network is not retrained
    assert after.metadata.threshold == pytest.approx(after.metadata.metrics["validation"]["threshold"])
    assert after.metadata.metrics["test"] != before.metadata.metrics["test"]  # recomputed for the blend
    assert after.metadata.data_fingerprint == before.metadata.data_fingerprint
    other = tmp_path / "other.csv"
    other.write_text(data_csv.read_text(encoding="utf-8").replace("Bread", "Brioche", 1), encoding="utf-8")
    code = main(["add-linear-part", str(checkpoint_copy), "--data", str(other), "--output", str(tmp_path / "blended")])
    assert_one_line_error(code, capsys.readouterr(), "not the data this model was trained on")
    assert not (tmp_path / "blended").exists()
    damaged = {key: value.clone() for key, value in after.model.state_dict().items()}
    damaged["linear_part.feature_keys"] = damaged["linear_part.feature_keys"].flip(0)
    save_file(damaged, str(checkpoint_copy / "model.safetensors"))
    document = json.loads((checkpoint_copy / METADATA_FILE).read_text(encoding="utf-8"))
    document["weights_sha256"] = hashlib.sha256((checkpoint_copy / "model.safetensors").read_bytes()).hexdigest()
    (checkpoint_copy / METADATA_FILE).write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(CheckpointError, match="damaged linear part"):
        load_checkpoint(checkpoint_copy)


def test_label_attention_flag_round_trips_and_predicts_with_every_tag_attention(capsys, data_csv, cache_dir, tmp_path):
    predictor = train_with_switch(capsys, data_csv, cache_dir, tmp_path / "label-attention", "label_attention",
                                  lambda model: model.label_attention.output_weights, "label-wise attention")
    label = predictor.labels[0]
    evidence = predictor.tag_evidence(TITLE, CONTENT, label)  # the tag's own attention, aligned with the words read
    explanation = predictor.explain(TITLE, CONTENT)
    assert len(evidence.title_word_attention) == len(explanation.title_word_attention)
    assert [len(row) for row in evidence.sentence_word_attention] == [len(row) for row in explanation.sentence_word_attention]
    total = sum(evidence.title_word_attention) + sum(map(sum, evidence.sentence_word_attention))
    assert total == pytest.approx(1.0, abs=1e-5)  # nothing left on padding


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
    assert (checkpoint_path / "MODEL_CARD.md").read_text(encoding="utf-8") == model_card(metadata, markdown=True)
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
    assert [entry["label"] for entry in record["scores"]] == [tag.label for tag in expected.tags][:len(record["scores"])]
    scores = [entry["score"] for entry in record["scores"]]
    assert scores == sorted(scores, reverse=True)
    assert all(entry["selected"] == (entry["label"] in record["tags"]) for entry in record["scores"])


def test_predict_top_k_and_threshold(capsys, checkpoint_path):
    assert main(["predict", str(checkpoint_path), "--title", TITLE, "--threshold", "0", "--top_k", "2"]) == 0
    record = json_lines(capsys.readouterr().out)[0]
    assert len(record["tags"]) == 2
    assert record["tags"] == [entry["label"] for entry in record["scores"][:2]]


def test_predict_input_file_prints_one_line_per_document(capsys, checkpoint_path, tmp_path, predictor):
    documents = [{"id": "a1", "title": TITLE, "content": CONTENT},
                 {"id": "b2", "title": "Telescope for a comet", "content": "Observe the nebula."},
                 {"id": "c3", "title": "", "content": "机器学习 是 什么。"}]
    path = tmp_path / "documents.jsonl"
    path.write_text("\n".join(json.dumps(document, ensure_ascii=False) for document in documents) + "\n",
                    encoding="utf-8")
    assert main(["predict", str(checkpoint_path), "--input", str(path)]) == 0
    records = json_lines(capsys.readouterr().out)
    assert [record["id"] for record in records] == ["a1", "b2", "c3"]
    for record, document in zip(records, documents):
        assert record["tags"] == predictor.predict(document["title"], document["content"]).selected
        assert record["scores"]


def test_predict_explain_includes_attention(capsys, checkpoint_path):
    assert main(["predict", str(checkpoint_path), "--title", TITLE, "--content", CONTENT, "--explain"]) == 0
    record = json_lines(capsys.readouterr().out)[0]
    for key in ("tags", "scores", "title_word_attention", "sentence_word_attention", "original_sentence_attention",
                "title_guided_sentence_attention", "title", "sentences", "warnings"):
        assert key in record, key
    read_title = [token for token in record["title"]["tokens"] if token["read"]]
    assert len(record["title_word_attention"]) == len(read_title)
    assert sum(record["title_word_attention"]) == pytest.approx(1.0, abs=1e-5)
    read_sentences = [sentence for sentence in record["sentences"] if sentence["read"]]
    assert len(record["sentence_word_attention"]) == len(read_sentences) == 2
    assert sum(record["original_sentence_attention"]) == pytest.approx(1.0, abs=1e-5)
    for token in read_title:
        assert record["title_text"][token["start"]:token["end"]] == token["text"]


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
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "jman_core", "train", "--data", str(data_csv), "--output", str(output), "--num_epochs", "1",
         "--min_label_count", "2", "--hidden_size", "8", "--embedding_dim", "8", "--min_word_frequency", "1",
         "--cache_dir", str(cache_dir), "--device", "cpu", "--quiet"],
        capture_output=True, text=True, timeout=300, env=environment)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert (output / "checkpoint.json").exists()
    assert completed.stdout.count("Saved ") == 1  # only rank 0 reports and saves
