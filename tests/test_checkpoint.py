"""Tests for jman_core.checkpoint: round trip, folder contents, atomic saves, and damaged checkpoints."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import jman_core.checkpoint as checkpoint_module
from jman_core.checkpoint import (
    CARD_FILE,
    FORMAT_NAME,
    METADATA_FILE,
    TOKENIZER_FILE,
    WEIGHTS_FILE,
    load_checkpoint,
    model_card,
    read_metadata,
    save_checkpoint,
)
from jman_core.errors import CheckpointError
from jman_core.predict import Predictor

SAMPLES = [
    ("Bread dough in the oven", "<p>Knead the yeast and butter. Bake with salt.</p>"),
    ("Telescope for a comet", "Observe the nebula in the sky. The lens gathers light."),
    ("Striker scores a penalty", "The defender made a tackle. The coach was angry."),
    ("Python loop bug", "Debug the syntax error in the module."),
]


def leftovers(folder: Path) -> list[str]:
    """Temporary folders that an atomic save must never leave behind."""
    return sorted(path.name for path in folder.iterdir() if ".building-" in path.name or ".old-" in path.name)


def scores_of(predictor: Predictor) -> np.ndarray:
    return np.stack([predictor.predict_proba(title, content) for title, content in SAMPLES])


# ----------------------------------------------------------------------------------------------------
# Round trip and contents


def test_round_trip_gives_same_scores_and_metadata(checkpoint_path, predictor, tmp_path):
    loaded = load_checkpoint(checkpoint_path)
    target = save_checkpoint(tmp_path / "again", loaded.model, loaded.pipeline, loaded.metadata)
    reloaded = Predictor.from_checkpoint(target)

    np.testing.assert_allclose(scores_of(reloaded), scores_of(predictor), atol=1e-6, rtol=0)
    before, after = predictor.metadata, reloaded.metadata
    assert after.labels == before.labels
    assert after.label_counts == before.label_counts
    assert after.threshold == before.threshold
    assert after.model_config == before.model_config
    assert after.text_config == before.text_config
    assert after.data_config == before.data_config
    assert after.training_config == before.training_config
    assert after.metrics == before.metrics
    assert reloaded.pipeline.vocabulary == predictor.pipeline.vocabulary


def test_metadata_describes_the_training_run(trained, predictor):
    metadata = predictor.metadata
    assert len(metadata.labels) == trained.result.statistics["labels"]
    assert len(metadata.labels) == len(metadata.label_counts) == metadata.model_config.num_labels
    assert metadata.label_counts == sorted(metadata.label_counts, reverse=True)
    assert all(count >= 2 for count in metadata.label_counts)  # min_label_count=2
    assert metadata.threshold == pytest.approx(trained.result.threshold)
    assert metadata.model_config.hidden_size == 8 and metadata.model_config.embedding_dim == 8
    assert metadata.model_config.vocabulary_size == predictor.pipeline.vocabulary_size
    # the checkpoint records the regulariser weights in force: 0 for the default JMAN-s
    assert metadata.training_config == replace(trained.config.training, lambda_sim=0.0, lambda_sub=0.0)
    assert metadata.data_source == trained.data_csv.name
    assert len(metadata.data_fingerprint) == 16
    assert metadata.epochs == 2 and 1 <= metadata.best_epoch <= 2
    assert set(metadata.metrics) >= {"validation", "test"}
    assert metadata.name == trained.checkpoint.name and metadata.created


def test_folder_holds_the_documented_files_and_no_pickle(checkpoint_path):
    names = {path.name for path in checkpoint_path.iterdir()}
    assert names == {WEIGHTS_FILE, METADATA_FILE, TOKENIZER_FILE, CARD_FILE, "domain.safetensors"}
    for path in checkpoint_path.iterdir():
        assert path.suffix not in (".pt", ".pth", ".pkl", ".pickle", ".bin")
        head = path.read_bytes()[:2]
        assert head != b"\x80\x04" and head != b"\x80\x02", f"{path.name} looks like a pickle"
        assert not path.read_bytes().startswith(b"PK\x03\x04"), f"{path.name} looks like a torch.save zip"
    document = json.loads((checkpoint_path / METADATA_FILE).read_text(encoding="utf-8"))
    assert document["format"] == FORMAT_NAME
    json.loads((checkpoint_path / TOKENIZER_FILE).read_text(encoding="utf-8"))


def test_weights_load_with_safetensors_alone(checkpoint_path, predictor):
    from safetensors.torch import load_file

    weights = load_file(str(checkpoint_path / WEIGHTS_FILE))
    expected = predictor.model.state_dict()
    assert set(weights) == set(expected)
    for name, tensor in weights.items():
        assert torch.equal(tensor, expected[name].cpu()), name


def test_model_card_matches_metadata(checkpoint_path, predictor):
    card = (checkpoint_path / CARD_FILE).read_text(encoding="utf-8")
    assert card == model_card(predictor.metadata, markdown=True)
    assert card.startswith(f"# {checkpoint_path.name}")
    assert f"Decision threshold: {predictor.threshold:.2f}" in card
    assert predictor.labels[0] in card


def test_read_metadata_accepts_a_file_inside_the_folder(checkpoint_path):
    assert read_metadata(checkpoint_path / METADATA_FILE).labels == read_metadata(checkpoint_path).labels


# ----------------------------------------------------------------------------------------------------
# Damaged or foreign checkpoints


def test_truncated_weights_are_rejected(checkpoint_copy):
    weights = checkpoint_copy / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=r"model\.safetensors is corrupt or truncated"):
        load_checkpoint(checkpoint_copy)


def test_truncated_weights_without_checksum_are_still_a_checkpoint_error(checkpoint_copy):
    """A hand-edited checkpoint.json without the checksum must not let a safetensors error escape."""
    metadata_file = checkpoint_copy / METADATA_FILE
    document = json.loads(metadata_file.read_text(encoding="utf-8"))
    del document["weights_sha256"]
    metadata_file.write_text(json.dumps(document), encoding="utf-8")
    weights = checkpoint_copy / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="could not be loaded"):
        load_checkpoint(checkpoint_copy)


def test_random_bytes_as_weights_with_matching_checksum_are_rejected(checkpoint_copy):
    weights = checkpoint_copy / WEIGHTS_FILE
    weights.write_bytes(np.random.default_rng(0).bytes(4096))
    metadata_file = checkpoint_copy / METADATA_FILE
    document = json.loads(metadata_file.read_text(encoding="utf-8"))
    document["weights_sha256"] = checkpoint_module._sha256(weights)
    metadata_file.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(CheckpointError, match="could not be loaded"):
        load_checkpoint(checkpoint_copy)


def test_invalid_json_metadata_is_rejected(checkpoint_copy):
    metadata_file = checkpoint_copy / METADATA_FILE
    metadata_file.write_text(metadata_file.read_text(encoding="utf-8")[:-40], encoding="utf-8")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(checkpoint_copy)
    with pytest.raises(CheckpointError, match="not valid JSON"):
        read_metadata(checkpoint_copy)


def test_random_bytes_as_metadata_are_rejected(checkpoint_copy):
    (checkpoint_copy / METADATA_FILE).write_bytes(np.random.default_rng(1).bytes(2048))
    with pytest.raises(CheckpointError, match="checkpoint.json is corrupt"):
        load_checkpoint(checkpoint_copy)


def test_foreign_json_without_format_marker_is_rejected(checkpoint_copy):
    metadata_file = checkpoint_copy / METADATA_FILE
    document = json.loads(metadata_file.read_text(encoding="utf-8"))
    del document["format"]
    metadata_file.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(CheckpointError, match="not written by jman_core"):
        load_checkpoint(checkpoint_copy)
    (checkpoint_copy / METADATA_FILE).write_text('{"architectures": ["BertModel"]}', encoding="utf-8")
    with pytest.raises(CheckpointError, match="format marker"):
        read_metadata(checkpoint_copy)


def test_json_array_metadata_is_rejected(checkpoint_copy):
    (checkpoint_copy / METADATA_FILE).write_text("[1, 2, 3]", encoding="utf-8")
    with pytest.raises(CheckpointError, match="format marker"):
        load_checkpoint(checkpoint_copy)


def test_newer_format_version_is_rejected(checkpoint_copy):
    metadata_file = checkpoint_copy / METADATA_FILE
    document = json.loads(metadata_file.read_text(encoding="utf-8"))
    document["format_version"] = 99
    metadata_file.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(CheckpointError, match="Upgrade jman_core"):
        load_checkpoint(checkpoint_copy)


def test_non_numeric_format_version_is_a_checkpoint_error(checkpoint_copy):
    """An edited checkpoint.json with "format_version": "2" must be a CheckpointError, not a TypeError."""
    metadata_file = checkpoint_copy / METADATA_FILE
    document = json.loads(metadata_file.read_text(encoding="utf-8"))
    document["format_version"] = "2"
    metadata_file.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(CheckpointError, match="format"):
        load_checkpoint(checkpoint_copy)


def test_invalid_settings_in_metadata_are_rejected(checkpoint_copy):
    metadata_file = checkpoint_copy / METADATA_FILE
    document = json.loads(metadata_file.read_text(encoding="utf-8"))
    document["model_config"]["variation"] = "JMAN-unknown"
    metadata_file.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(CheckpointError, match="invalid settings"):
        load_checkpoint(checkpoint_copy)


def test_missing_weights_file_is_named(checkpoint_copy):
    (checkpoint_copy / WEIGHTS_FILE).unlink()
    with pytest.raises(CheckpointError, match="model.safetensors is missing"):
        load_checkpoint(checkpoint_copy)


def test_edited_tokenizer_is_rejected(checkpoint_copy):
    tokenizer = checkpoint_copy / TOKENIZER_FILE
    tokenizer.write_text(tokenizer.read_text(encoding="utf-8") + " ", encoding="utf-8")
    with pytest.raises(CheckpointError, match="tokenizer.json is not the tokenizer this model was saved with"):
        load_checkpoint(checkpoint_copy)


def test_missing_folder_is_rejected(tmp_path):
    with pytest.raises(CheckpointError, match="No checkpoint at"):
        load_checkpoint(tmp_path / "does-not-exist")


def test_folder_without_metadata_is_rejected(tmp_path):
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    with pytest.raises(CheckpointError, match="not a JMAN checkpoint"):
        load_checkpoint(tmp_path)


def test_plain_file_is_rejected(tmp_path):
    path = tmp_path / "model.txt"
    path.write_text("not a model", encoding="utf-8")
    with pytest.raises(CheckpointError, match="is a file, not a JMAN checkpoint folder"):
        load_checkpoint(path)


def test_random_bytes_file_is_rejected(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(np.random.default_rng(2).bytes(1024))
    with pytest.raises(CheckpointError, match="is a file"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="is a file"):
        read_metadata(path)


# ----------------------------------------------------------------------------------------------------
# Atomic saves


def test_saving_over_an_existing_checkpoint_replaces_it(checkpoint_path, tmp_path):
    loaded = load_checkpoint(checkpoint_path)
    target = tmp_path / "model"
    save_checkpoint(target, loaded.model, loaded.pipeline, loaded.metadata)
    (target / "stale.txt").write_text("from the previous save", encoding="utf-8")
    loaded.metadata.threshold = 0.37
    save_checkpoint(target, loaded.model, loaded.pipeline, loaded.metadata)

    assert not (target / "stale.txt").exists()
    assert read_metadata(target).threshold == pytest.approx(0.37)
    assert leftovers(tmp_path) == []
    load_checkpoint(target)


def test_failed_save_leaves_previous_checkpoint_intact(checkpoint_path, tmp_path, monkeypatch):
    target = Path(shutil.copytree(checkpoint_path, tmp_path / "model"))
    before = {path.name: path.read_bytes() for path in target.iterdir()}
    loaded = load_checkpoint(target)

    def failing_write(folder, model, pipeline, metadata, domain=None):
        from safetensors.torch import save_file

        save_file({"x": torch.zeros(1)}, str(folder / WEIGHTS_FILE))
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_module, "_write_folder", failing_write)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(target, loaded.model, loaded.pipeline, loaded.metadata)

    assert {path.name: path.read_bytes() for path in target.iterdir()} == before
    assert leftovers(tmp_path) == []
    load_checkpoint(target)


def test_failed_first_save_leaves_nothing(checkpoint_path, tmp_path, monkeypatch):
    loaded = load_checkpoint(checkpoint_path)

    def failing_write(folder, *arguments):
        (folder / WEIGHTS_FILE).write_bytes(b"half")
        raise RuntimeError("boom")

    monkeypatch.setattr(checkpoint_module, "_write_folder", failing_write)
    with pytest.raises(RuntimeError, match="boom"):
        save_checkpoint(tmp_path / "fresh", loaded.model, loaded.pipeline, loaded.metadata)
    assert list(tmp_path.iterdir()) == []


def test_failed_swap_keeps_previous_checkpoint_at_its_path(checkpoint_path, tmp_path, monkeypatch):
    """If moving the new folder into place fails after the old one was moved aside, the old one must
    come back: the docstring promises "either the old checkpoint or the new one"."""
    target = Path(shutil.copytree(checkpoint_path, tmp_path / "model"))
    loaded = load_checkpoint(target)
    real_replace = os.replace
    calls = []

    def flaky_replace(source, destination):
        calls.append((Path(source).name, Path(destination).name))
        if ".building-" in Path(source).name:
            raise OSError("rename failed")
        return real_replace(source, destination)

    monkeypatch.setattr(checkpoint_module.os, "replace", flaky_replace)
    with pytest.raises(OSError, match="rename failed"):
        save_checkpoint(target, loaded.model, loaded.pipeline, loaded.metadata)
    monkeypatch.undo()

    assert calls and ".old-" in calls[0][1]  # the old folder was moved aside first
    assert (target / METADATA_FILE).exists(), "the previous checkpoint is gone from its path"
    load_checkpoint(target)
    assert leftovers(tmp_path) == []


def test_saving_over_a_folder_that_is_not_a_checkpoint_is_refused(checkpoint_path, tmp_path):
    """save_checkpoint moves any existing folder aside and deletes it; a folder of the user's own files
    (a mistyped --output) must be refused, not wiped."""
    loaded = load_checkpoint(checkpoint_path)
    target = tmp_path / "documents"
    target.mkdir()
    (target / "thesis.tex").write_text("years of work", encoding="utf-8")
    with pytest.raises(CheckpointError):
        save_checkpoint(target, loaded.model, loaded.pipeline, loaded.metadata)
    assert (target / "thesis.tex").read_text(encoding="utf-8") == "years of work"
    assert leftovers(tmp_path) == []


def test_saving_over_a_file_is_refused(checkpoint_path, tmp_path):
    loaded = load_checkpoint(checkpoint_path)
    target = tmp_path / "data.csv"
    target.write_text("id,title\n", encoding="utf-8")
    with pytest.raises(CheckpointError):
        save_checkpoint(target, loaded.model, loaded.pipeline, loaded.metadata)
    assert target.read_text(encoding="utf-8") == "id,title\n"
    assert leftovers(tmp_path) == []


def test_a_checkpoint_saved_before_output_bias_init_existed_reads_as_zero(checkpoint_path):
    from jman_core.checkpoint import CheckpointMetadata

    document = json.loads((checkpoint_path / METADATA_FILE).read_text(encoding="utf-8"))
    assert document["training_config"]["output_bias_init"] == "prior"  # what a new model records
    del document["training_config"]["output_bias_init"]
    assert CheckpointMetadata.from_json(document).training_config.output_bias_init == "zero"



def test_a_linear_part_saved_before_linear_content_words_existed_reads_what_the_network_reads(checkpoint_path):
    from jman_core.checkpoint import CheckpointMetadata

    document = json.loads((checkpoint_path / METADATA_FILE).read_text(encoding="utf-8"))
    assert document["model_config"]["linear_content_words"] == 1000  # what a new model records
    del document["model_config"]["linear_content_words"]
    document["model_config"]["linear_part"] = True
    assert CheckpointMetadata.from_json(document).model_config.linear_content_words == 0


class _Killed(BaseException):
    """Stands for SIGKILL: once raised, every later file operation of the save fails too (the process is gone)."""


def _kill_at(monkeypatch, step: int) -> list[str]:
    """Makes the save 'die' at its `step`-th rename or delete (0-based); returns the operations seen."""
    real_replace, real_rmtree = os.replace, shutil.rmtree
    seen: list[str] = []

    def operation(name, real):
        def run(*arguments, **options):
            seen.append(name)
            if len(seen) > step:
                raise _Killed(name)
            return real(*arguments, **options)
        return run

    monkeypatch.setattr(checkpoint_module.os, "replace", operation("replace", real_replace))
    monkeypatch.setattr(checkpoint_module.shutil, "rmtree", operation("rmtree", real_rmtree))
    return seen


@pytest.mark.parametrize("step", range(0, 4))
def test_save_killed_at_every_step_is_completed_or_rolled_back(checkpoint_path, tmp_path, monkeypatch, step):
    """Fault injection, not timing: the k-th rename or delete of a replacing save 'kills' the process. The
    next load finds a whole checkpoint at the path (old or new), and the next save leaves no leftovers."""
    target = Path(shutil.copytree(checkpoint_path, tmp_path / "model"))
    loaded = load_checkpoint(target)
    old_value = float(next(iter(loaded.model.parameters())).detach().flatten()[0])
    with torch.no_grad():
        next(iter(loaded.model.parameters())).flatten()[0] = old_value + 1.0
    seen = _kill_at(monkeypatch, step)
    try:
        save_checkpoint(target, loaded.model, loaded.pipeline, loaded.metadata)
        killed = False
    except _Killed:
        killed = True
    monkeypatch.undo()
    assert killed == (step < 3), seen  # a replacing save has three operations: two renames and one delete

    value = float(next(iter(load_checkpoint(target).model.parameters())).detach().flatten()[0])
    # killed before the new folder moved in: the old one; after: the new one (completed, not lost)
    assert value == pytest.approx(old_value if step == 0 else old_value + 1.0)
    save_checkpoint(target, loaded.model, loaded.pipeline, loaded.metadata)
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".model.") and not path.name.endswith(".lock")] == []


def test_save_killed_while_writing_leaves_the_old_checkpoint_and_the_next_save_cleans_up(checkpoint_path, tmp_path, monkeypatch):
    target = Path(shutil.copytree(checkpoint_path, tmp_path / "model"))
    loaded = load_checkpoint(target)

    def dying_write(folder, *arguments):
        (folder / WEIGHTS_FILE).write_bytes(b"half")
        raise _Killed("write")

    monkeypatch.setattr(checkpoint_module, "_write_folder", dying_write)
    monkeypatch.setattr(checkpoint_module.shutil, "rmtree", lambda *arguments, **options: None)  # dead: no cleanup
    with pytest.raises(_Killed):
        save_checkpoint(target, loaded.model, loaded.pipeline, loaded.metadata)
    monkeypatch.undo()
    assert any(".building-" in path.name for path in tmp_path.iterdir())
    load_checkpoint(target)  # the old one, untouched
    save_checkpoint(target, loaded.model, loaded.pipeline, loaded.metadata)
    assert not any(".building-" in path.name for path in tmp_path.iterdir())


def test_model_card_shows_user_text_as_text_in_markdown(predictor):
    from dataclasses import replace as replaced

    metadata = replaced(predictor.metadata, name="![x](http://host/x.png)",
                        labels=["![tag](http://host/t.png)", *predictor.metadata.labels[1:]])
    card = model_card(metadata, markdown=True)
    assert "](http" not in card and "![" not in card
    assert "# \\!\\[x\\]" in card
    assert model_card(metadata).startswith("# ![x](http://host/x.png)")  # the terminal gets it unchanged
