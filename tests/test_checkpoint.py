"""Tests for jman_core.checkpoint: round trip, folder contents, atomic saves, damaged checkpoints, and the
first format still read. Most run on the dummy checkpoint (random weights, the SVM, a blend: conftest); the
metadata of a training run is checked on the session's trained model."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import jman_core.checkpoint as checkpoint_module
from jman_core.blend import LINEAR, NETWORK
from jman_core.checkpoint import (
    CARD_FILE,
    FORMAT_NAME,
    METADATA_FILE,
    TOKENIZER_FILE,
    WEIGHTS_FILE,
    CheckpointMetadata,
    load_checkpoint,
    model_card,
    read_metadata,
    save_checkpoint,
)
from jman_core.config import LinearConfig
from jman_core.errors import CheckpointError
from jman_core.linear import LINEAR_FILE
from jman_core.predict import Predictor

REPOSITORY = Path(__file__).resolve().parent.parent
# A tiny model saved by the code before the components refactor (format 1: the lexical path and tag-name
# heads as attributes of the network, the linear part's buffers inside model.safetensors).
FORMAT_1 = REPOSITORY / "tests" / "data" / "format1-tiny"

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


def save_again(target: Path, loaded) -> Path:
    """Saves a loaded checkpoint with every part it has."""
    return save_checkpoint(
        target, loaded.model, loaded.pipeline, loaded.metadata, loaded.domain, loaded.linear
    )


def edit_document(folder: Path, change) -> None:
    metadata_file = folder / METADATA_FILE
    document = json.loads(metadata_file.read_text(encoding="utf-8"))
    change(document)
    metadata_file.write_text(json.dumps(document), encoding="utf-8")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------------------------------
# Round trip and contents


def test_round_trip_gives_same_scores_and_metadata(dummy_checkpoint, dummy_predictor, tmp_path):
    predictor = dummy_predictor
    target = save_again(tmp_path / "again", load_checkpoint(dummy_checkpoint))
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
    assert after.linear_config == before.linear_config and after.blend == before.blend
    assert reloaded.blend.to_json() == predictor.blend.to_json() and reloaded.network_weight == 0.5
    assert reloaded.pipeline.vocabulary == predictor.pipeline.vocabulary
    assert reloaded.domain.summary() == predictor.domain.summary()


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
    assert set(metadata.metrics) >= {"validation", "test", "baseline_svm_test", "calibration_test"}
    assert metadata.name == trained.checkpoint.name and metadata.created
    # the default run blends the network with the word-and-pair SVM, each calibrated on validation
    assert metadata.linear_config.enabled and predictor.linear is not None
    assert set(predictor.blend.weights) == {NETWORK, LINEAR} and metadata.statistics["calibrated"]
    assert metadata.statistics["network_weight"] == predictor.network_weight


def test_folder_holds_the_documented_files_and_no_pickle(dummy_checkpoint):
    checkpoint_path = dummy_checkpoint
    names = {path.name for path in checkpoint_path.iterdir()}
    assert names == {
        WEIGHTS_FILE,
        METADATA_FILE,
        TOKENIZER_FILE,
        CARD_FILE,
        "domain.safetensors",
        LINEAR_FILE,
    }
    for path in checkpoint_path.iterdir():
        assert path.suffix not in (".pt", ".pth", ".pkl", ".pickle", ".bin")
        head = path.read_bytes()[:2]
        assert head != b"\x80\x04" and head != b"\x80\x02", f"{path.name} looks like a pickle"
        assert not path.read_bytes().startswith(b"PK\x03\x04"), f"{path.name} looks like a torch.save zip"
    document = json.loads((checkpoint_path / METADATA_FILE).read_text(encoding="utf-8"))
    assert document["format"] == FORMAT_NAME and document["format_version"] == 2
    assert document["linear_sha256"] == sha256(checkpoint_path / LINEAR_FILE)
    json.loads((checkpoint_path / TOKENIZER_FILE).read_text(encoding="utf-8"))


def test_weights_load_with_safetensors_alone(dummy_checkpoint, dummy_predictor):
    from safetensors.torch import load_file

    weights = load_file(str(dummy_checkpoint / WEIGHTS_FILE))
    expected = dummy_predictor.model.state_dict()
    assert set(weights) == set(expected)
    assert {name.split(".")[1] for name in weights if name.startswith("heads.")} == {
        "classifier",
        "lexical_path",
        "label_mentions",
        "label_attention",
    }
    for name, tensor in weights.items():
        assert torch.equal(tensor, expected[name].cpu()), name
    svm = load_file(str(dummy_checkpoint / LINEAR_FILE))
    assert set(svm) == set(dummy_predictor.linear.to_tensors())
    for name, tensor in svm.items():
        assert torch.equal(tensor, getattr(dummy_predictor.linear, name)), name


def test_model_card_matches_metadata(dummy_checkpoint, dummy_predictor):
    card = (dummy_checkpoint / CARD_FILE).read_text(encoding="utf-8")
    assert card == model_card(dummy_predictor.metadata, markdown=True)
    assert card.startswith(f"# {dummy_checkpoint.name}")
    assert f"Decision threshold: {dummy_predictor.threshold:.2f}" in card
    assert dummy_predictor.labels[0] in card
    scores = next(line for line in card.splitlines() if line.startswith("- Scores: "))
    assert scores.count("0.50 x") == 2 and scores.endswith("each calibrated on validation (platt)")
    assert "with the label attention head" in card and "blended with a linear SVM over" in card


def test_the_trained_models_card_names_the_svm_baseline(checkpoint_path):
    card = (checkpoint_path / CARD_FILE).read_text(encoding="utf-8")
    assert "The project's linear SVM baseline on the same split (test): P@1" in card


def test_read_metadata_accepts_a_file_inside_the_folder(dummy_checkpoint):
    assert read_metadata(dummy_checkpoint / METADATA_FILE).labels == read_metadata(dummy_checkpoint).labels


# ----------------------------------------------------------------------------------------------------
# Damaged or foreign checkpoints


def test_truncated_weights_are_rejected(dummy_checkpoint_copy):
    weights = dummy_checkpoint_copy / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=r"model\.safetensors is corrupt or truncated"):
        load_checkpoint(dummy_checkpoint_copy)


def test_truncated_weights_without_checksum_are_still_a_checkpoint_error(dummy_checkpoint_copy):
    """A hand-edited checkpoint.json without the checksum must not let a safetensors error escape."""
    metadata_file = dummy_checkpoint_copy / METADATA_FILE
    document = json.loads(metadata_file.read_text(encoding="utf-8"))
    del document["weights_sha256"]
    metadata_file.write_text(json.dumps(document), encoding="utf-8")
    weights = dummy_checkpoint_copy / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="could not be loaded"):
        load_checkpoint(dummy_checkpoint_copy)


def test_random_bytes_as_weights_with_matching_checksum_are_rejected(dummy_checkpoint_copy):
    weights = dummy_checkpoint_copy / WEIGHTS_FILE
    weights.write_bytes(np.random.default_rng(0).bytes(4096))
    metadata_file = dummy_checkpoint_copy / METADATA_FILE
    document = json.loads(metadata_file.read_text(encoding="utf-8"))
    document["weights_sha256"] = sha256(weights)
    metadata_file.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(CheckpointError, match="could not be loaded"):
        load_checkpoint(dummy_checkpoint_copy)


def test_invalid_json_metadata_is_rejected(dummy_checkpoint_copy):
    metadata_file = dummy_checkpoint_copy / METADATA_FILE
    metadata_file.write_text(metadata_file.read_text(encoding="utf-8")[:-40], encoding="utf-8")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(dummy_checkpoint_copy)
    with pytest.raises(CheckpointError, match="not valid JSON"):
        read_metadata(dummy_checkpoint_copy)


def test_random_bytes_as_metadata_are_rejected(dummy_checkpoint_copy):
    (dummy_checkpoint_copy / METADATA_FILE).write_bytes(np.random.default_rng(1).bytes(2048))
    with pytest.raises(CheckpointError, match="checkpoint.json is corrupt"):
        load_checkpoint(dummy_checkpoint_copy)


def test_foreign_json_without_format_marker_is_rejected(dummy_checkpoint_copy):
    metadata_file = dummy_checkpoint_copy / METADATA_FILE
    document = json.loads(metadata_file.read_text(encoding="utf-8"))
    del document["format"]
    metadata_file.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(CheckpointError, match="not written by jman_core"):
        load_checkpoint(dummy_checkpoint_copy)
    (dummy_checkpoint_copy / METADATA_FILE).write_text('{"architectures": ["BertModel"]}', encoding="utf-8")
    with pytest.raises(CheckpointError, match="format marker"):
        read_metadata(dummy_checkpoint_copy)


def test_json_array_metadata_is_rejected(dummy_checkpoint_copy):
    (dummy_checkpoint_copy / METADATA_FILE).write_text("[1, 2, 3]", encoding="utf-8")
    with pytest.raises(CheckpointError, match="format marker"):
        load_checkpoint(dummy_checkpoint_copy)


def test_newer_format_version_is_rejected(dummy_checkpoint_copy):
    metadata_file = dummy_checkpoint_copy / METADATA_FILE
    document = json.loads(metadata_file.read_text(encoding="utf-8"))
    document["format_version"] = 99
    metadata_file.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(CheckpointError, match="Upgrade jman_core"):
        load_checkpoint(dummy_checkpoint_copy)


def test_non_numeric_format_version_is_a_checkpoint_error(dummy_checkpoint_copy):
    """An edited checkpoint.json with "format_version": "2" must be a CheckpointError, not a TypeError."""
    metadata_file = dummy_checkpoint_copy / METADATA_FILE
    document = json.loads(metadata_file.read_text(encoding="utf-8"))
    document["format_version"] = "2"
    metadata_file.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(CheckpointError, match="format"):
        load_checkpoint(dummy_checkpoint_copy)


def test_invalid_settings_in_metadata_are_rejected(dummy_checkpoint_copy):
    metadata_file = dummy_checkpoint_copy / METADATA_FILE
    document = json.loads(metadata_file.read_text(encoding="utf-8"))
    document["model_config"]["variation"] = "JMAN-unknown"
    metadata_file.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(CheckpointError, match="invalid settings"):
        load_checkpoint(dummy_checkpoint_copy)


def test_missing_weights_file_is_named(dummy_checkpoint_copy):
    (dummy_checkpoint_copy / WEIGHTS_FILE).unlink()
    with pytest.raises(CheckpointError, match="model.safetensors is missing"):
        load_checkpoint(dummy_checkpoint_copy)


def test_edited_tokenizer_is_rejected(dummy_checkpoint_copy):
    tokenizer = dummy_checkpoint_copy / TOKENIZER_FILE
    tokenizer.write_text(tokenizer.read_text(encoding="utf-8") + " ", encoding="utf-8")
    with pytest.raises(
        CheckpointError, match="tokenizer.json is not the tokenizer this model was saved with"
    ):
        load_checkpoint(dummy_checkpoint_copy)


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
# The SVM and the blend, damaged


def test_a_damaged_svm_file_is_refused_in_one_line(dummy_checkpoint_copy):
    svm = dummy_checkpoint_copy / LINEAR_FILE
    svm.write_bytes(svm.read_bytes()[: svm.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=r"linear\.safetensors is corrupt or truncated") as error:
        load_checkpoint(dummy_checkpoint_copy)
    assert "\n" not in str(error.value)


def test_a_missing_svm_file_is_named(dummy_checkpoint_copy):
    (dummy_checkpoint_copy / LINEAR_FILE).unlink()
    with pytest.raises(CheckpointError, match="is incomplete: linear.safetensors is missing"):
        load_checkpoint(dummy_checkpoint_copy)


def test_an_svm_file_with_unsorted_words_is_refused_even_with_its_checksum(dummy_checkpoint_copy):
    """A file rewritten with its checksum updated is still checked: a damaged SVM would score silently
    wrong."""
    from safetensors.torch import load_file, save_file

    svm = dummy_checkpoint_copy / LINEAR_FILE
    tensors = load_file(str(svm))
    tensors["feature_keys_"] = tensors["feature_keys_"].flip(0).contiguous()
    save_file(tensors, str(svm))
    edit_document(dummy_checkpoint_copy, lambda document: document.update(linear_sha256=sha256(svm)))
    with pytest.raises(CheckpointError, match="linear.safetensors is damaged .*not sorted") as error:
        load_checkpoint(dummy_checkpoint_copy)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda blend: blend["weights"].update(network=0.9), "has an invalid blend .*sum to 1"),
        (lambda blend: blend["calibrators"]["linear"].update(method="magic"), "has an invalid blend"),
        (lambda blend: blend["calibrators"]["network"].update(slope=None), "has an invalid blend"),
        (
            lambda blend: (blend.update(weights={"network": 1.0}), blend["calibrators"].pop("linear")),
            "blend does not match its components .*not blended",
        ),
    ],
    ids=["weights", "method", "slope", "svm left out"],
)
def test_a_damaged_blend_is_refused_in_one_line(dummy_checkpoint_copy, change, message):
    edit_document(dummy_checkpoint_copy, lambda document: change(document["blend"]))
    with pytest.raises(CheckpointError, match=message) as error:
        load_checkpoint(dummy_checkpoint_copy)
    assert "\n" not in str(error.value)


def test_a_blend_naming_an_svm_that_is_not_there_is_refused(dummy_checkpoint_copy):
    def without_svm(document):
        document["linear_config"]["enabled"] = False
        del document["linear_sha256"]

    edit_document(dummy_checkpoint_copy, without_svm)
    (dummy_checkpoint_copy / LINEAR_FILE).unlink()
    with pytest.raises(CheckpointError, match="blend does not match its components .*the SVM is missing"):
        load_checkpoint(dummy_checkpoint_copy)


def test_a_checkpoint_without_an_svm_scores_with_the_network_alone(dummy_checkpoint, tmp_path):
    from dataclasses import replace as replaced

    loaded = load_checkpoint(dummy_checkpoint)
    metadata = replaced(
        loaded.metadata, linear_config=replaced(loaded.metadata.linear_config, enabled=False), blend={}
    )
    target = save_checkpoint(tmp_path / "network", loaded.model, loaded.pipeline, metadata)
    assert not (target / LINEAR_FILE).exists()
    predictor = Predictor.from_checkpoint(target)
    assert (
        predictor.linear is None and predictor.blend.components == [NETWORK] and predictor.network_weight == 1
    )
    logits = predictor.component_scores(SAMPLES)[NETWORK]
    np.testing.assert_allclose(scores_of(predictor), 1 / (1 + np.exp(-logits)), atol=1e-6)


# ----------------------------------------------------------------------------------------------------
# The first format (the SVM's buffers inside the network) is still read


# The scores of tests/data/format1-tiny computed by the code that saved it (before the refactor), for
# FORMAT_1_SAMPLES: the blend (network weight 0 there) and the network alone (its weight set to 1).
FORMAT_1_SAMPLES = SAMPLES[1:2] + SAMPLES[0:1] + SAMPLES[3:4]
FORMAT_1_BLENDED = np.array(
    """
