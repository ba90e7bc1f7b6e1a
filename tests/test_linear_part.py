"""Tests for the wide part (model.LinearPart, baselines.fit_linear_part): its features, blend and fitting."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from jman_core.baselines import _vocabulary, fit_linear_part
from jman_core.metrics import tune_threshold
from jman_core.model import LinearPart, build_model
from jman_core.training import predict_scores
from test_model import DOCUMENTS, NUM_LABELS, VOCABULARY_SIZE, make_model, pad_inputs


PUNCTUATION = 29  # a word id the linear part skips, as scikit-learn's tokens skip punctuation


def reader(features: int = 0) -> LinearPart:
    part = LinearPart(VOCABULARY_SIZE, NUM_LABELS, features, 1)
    part.counted_words[2:] = True
    part.counted_words[PUNCTUATION] = False
    return part


def read_keys(documents) -> list[list[int]]:
    keys, valid = reader().read_keys(*pad_inputs(documents))
    return [sorted(row[mask].tolist()) for row, mask in zip(keys, valid)]


def test_keys_count_the_title_twice_then_as_its_own_and_pair_words_adjacent_once_punctuation_is_skipped():
    V = VOCABULARY_SIZE
    title_and_content, padded = read_keys([([2, PUNCTUATION, 3], [[4, 5, PUNCTUATION, 6], [7]]), ([9], [])])
    title = [2 * V, 3 * V, 2 * V + 3]  # the pair 2-3 skips the punctuation between them
    expected = title * 2 + [4 * V, 5 * V, 6 * V, 4 * V + 5, 5 * V + 6, 7 * V] + [key + V * V for key in title]
    assert title_and_content == sorted(expected)  # no pair across title and content, or across sentences (6-7)
    assert padded == sorted([9 * V, 9 * V, 9 * V + V * V])  # padding reads as nothing


def test_content_ids_replace_the_sentences_so_the_part_reads_past_the_networks_limits():
    V = VOCABULARY_SIZE
    inputs = pad_inputs([([2], [[4, 5], [6]])])
    content = torch.tensor([[4, 5, 6, 7, 8, 0, 0]])  # the whole content, sentences aside, 0-padded
    keys, valid = reader().read_keys(*inputs, content)
    read = sorted(keys[0][valid[0]].tolist())
    assert read == sorted([2 * V] * 2 + [2 * V + V * V] + [4 * V, 5 * V, 6 * V, 7 * V, 8 * V,
                                                           4 * V + 5, 5 * V + 6, 6 * V + 7, 7 * V + 8])


def sklearn_rows(documents) -> list[list[str]]:
    """The same words and pairs as strings, for scikit-learn's TfidfVectorizer."""
    return [[f"{key // VOCABULARY_SIZE}_{key % VOCABULARY_SIZE}" for key in row] for row in read_keys(documents)]


def test_tfidf_is_scikit_learns_sublinear_smoothed_tfidf_over_the_words_read():
    from sklearn.feature_extraction.text import TfidfVectorizer

    generator = np.random.default_rng(0)
    train = [([int(i) for i in generator.integers(2, 12, 3)], [[int(i) for i in generator.integers(2, 12, 5)]])
             for _ in range(20)]
    keys, idf = _vocabulary([np.array(row) for row in read_keys(train)])
    part = reader(len(keys))
    part.feature_keys.copy_(torch.from_numpy(keys))
    part.idf.copy_(torch.from_numpy(idf).float())
    tests = DOCUMENTS + train[:3]
    ours = part.tfidf(*pad_inputs(tests))  # (B, F)
    vectorizer = TfidfVectorizer(analyzer=lambda words: words, min_df=2, sublinear_tf=True)
    vectorizer.fit(sklearn_rows(train))
    theirs = vectorizer.transform(sklearn_rows(tests)).toarray()
    assert len(vectorizer.vocabulary_) == len(keys)
    columns = [vectorizer.vocabulary_[f"{key // VOCABULARY_SIZE}_{key % VOCABULARY_SIZE}"] for key in keys.tolist()]
    assert np.allclose(ours.numpy(), theirs[:, columns], atol=1e-6)
    assert torch.equal(ours[1], torch.zeros(len(keys))) and torch.isfinite(ours).all()  # unseen words: zeros, not NaN


