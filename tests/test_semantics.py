"""Tests for label semantics: the Sim matrix, the knowledge-base
reader, inferred subsumption, JMAN with regularisers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jman_core.config import ModelConfig, TrainingConfig, build_config, semantic_lambdas
from jman_core.data import Document
from jman_core.errors import DataError
from jman_core.experiment import train_documents
from jman_core.losses import LabelSemantics
from jman_core.predict import Predictor
from jman_core.semantics import (
    infer_subsumption,
    label_similarity,
    read_knowledge_base,
    read_similarity_file,
    similarity_pairs,
)

LABELS = ["bread", "baking", "yeast", "tea"]


def documents_with(tag_sets: list[list[str]]) -> list[Document]:
    return [Document(str(index), "t", "c", tags) for index, tags in enumerate(tag_sets, start=1)]


def test_knowledge_base_two_column_format(tmp_path):
    path = tmp_path / "kb.csv"
    path.write_text("bread,baking\nYeast,Baking\nunknown,tea\n", encoding="utf-8")
    subsumption, report = read_knowledge_base(path, LABELS)
    assert subsumption[0, 1] == 1 and subsumption[2, 1] == 1  # names normalised: "Yeast" -> "yeast"
    assert subsumption.sum() == 2 and report.pairs == 2
    assert report.unmatched_rows == 1  # "unknown" is not a label


def test_knowledge_base_three_column_format_uses_only_true_rows(tmp_path):
    path = tmp_path / "kb.csv"
    path.write_text("bread,baking,true\nyeast,baking,false\ntea,baking,TRUE\n", encoding="utf-8")
    subsumption, report = read_knowledge_base(path, LABELS)
    assert subsumption[0, 1] == 1 and subsumption[3, 1] == 1 and subsumption[2, 1] == 0
    assert report.pairs == 2


def test_knowledge_base_bad_rows_are_skipped_and_reported(tmp_path):
    path = tmp_path / "kb.csv"
    path.write_text("bread,baking\nonly-one-field\nyeast,baking,maybe\n,tea\n", encoding="utf-8")
    subsumption, report = read_knowledge_base(path, LABELS)
    assert report.pairs == 1
    assert [row.split(":")[0] for row in report.skipped_rows] == ["line 2", "line 3", "line 4"]
    assert "true or false" in report.skipped_rows[1]


def test_missing_knowledge_base_names_the_file(tmp_path):
    with pytest.raises(DataError, match="kb.csv"):
        read_knowledge_base(tmp_path / "kb.csv", LABELS)


def test_similarity_file_is_symmetric_with_unit_diagonal_and_normalised_labels(tmp_path):
    path = tmp_path / "sim.csv"
    path.write_text(
        "label,label,similarity\nBread,baking,0.8\nyeast,bread,0.3\nunknown,tea,0.5\n", encoding="utf-8"
    )
    similarity, report = read_similarity_file(path, LABELS)
    assert similarity[0, 1] == similarity[1, 0] == pytest.approx(0.8)
    assert similarity[2, 0] == similarity[0, 2] == pytest.approx(0.3)
    assert np.allclose(np.diag(similarity), 1) and similarity[3, 1] == 0
    # header row is not a problem
    assert report.pairs == 2 and report.unmatched_rows == 1 and report.skipped_rows == []
    thresholded, _ = read_similarity_file(path, LABELS, threshold=0.5)
    assert thresholded[2, 0] == 0 and thresholded[0, 1] == pytest.approx(0.8)


def test_similarity_file_bad_rows_are_skipped_and_reported(tmp_path):
    path = tmp_path / "sim.csv"
    path.write_text("bread,baking,0.8\nbread,tea\nyeast,tea,high\ntea,baking,1.5\n", encoding="utf-8")
    similarity, report = read_similarity_file(path, LABELS)
    assert report.pairs == 1
    assert [row.split(":")[0] for row in report.skipped_rows] == ["line 2", "line 3", "line 4"]
    assert "number" in report.skipped_rows[1] and "between 0 and 1" in report.skipped_rows[2]
    with pytest.raises(DataError, match="similarity_file"):
        read_similarity_file(tmp_path / "missing.csv", LABELS)


def test_inferred_subsumption_rule_on_a_constructed_case():
    # "yeast" appears 6 times, always with "baking" (confidence 1.0, support 6); "baking" is used 10 times.
    # "tea" appears 6 times, with "baking" only twice (confidence 1/3): no pair.
    tag_sets = [["yeast", "baking"]] * 6 + [["baking"]] * 2 + [["tea", "baking"]] * 2 + [["tea"]] * 4
    subsumption, report = infer_subsumption(
        documents_with(tag_sets), LABELS, min_confidence=0.6, min_support=5
    )
    assert subsumption[2, 1] == 1  # yeast -> baking
    assert subsumption[1, 2] == 0  # never parent -> child: "baking" is the more frequent tag
    assert subsumption[3, 1] == 0  # tea -> baking: too few co-occurrences and low confidence
    assert report.pairs == 1


def test_inferred_subsumption_needs_support():
    tag_sets = [["yeast", "baking"]] * 3 + [["baking"]] * 5
    subsumption, _ = infer_subsumption(documents_with(tag_sets), LABELS, min_confidence=0.6, min_support=5)
    assert subsumption.sum() == 0


def test_label_similarity_is_symmetric_in_range_and_sees_co_occurrence():
    tag_sets = (
        [["bread", "baking"]] * 40 + [["yeast", "baking"]] * 40 + [["tea"]] * 40 + [["tea", "yeast"]] * 2
    )
    similarity = label_similarity(documents_with(tag_sets), LABELS, dimension=16, seed=1)
    assert similarity.shape == (4, 4)
    assert np.allclose(similarity, similarity.T, atol=1e-6)
    assert np.all(similarity >= 0) and np.all(similarity <= 1 + 1e-6)
    assert np.allclose(np.diag(similarity), 1)
    assert similarity_pairs(similarity) == np.count_nonzero(similarity) - 4


def test_similarity_threshold_makes_sim_sparser():
    tag_sets = [["bread", "baking"]] * 30 + [["yeast", "baking"]] * 30 + [["tea", "bread"]] * 5
    dense = label_similarity(documents_with(tag_sets), LABELS, dimension=16, seed=1, threshold=0.0)
    sparse = label_similarity(documents_with(tag_sets), LABELS, dimension=16, seed=1, threshold=0.99)
    assert similarity_pairs(sparse) < similarity_pairs(dense)


def test_lambdas_default_by_variation():
    assert semantic_lambdas(ModelConfig(variation="JMAN"), TrainingConfig()) > (0.0, 0.0)
    assert semantic_lambdas(ModelConfig(variation="JMAN-s"), TrainingConfig()) == (0.0, 0.0)
    assert semantic_lambdas(ModelConfig(variation="JMAN-s"), TrainingConfig(lambda_sim=0.5)) == (0.5, 0.0)


def test_dynamic_semantics_are_parameters_and_l2_normalised():
    similarity = torch.tensor([[1.0, 3.0], [3.0, 1.0]])
    fixed = LabelSemantics(similarity, None)
    dynamic = LabelSemantics(similarity, None, dynamic=True, l2_normalise=True)
    assert list(fixed.parameters()) == [] and len(list(dynamic.parameters())) == 1
    normalised, _ = dynamic.matrices()
    assert torch.allclose(normalised.norm(dim=-1), torch.ones(2))


def test_regularised_jman_trains_and_round_trips_through_a_checkpoint(data_csv, tmp_path):
    from jman_core.data import read_documents

    config = build_config(
        None,
        {
            "model": {"variation": "JMAN", "hidden_size": 8, "embedding_dim": 8},
            "training": {
                "num_epochs": 1,
                "batch_size": 32,
                "cache_dir": str(tmp_path / "cache"),
                "word2vec_epochs": 1,
                "dynamic_sem": True,
            },
            "data": {"min_label_count": 2},
            "text": {"min_word_frequency": 1},
        },
    )
    result = train_documents(read_documents(data_csv, config.data), config, tmp_path / "jman")
    assert result.statistics["similarity_pairs"] >= 0 and "subsumption" in result.statistics
    predictor = Predictor.from_checkpoint(tmp_path / "jman")
    assert (
        predictor.metadata.training_config.lambda_sim > 0 and predictor.metadata.training_config.dynamic_sem
    )
    card = (tmp_path / "jman" / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "Dynamic semantics" in card and "lambda_sim" in card
    first = predictor.predict_proba("bread oven", "The dough rose in the oven.")
    again = Predictor.from_checkpoint(tmp_path / "jman").predict_proba(
        "bread oven", "The dough rose in the oven."
    )
    assert np.allclose(first, again, atol=1e-6)


def test_similarity_file_and_knowledge_base_reach_training_and_the_model_card(data_csv, tmp_path):
    from jman_core.data import read_documents

    (tmp_path / "sim.csv").write_text("bread,baking,0.9\n", encoding="utf-8")
    (tmp_path / "kb.csv").write_text("bread,baking\n", encoding="utf-8")
    config = build_config(
        None,
        {
            "model": {"variation": "JMAN", "hidden_size": 8, "embedding_dim": 8},
            "training": {
                "num_epochs": 1,
                "batch_size": 32,
                "cache_dir": str(tmp_path / "cache"),
                "word2vec_epochs": 1,
                "similarity_file": str(tmp_path / "sim.csv"),
                "knowledge_base": str(tmp_path / "kb.csv"),
            },
            "data": {"min_label_count": 2},
            "text": {"min_word_frequency": 1},
        },
    )
    result = train_documents(read_documents(data_csv, config.data), config, tmp_path / "jman")
    assert result.statistics["similarity_source"]["source"] == "sim.csv"
    assert result.statistics["subsumption"]["source"] == "kb.csv"
    assert any(line.startswith("Sub: sparse") for line in result.statistics["semantics_storage"])
    card = (tmp_path / "jman" / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "sim.csv" in card and "kb.csv" in card and "storage during training" in card
