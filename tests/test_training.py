"""Tests for jman_core.training (fit, callbacks, resume, learning-rate schedule) and jman_core.experiment
(prepare_data; train_documents fitting the SVM baseline and the blend)."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import tiny_config

from jman_core.checkpoint import load_checkpoint
from jman_core.config import TrainingConfig
from jman_core.data import Document
from jman_core.errors import ConfigError, DataError
from jman_core.experiment import initial_embeddings, prepare_data, train_documents
from jman_core.losses import LabelSemantics
from jman_core.model import build_model
from jman_core.training import Callbacks, EpochRecord, _make_optimizer, fit

LOSS_FIELDS = ("epoch", "train_loss", "validation_loss", "validation_f1", "threshold", "learning_rate")


@pytest.fixture(scope="module")
def config(cache_dir):
    return tiny_config(cache_dir, embeddings="random")


@pytest.fixture(scope="module")
def prepared(documents, config):
    """Half the synthetic documents: enough for the schedule to show, quick to train on."""
    return prepare_data(documents[:120], config)


@pytest.fixture
def new_model(prepared, config):
    """Builds a fresh tiny JMAN; the same `init_seed` gives the same initial weights."""

    def build(init_seed: int = 0):
        torch.manual_seed(init_seed)
        model_config = replace(
            config.model, vocabulary_size=prepared.pipeline.vocabulary_size, num_labels=len(prepared.labels)
        )
        return build_model(model_config)

    return build


def losses(history: list[EpochRecord]) -> list[tuple]:
    return [tuple(getattr(record, name) for name in LOSS_FIELDS) for record in history]


# ----------------------------------------------------------------------------------------------------
# Callbacks and logs of the session's training run


def test_on_progress_reports_every_step(trained):
    train_documents_count = trained.result.statistics["train"]
    steps = math.ceil(train_documents_count / trained.config.training.batch_size)
    assert len(trained.progress) == 2 * steps
    for epoch in (1, 2):
        reports = [progress for progress in trained.progress if progress.epoch == epoch]
        assert [progress.step for progress in reports] == list(range(1, steps + 1))
        assert all(progress.steps == steps for progress in reports)
    assert all(math.isfinite(progress.loss) and progress.loss > 0 for progress in trained.progress)
    assert trained.progress[0].learning_rate == trained.config.training.learning_rate
    elapsed = [progress.elapsed_seconds for progress in trained.progress]
    assert elapsed == sorted(elapsed) and elapsed[0] >= 0


def test_on_epoch_end_reports_every_epoch(trained):
    records = trained.epochs
    assert [record.epoch for record in records] == [1, 2]
    assert records == trained.result.history
    for record in records:
        assert math.isfinite(record.train_loss) and record.train_loss > 0
        assert math.isfinite(record.validation_loss) and record.validation_loss > 0
        assert 0.0 <= record.validation_f1 <= 1.0
        assert 0.0 < record.threshold < 1.0
        assert record.seconds >= 0 and record.documents_per_second > 0
    assert records[0].best  # the first epoch always beats "nothing yet"
    assert trained.result.stopped_because.startswith("reached the maximum of 2 epochs")


def test_the_run_blends_the_network_with_the_svm_and_reports_the_svm_alone(trained):
    """After the epochs the word-and-pair SVM is fitted (the baseline reported beside the model), each
    component calibrated on validation, and the threshold tuned on the blend: the checkpoint's."""
    result = trained.result
    assert set(result.metrics) >= {
        "validation",
        "test",
        "test_at_0.5",
        "baseline_svm_test",
        "calibration_test",
    }
    assert result.metrics["test"]["threshold"] == result.threshold
    assert 0 <= result.statistics["network_weight"] <= 1 and result.statistics["calibrated"]
    assert result.statistics["linear_features"] > 0
    assert result.metrics["baseline_svm_test"]["P@1"] > 0.5  # four well-separated topics
    calibration = result.metrics["calibration_test"]
    assert calibration["ece_linear_calibrated"] < calibration["ece_linear_raw"]
    assert load_checkpoint(trained.checkpoint).metadata.threshold == result.threshold