def with_linear_part(variation: str = "JMAN", weight: float = 0.5):
    """(plain model, the same model with a hand-set linear part): tag 2 gets +3 per unit of word 10."""
    plain = make_model(variation)
    config = dataclasses.replace(plain.config, linear_part=True, linear_features=2, linear_per_label=1)
    model = build_model(config).eval()
    model.load_state_dict(plain.state_dict(), strict=False)
    part = model.linear_part
    part.counted_words[2:] = True
    part.feature_keys.copy_(torch.tensor([10 * VOCABULARY_SIZE, 10 * VOCABULARY_SIZE + 11]))  # word 10, pair 10-11
    part.idf.fill_(1.0)
    part.label_features[2, 0] = 0
    part.label_weights[2, 0] = 3.0
    part.bias.fill_(-1.0)
    part.network_weight.fill_(weight)
    return plain, model


@pytest.mark.parametrize("variation", ["JMAN", "HAN", "BiGRU"])
def test_the_blend_mixes_the_two_probabilities_with_the_tuned_weight(variation):
    inputs = pad_inputs(DOCUMENTS)
    plain, model = with_linear_part(variation)
    network = torch.sigmoid(plain(*inputs).logits)
    features = model.linear_part.tfidf(*inputs)  # (B, F)
    linear = torch.sigmoid(features[:, 0:1] * torch.tensor([0, 0, 3.0, 0, 0, 0, 0]) - 1.0)  # (B, L)
    assert torch.allclose(torch.sigmoid(model(*inputs).logits), 0.5 * network + 0.5 * linear, atol=1e-5)
    assert torch.allclose(features[0], torch.full((2,), 0.5 ** 0.5))  # document 0 reads word 10 and pair 10-11
    assert torch.equal(features[1], torch.zeros(2))  # document 1 reads neither
    model.linear_part.network_weight.fill_(1.0)
    assert torch.allclose(model(*inputs).logits, plain(*inputs).logits, atol=1e-4)


def test_a_document_with_word_10_gets_its_linear_score_and_strongest_terms():
    _, model = with_linear_part()
    inputs = pad_inputs([([2], [[10, 11]])])
    features = model.linear_part.tfidf(*inputs)[0]
    assert features[0] == pytest.approx(features[1]) and features.norm() == pytest.approx(1.0)
    assert model.linear_part.scores(*inputs)[0, 2] == pytest.approx(3.0 / 2 ** 0.5 - 1.0, abs=1e-5)
    assert model.linear_part.strongest_terms(inputs, 2, 5) == [(10, 0, False, pytest.approx(3.0 / 2 ** 0.5))]
    assert model.linear_part.strongest_terms(inputs, 3, 5) == []  # tag 3 keeps no weight


def test_fit_linear_part_keeps_each_tags_largest_weights_and_tunes_the_blend(documents, cache_dir):
    from conftest import tiny_config
    from jman_core.experiment import prepare_data

    config = tiny_config(cache_dir)
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, linear_part=True, linear_per_label=20))
    prepared = prepare_data(documents, config)
    model_config = dataclasses.replace(config.model, vocabulary_size=prepared.pipeline.vocabulary_size,
                                       num_labels=len(prepared.labels))
    torch.manual_seed(0)
    model = build_model(model_config).eval()
    network, _ = predict_scores(model, prepared.validation, 32, torch.device("cpu"))
    fitted, threshold, statistics = fit_linear_part(model, prepared, model_config, config.training)
    part = model.linear_part
    assert fitted.linear_features == len(part.feature_keys) == statistics["linear_part_features"]
    assert fitted.linear_per_label == 20 and part.label_weights.shape == (len(prepared.labels), 20)
    assert torch.all(part.feature_keys[1:] > part.feature_keys[:-1])  # sorted, unique: searchsorted finds them
    assert float(part.network_weight) == pytest.approx(statistics["linear_part_network_weight"])
    blended, _ = predict_scores(model, prepared.validation, 32, torch.device("cpu"))
    truth = prepared.validation.labels
    assert tune_threshold(truth, blended) == pytest.approx((threshold, statistics["linear_part_validation_f1"]))
    assert statistics["linear_part_validation_f1"] >= tune_threshold(truth, network)[1]  # w = 1 was a candidate
    telescope = prepared.pipeline.vocabulary["telescope"] * prepared.pipeline.vocabulary_size
    astronomy = prepared.labels.index("astronomy")
    keys = part.feature_keys[part.label_features[astronomy]]
    assert part.label_weights[astronomy][keys == telescope].item() > 0  # a topic word votes for its tag
    rebuilt = build_model(fitted)
    rebuilt.load_state_dict(model.state_dict())  # the fitted config rebuilds every buffer's shape