0.750211 0.392356 0.387    0.379424 0.32429  0.318512 0.318703 0.40911  0.294628 0.309738 0.4444   0.282665
0.395073 0.392356 0.387    0.740806 0.394201 0.316183 0.310058 0.319784 0.29797  0.417902 0.314895 0.28522
0.395073 0.364613 0.740037 0.379424 0.32429  0.318512 0.318703 0.319784 0.346575 0.309738 0.314895 0.269936
    """.split(),
    dtype=float,
).reshape(3, 12)
FORMAT_1_NETWORK = np.array(
    """
0.276997 0.23726  0.242988 0.20839  0.078765 0.076106 0.071813 0.101395 0.063298 0.064274 0.065917 0.026619
0.233652 0.235158 0.236163 0.241036 0.096338 0.072846 0.070043 0.082389 0.060666 0.075366 0.053918 0.026522
0.236841 0.237401 0.293086 0.201566 0.07687  0.075381 0.072387 0.082558 0.072038 0.062488 0.056715 0.029832
    """.split(),
    dtype=float,
).reshape(3, 12)


@pytest.fixture
def format_1_copy(tmp_path) -> Path:
    """A private copy: loading never writes, but a save beside tests/data must not happen either."""
    return Path(shutil.copytree(FORMAT_1, tmp_path / "format1-tiny"))


def test_a_format_1_checkpoint_scores_as_the_code_that_saved_it(format_1_copy):
    assert json.loads((format_1_copy / METADATA_FILE).read_text(encoding="utf-8"))["format_version"] == 1
    predictor = Predictor.from_checkpoint(format_1_copy)
    assert set(predictor.model.config.heads) == {"lexical_path", "label_mentions"}
    assert predictor.linear is not None and predictor.linear.options.content_words == 1000
    assert predictor.blend.weights == {NETWORK: 0.0, LINEAR: 1.0}  # its tuned weight, uncalibrated sigmoids
    assert not predictor.metadata.statistics.get("calibrated")
    np.testing.assert_allclose(predictor.predict_proba_batch(FORMAT_1_SAMPLES), FORMAT_1_BLENDED, atol=2e-6)
    network = predictor.component_scores(FORMAT_1_SAMPLES)[NETWORK]
    np.testing.assert_allclose(1 / (1 + np.exp(-network)), FORMAT_1_NETWORK, atol=2e-6)
    card = model_card(predictor.metadata)
    assert "uncalibrated sigmoids" in card and "jman recalibrate" in card
    assert "The network carries 0% of the scores" in card


def test_a_format_1_checkpoint_saved_again_is_format_2_and_scores_the_same(format_1_copy, tmp_path):
    before = Predictor.from_checkpoint(format_1_copy)
    target = save_again(tmp_path / "converted", load_checkpoint(format_1_copy))
    document = json.loads((target / METADATA_FILE).read_text(encoding="utf-8"))
    assert document["format_version"] == 2 and (target / LINEAR_FILE).exists()
    assert set(document["model_config"]["heads"]) == {"lexical_path", "label_mentions"}
    assert document["linear_config"]["enabled"] and "linear_part" not in document["model_config"]
    after = Predictor.from_checkpoint(target)
    np.testing.assert_array_equal(after.predict_proba_batch(SAMPLES), before.predict_proba_batch(SAMPLES))


def test_format_1_settings_become_heads_and_linear_settings():
    document = json.loads((FORMAT_1 / METADATA_FILE).read_text(encoding="utf-8"))
    metadata = CheckpointMetadata.from_json(document)
    assert metadata.model_config.heads == {"lexical_path": {}, "label_mentions": {}}
    assert metadata.linear_config == LinearConfig(enabled=True, per_label=20, content_words=1000)
    # a linear part saved before linear_content_words existed read what the network reads
    del document["model_config"]["linear_content_words"]
    assert CheckpointMetadata.from_json(document).linear_config.content_words == 0
    # a network saved without a linear part has none
    document["model_config"]["linear_part"] = False
    assert CheckpointMetadata.from_json(document).linear_config.enabled is False
    assert CheckpointMetadata.from_json(document).blend["weights"] == {NETWORK: 1.0}


def test_the_shipped_crypto_model_loads_and_scores():
    predictor = Predictor.from_checkpoint(REPOSITORY / "checkpoints" / "stackexchange-crypto")
    prediction = predictor.predict(
        "Is RSA with a small public exponent secure?",
        "I use RSA with e = 3 and PKCS#1 v1.5 padding. "
        "Can an attacker recover the message with a cube root attack?",
    )
    assert "rsa" in [tag.label for tag in prediction.tags[:3]]
    assert all(0 <= tag.score <= 1 for tag in prediction.tags)
    evidence = predictor.tag_evidence("Is RSA with a small public exponent secure?", "e = 3", "rsa")
    assert sum(part.share for part in evidence.components.values()) == pytest.approx(evidence.score, abs=1e-6)


# ----------------------------------------------------------------------------------------------------
# Atomic saves


def fail_writing_weights(monkeypatch, error: BaseException) -> None:
    """The next safetensors write leaves half a file and raises `error` (a full disk, a killed process)."""

    def half_write(tensors, filename, *arguments, **options):
        Path(filename).write_bytes(b"half")
        raise error

    monkeypatch.setattr("safetensors.torch.save_file", half_write)


def test_saving_over_an_existing_checkpoint_replaces_it(dummy_checkpoint, tmp_path):
    loaded = load_checkpoint(dummy_checkpoint)
    target = save_again(tmp_path / "model", loaded)
    (target / "stale.txt").write_text("from the previous save", encoding="utf-8")
    loaded.metadata.threshold = 0.37
    save_again(target, loaded)

    assert not (target / "stale.txt").exists()
    assert read_metadata(target).threshold == pytest.approx(0.37)
    assert leftovers(tmp_path) == []
    load_checkpoint(target)


def test_failed_save_leaves_previous_checkpoint_intact(dummy_checkpoint, tmp_path, monkeypatch):
    target = Path(shutil.copytree(dummy_checkpoint, tmp_path / "model"))
    before = {path.name: path.read_bytes() for path in target.iterdir()}
    loaded = load_checkpoint(target)

    fail_writing_weights(monkeypatch, OSError("disk full"))
    with pytest.raises(OSError, match="disk full"):
        save_again(target, loaded)

    assert {path.name: path.read_bytes() for path in target.iterdir()} == before
    assert leftovers(tmp_path) == []
    load_checkpoint(target)


def test_failed_first_save_leaves_nothing(dummy_checkpoint, tmp_path, monkeypatch):
    loaded = load_checkpoint(dummy_checkpoint)
    fail_writing_weights(monkeypatch, RuntimeError("boom"))
    with pytest.raises(RuntimeError, match="boom"):
        save_again(tmp_path / "fresh", loaded)
    assert list(tmp_path.iterdir()) == []


def test_failed_swap_keeps_previous_checkpoint_at_its_path(dummy_checkpoint, tmp_path, monkeypatch):
    """If moving the new folder into place fails after the old one was moved aside, the old one must
    come back: the docstring promises "either the old checkpoint or the new one"."""
    target = Path(shutil.copytree(dummy_checkpoint, tmp_path / "model"))
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
        save_again(target, loaded)
    monkeypatch.undo()

    assert calls and ".old-" in calls[0][1]  # the old folder was moved aside first
    assert (target / METADATA_FILE).exists(), "the previous checkpoint is gone from its path"
    load_checkpoint(target)
    assert leftovers(tmp_path) == []


def test_saving_over_a_folder_that_is_not_a_checkpoint_is_refused(dummy_checkpoint, tmp_path):
    """save_checkpoint moves any existing folder aside and deletes it; a folder of the user's own files
    (a mistyped --output) must be refused, not wiped."""
    loaded = load_checkpoint(dummy_checkpoint)
    target = tmp_path / "documents"
    target.mkdir()
    (target / "thesis.tex").write_text("years of work", encoding="utf-8")
    with pytest.raises(CheckpointError):
        save_again(target, loaded)
    assert (target / "thesis.tex").read_text(encoding="utf-8") == "years of work"
    assert leftovers(tmp_path) == []


def test_saving_over_a_file_is_refused(dummy_checkpoint, tmp_path):
    loaded = load_checkpoint(dummy_checkpoint)
    target = tmp_path / "data.csv"
    target.write_text("id,title\n", encoding="utf-8")
    with pytest.raises(CheckpointError):
        save_again(target, loaded)
    assert target.read_text(encoding="utf-8") == "id,title\n"
    assert leftovers(tmp_path) == []


def test_a_checkpoint_saved_before_output_bias_init_existed_reads_as_zero(dummy_checkpoint):
    document = json.loads((dummy_checkpoint / METADATA_FILE).read_text(encoding="utf-8"))
    assert document["training_config"]["output_bias_init"] == "prior"  # what a new model records
    del document["training_config"]["output_bias_init"]
    assert CheckpointMetadata.from_json(document).training_config.output_bias_init == "zero"


class _Killed(BaseException):
    """Stands for SIGKILL: once raised, every later file operation of the save fails too (the process is
    gone)."""


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
def test_save_killed_at_every_step_is_completed_or_rolled_back(dummy_checkpoint, tmp_path, monkeypatch, step):
    """Fault injection, not timing: the k-th rename or delete of a replacing save 'kills' the process. The
    next load finds a whole checkpoint at the path (old or new), and the next save leaves no leftovers."""
    target = Path(shutil.copytree(dummy_checkpoint, tmp_path / "model"))
    loaded = load_checkpoint(target)
    old_value = float(next(iter(loaded.model.parameters())).detach().flatten()[0])
    with torch.no_grad():
        next(iter(loaded.model.parameters())).flatten()[0] = old_value + 1.0
    seen = _kill_at(monkeypatch, step)
    try:
        save_again(target, loaded)
        killed = False
    except _Killed:
        killed = True
    monkeypatch.undo()
    assert killed == (step < 3), seen  # a replacing save has three operations: two renames and one delete

    value = float(next(iter(load_checkpoint(target).model.parameters())).detach().flatten()[0])
    # killed before the new folder moved in: the old one; after: the new one (completed, not lost)
    assert value == pytest.approx(old_value if step == 0 else old_value + 1.0)
    save_again(target, loaded)
    left = [path.name for path in tmp_path.iterdir() if path.name.startswith(".model.")]
    assert [name for name in left if not name.endswith(".lock")] == []


def test_save_killed_while_writing_leaves_the_old_checkpoint_and_the_next_save_cleans_up(
    dummy_checkpoint, tmp_path, monkeypatch
):
    target = Path(shutil.copytree(dummy_checkpoint, tmp_path / "model"))
    loaded = load_checkpoint(target)

    fail_writing_weights(monkeypatch, _Killed("write"))
    monkeypatch.setattr(
        checkpoint_module.shutil, "rmtree", lambda *arguments, **options: None
    )  # dead: no cleanup
    with pytest.raises(_Killed):
        save_again(target, loaded)
    monkeypatch.undo()
    assert any(".building-" in path.name for path in tmp_path.iterdir())
    load_checkpoint(target)  # the old one, untouched
    save_again(target, loaded)
    assert not any(".building-" in path.name for path in tmp_path.iterdir())


def test_model_card_shows_user_text_as_text_in_markdown(dummy_predictor):
    from dataclasses import replace as replaced

    metadata = replaced(
        dummy_predictor.metadata,
        name="![x](http://host/x.png)",
        labels=["![tag](http://host/t.png)", *dummy_predictor.metadata.labels[1:]],
    )
    card = model_card(metadata, markdown=True)
    assert "](http" not in card and "![" not in card
    assert "# \\!\\[x\\]" in card
    assert model_card(metadata).startswith("# ![x](http://host/x.png)")  # the terminal gets it unchanged