def test_without_the_blend_the_checkpoint_has_no_svm_but_the_baseline_is_reported(
    documents, config, tmp_path
):
    no_blend = replace(
        config, linear=replace(config.linear, enabled=False), training=replace(config.training, num_epochs=1)
    )
    result = train_documents(documents[:120], no_blend, tmp_path / "network")
    assert "baseline_svm_test" in result.metrics
    loaded = load_checkpoint(result.checkpoint)
    assert loaded.linear is None and loaded.blend.components == ["network"]
    assert not loaded.metadata.linear_config.enabled


def test_epoch_log_is_one_json_line_per_epoch(trained):
    lines = trained.log_path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    records = [json.loads(line) for line in lines]
    assert [record["epoch"] for record in records] == [1, 2]
    field_names = {field.name for field in dataclasses.fields(EpochRecord)}
    for record, expected in zip(records, trained.result.history):
        assert set(record) == field_names
        assert EpochRecord(**record) == expected


# ----------------------------------------------------------------------------------------------------
# fit


def test_the_threshold_is_tuned_at_the_best_epoch(prepared, config, new_model):
    result = fit(new_model(), prepared.train, prepared.validation, replace(config.training, num_epochs=3))
    best_epoch = max(record.epoch for record in result.history if record.best)
    assert result.best_epoch == best_epoch
    assert result.threshold == pytest.approx(result.history[best_epoch - 1].threshold)


def test_should_stop_ends_training_with_a_best_state(prepared, config, new_model):
    model = new_model()
    requested = []
    callbacks = Callbacks(
        on_epoch_end=lambda record: requested.append(record.epoch), should_stop=lambda: bool(requested)
    )
    result = fit(
        model, prepared.train, prepared.validation, replace(config.training, num_epochs=5), callbacks
    )
    assert len(result.history) == 1
    assert "stopped on request" in result.stopped_because
    assert result.best_epoch == 1
    assert set(result.best_state) == set(model.state_dict())


def test_should_stop_at_once_still_returns_a_model(prepared, config, new_model):
    model = new_model()
    result = fit(
        model,
        prepared.train,
        prepared.validation,
        replace(config.training, num_epochs=5),
        Callbacks(should_stop=lambda: True),
    )
    assert "stopped on request" in result.stopped_because
    assert len(result.history) <= 1
    assert result.best_state is not None and set(result.best_state) == set(model.state_dict())


def test_same_seed_is_reproducible_and_another_seed_differs(prepared, config, new_model):
    training = replace(config.training, num_epochs=2, seed=3)
    first = fit(new_model(), prepared.train, prepared.validation, training)
    second = fit(new_model(), prepared.train, prepared.validation, training)
    other = fit(new_model(), prepared.train, prepared.validation, replace(training, seed=4))
    assert losses(first.history) == losses(second.history)
    for name, tensor in first.best_state.items():
        assert torch.equal(tensor, second.best_state[name]), name
    assert [record.train_loss for record in other.history] != [record.train_loss for record in first.history]


def test_train_documents_is_reproducible(trained, documents):
    again = train_documents(documents, trained.config, output=None)
    assert again.checkpoint is None
    assert losses(again.history) == losses(trained.result.history)
    assert again.threshold == trained.result.threshold


def test_resume_continues_from_the_next_epoch(prepared, config, new_model, tmp_path):
    resume_path = tmp_path / "run.resume.pt"
    one_epoch = fit(
        new_model(),
        prepared.train,
        prepared.validation,
        replace(config.training, num_epochs=1),
        resume_path=resume_path,
    )
    assert resume_path.exists() and len(one_epoch.history) == 1

    seen = []
    resumed = fit(
        new_model(init_seed=99),
        prepared.train,
        prepared.validation,
        replace(config.training, num_epochs=2),
        Callbacks(on_epoch_end=seen.append),
        resume_path=resume_path,
    )
    assert [record.epoch for record in resumed.history] == [1, 2]
    assert resumed.history[0] == one_epoch.history[0]
    assert [record.epoch for record in seen] == [2]  # epoch 1 was not trained again

    straight = fit(new_model(), prepared.train, prepared.validation, replace(config.training, num_epochs=2))
    assert losses(resumed.history) == losses(straight.history)
    assert resumed.best_epoch == straight.best_epoch and resumed.threshold == straight.threshold


