"""Tests for the baselines: HAN and Bi-GRU networks in the framework, and the non-neural ones.

That HAN and Bi-GRU mask their padding and read each document independently of its batch, with every head
they can feed, is checked by the battery in test_components.py."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from conftest import tiny_config

from jman_core.baselines import BASELINES, run_baseline
from jman_core.cli import main
from jman_core.config import ModelConfig
from jman_core.experiment import train_documents
from jman_core.model import build_model
from jman_core.predict import Predictor


def tiny_network(variation: str):
    torch.manual_seed(0)
    return build_model(
        ModelConfig(variation=variation, vocabulary_size=30, num_labels=5, hidden_size=8, embedding_dim=6)
    ).eval()


def batch(title, sentences):
    title = torch.tensor(title)
    sentences = torch.tensor(sentences)
    return title, title != 0, sentences, sentences != 0


def test_han_reads_the_title_as_its_first_sentence():
    network = tiny_network("HAN")
    output = network(*batch([[2, 3, 0]], [[[5, 6, 7], [8, 0, 0]]]))
    assert torch.allclose(output.title_word_attention.sum(-1), torch.ones(1))
    assert output.title_word_attention[0, 2] == 0  # padding
    assert torch.allclose(output.sentence_word_attention.sum(-1), torch.ones(1, 2))
    share = float(output.original_sentence_attention.sum().detach())
    assert 0 < share < 1  # the rest went to the title
    assert output.title_guided_sentence_attention is None


def test_bigru_reads_title_and_content_in_order():
    network = tiny_network("BiGRU")
    forward = network(*batch([[2, 3]], [[[5, 6]]])).logits
    swapped = network(*batch([[5, 6]], [[[2, 3]]])).logits  # the same words in another order
    assert not torch.allclose(forward, swapped)
    assert network(*batch([[2, 3]], [[[5, 6]]])).title_word_attention is None


@pytest.mark.parametrize("variation", ["HAN", "BiGRU"])
def test_neural_baselines_train_save_and_explain(variation, documents, cache_dir, tmp_path):
    config = tiny_config(cache_dir, num_epochs=1)
    config = replace(config, model=replace(config.model, variation=variation))
    result = train_documents(documents, config, tmp_path / variation)
    predictor = Predictor.from_checkpoint(result.checkpoint)
    explanation = predictor.explain("Bread oven recipe?", "Knead the dough. Bake it with butter.")
    assert len(explanation.prediction.tags) == len(predictor.labels)
    assert (explanation.original_sentence_attention is None) == (variation == "BiGRU")


def test_regularisers_apply_to_baseline_networks(documents, cache_dir, tmp_path):
    config = tiny_config(cache_dir, num_epochs=1, lambda_sim=0.01, lambda_sub=0.1)
    config = replace(config, model=replace(config.model, variation="HAN"))
    result = train_documents(documents, config, tmp_path / "han-sem")
    assert "similarity_pairs" in result.statistics and "subsumption" in result.statistics
    assert Predictor.from_checkpoint(result.checkpoint).metadata.training_config.lambda_sub == 0.1


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_every_non_neural_baseline_trains_and_predicts(name, documents, cache_dir, monkeypatch):
    monkeypatch.setenv("JMAN_CACHE_DIR", str(cache_dir))
    result = run_baseline(name, documents, tiny_config(cache_dir))
    test = result.metrics["test"]
    assert set(test) >= {"H", "A", "P", "R", "F1", "P@1", "nDCG@3"}
    assert 0 <= result.threshold <= 1
    # four well-separated topics: every baseline should find the topic tag first most of the time
    assert test["P@1"] > 0.5


def test_a_baseline_uses_the_split_and_labels_of_training(documents, cache_dir):
    from jman_core.experiment import prepare_data

    config = tiny_config(cache_dir)
    baseline = run_baseline("tfidf-lr", documents, config)
    prepared = prepare_data(documents, config)
    for part in ("train", "validation", "test", "labels", "dropped_without_label"):
        assert baseline.statistics[part] == prepared.statistics[part], part


def test_baseline_command_prints_a_table(data_csv, capsys):
    assert main(["baseline", "tfidf-lr", "--data", str(data_csv), "--min_label_count", "2"]) == 0
    output = capsys.readouterr().out
    assert "| test |" in output and "tfidf-lr" in output


def test_unknown_baseline_is_a_clear_error(documents, cache_dir):
    from jman_core.errors import ConfigError

    with pytest.raises(ConfigError, match="tfidf-lr"):
        run_baseline("xgboost", documents, tiny_config(cache_dir))