def test_resume_of_a_finished_run_trains_nothing(prepared, config, new_model, tmp_path):
    resume_path = tmp_path / "run.resume.pt"
    training = replace(config.training, num_epochs=1)
    first = fit(new_model(), prepared.train, prepared.validation, training, resume_path=resume_path)
    progress = []
    again = fit(
        new_model(),
        prepared.train,
        prepared.validation,
        training,
        Callbacks(on_progress=progress.append),
        resume_path=resume_path,
    )
    assert progress == []
    assert again.history == first.history and again.best_epoch == first.best_epoch


def test_training_stops_early_when_the_learning_rate_falls_below_the_limit(prepared, config, new_model):
    training = replace(config.training, learning_rate=0.01, early_stop_lr=0.02, num_epochs=5)
    result = fit(new_model(), prepared.train, prepared.validation, training)
    assert len(result.history) == 1
    assert result.stopped_because == "early stop: learning rate 0.01 fell below 0.02"


def test_learning_rate_sequence_follows_validation_loss(prepared, config, new_model):
    """With a large learning rate the validation loss bounces; every rise must halve the rate."""
    training = replace(config.training, learning_rate=0.3, lr_decay=0.5, num_epochs=4, early_stop_lr=1e-9)
    steps = []
    history = fit(
        new_model(), prepared.train, prepared.validation, training, Callbacks(on_progress=steps.append)
    ).history
    rates = [record.learning_rate for record in history]
    # the optimizer trained each epoch at the rate its record names
    assert {(step.epoch, step.learning_rate) for step in steps} == {
        (r.epoch, r.learning_rate) for r in history
    }
    assert rates[0] == pytest.approx(0.3)
    assert rates == sorted(rates, reverse=True)
    halvings = 0
    for index in range(1, len(history)):
        rose = index >= 2 and history[index - 1].validation_loss > history[index - 2].validation_loss
        expected = rates[index - 1] * (0.5 if rose else 1.0)
        assert rates[index] == pytest.approx(expected), (index, rates)
        halvings += rose
    assert halvings >= 1, "the scenario never raised the validation loss; pick another learning rate"


# ----------------------------------------------------------------------------------------------------
# prepare_data


def test_prepare_data_drops_and_counts_documents_without_kept_labels(documents, config):
    rare = [
        Document(f"r{n}", f"Rare question {n}", "Some content here.", [f"rare-tag-{n}"]) for n in range(15)
    ]
    mixed = [
        Document(f"m{n}", "Bread oven", "Knead the dough.", ["cooking", f"odd-tag-{n}"]) for n in range(5)
    ]
    prepared = prepare_data(list(documents) + rare + mixed, config)
    statistics = prepared.statistics
    assert statistics["dropped_without_label"] == 15
    assert sum(statistics["dropped_by_part"].values()) == 15
    assert statistics["train"] + statistics["validation"] + statistics["test"] == len(documents) + 5
    assert not any(label.startswith(("rare-tag", "odd-tag")) for label in prepared.labels)
    kept = prepared.split.train + prepared.split.validation + prepared.split.test
    assert all(document.tags and set(document.tags) <= set(prepared.labels) for document in kept)
    assert sum(document.id.startswith("m") for document in kept) == 5
    assert len(prepared.train) == statistics["train"]
    assert prepared.train.labels.shape == (statistics["train"], len(prepared.labels))
    assert np.all(prepared.train.labels.sum(1) >= 1)


def test_label_counts_respect_min_label_count(prepared, config):
    assert len(prepared.labels) == len(prepared.label_counts) == prepared.statistics["labels"]
    assert all(count >= config.data.min_label_count for count in prepared.label_counts)
    assert prepared.label_counts == sorted(prepared.label_counts, reverse=True)


def test_no_label_left_is_a_data_error(documents, config):
    strict = replace(config, data=replace(config.data, min_label_count=10_000))
    with pytest.raises(DataError, match="No tag is used at least 10000 times") as error:
        prepare_data(documents, strict)
    assert "min_label_count" in str(error.value)


def test_freeze_embeddings_keeps_the_word2vec_vectors_and_trains_the_rest(documents, cache_dir, tmp_path):
    frozen = tiny_config(cache_dir, freeze_embeddings=True)
    trained = {}
    for name, config in (
        ("frozen", frozen),
        ("trained", replace(frozen, training=replace(frozen.training, freeze_embeddings=False))),
    ):
        train_documents(documents[:120], config, tmp_path / name)
        trained[name] = load_checkpoint(tmp_path / name)
    prepared_data = prepare_data(documents[:120], frozen)
    model_config = replace(frozen.model, vocabulary_size=prepared_data.pipeline.vocabulary_size)
    initial, _ = initial_embeddings(prepared_data, replace(frozen, model=model_config))
    initial[0] = 0.0
    frozen_weights = trained["frozen"].model.embedding.weight.detach()
    assert torch.allclose(frozen_weights, initial)
    assert not torch.allclose(trained["trained"].model.embedding.weight.detach(), initial)


def test_prior_output_bias_starts_training_from_the_label_frequencies(documents, cache_dir):
    """With a zero bias every score starts at 0.5, so the first epoch's loss is mostly spent learning
    how rare each label is; the prior initialisation starts there."""
    first_epoch_loss = {}
    for choice in ("prior", "zero"):
        config = tiny_config(cache_dir, embeddings="random", num_epochs=1, output_bias_init=choice)
        first_epoch_loss[choice] = train_documents(documents[:120], config, None).history[0].train_loss
    assert first_epoch_loss["prior"] < 0.8 * first_epoch_loss["zero"]


def step_with_zero_gradients(model, training):
    """One optimizer step where every gradient is 0, so only weight decay can move a weight."""
    optimizer = _make_optimizer(model=model, config=training, semantics=LabelSemantics())
    before = {name: parameter.detach().clone() for name, parameter in model.named_parameters()}
    for parameter in model.parameters():
        parameter.grad = torch.zeros_like(parameter)
    optimizer.step()
    return before


def test_adamw_shrinks_weight_matrices_by_learning_rate_times_l2(config, new_model):
    training = replace(config.training, optimizer="adamw", learning_rate=0.01, l2=0.1)
    model = new_model()
    before = step_with_zero_gradients(model, training)
    for name, parameter in model.named_parameters():
        expected = before[name] * (1 - 0.01 * 0.1) if parameter.dim() >= 2 else before[name]
        assert torch.allclose(parameter.detach(), expected, atol=1e-7), name


def test_adam_adds_l2_to_the_gradient_so_a_zero_gradient_still_moves_weights_by_the_step(config, new_model):
    training = replace(config.training, optimizer="adam", learning_rate=0.01, l2=0.1)
    model = new_model()
    before = step_with_zero_gradients(model, training)
    matrix_name, matrix = next((name, p) for name, p in model.named_parameters() if p.dim() >= 2)
    moved = (before[matrix_name] - matrix.detach()).abs()
    nonzero = before[matrix_name] != 0
    # Adam normalises the L2 gradient l2 * w, so each non-zero weight moves by about the learning rate.
    assert torch.allclose(moved[nonzero], torch.full_like(moved[nonzero], 0.01), rtol=1e-3)


def test_unknown_optimizer_is_a_config_error():
    with pytest.raises(ConfigError, match="adamw"):
        TrainingConfig(optimizer="sgd")
