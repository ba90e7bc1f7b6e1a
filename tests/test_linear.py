"""Tests for jman_core.linear (the word-and-pair SVM: what it reads, its TF-IDF, its fit, its evidence) and
jman_core.blend's fitting (calibrated on validation, weight and threshold tuned)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from jman_core.batching import EncodedDataset, make_batch, pad_documents
from jman_core.blend import LINEAR, NETWORK, calibration_report, fit_blend
from jman_core.config import LinearConfig
from jman_core.errors import ConfigError
from jman_core.linear import WordPairSVM, counted_words
from jman_core.metrics import tune_threshold

# A vocabulary of 30: <pad>, <unk>, words w2..w28, and a punctuation mark the SVM skips (as scikit-learn's
# tokens skip punctuation), like single letters.
PUNCTUATION = 29
ID_TO_WORD = ["<pad>", "<unk>", *(f"w{number}" for number in range(2, 29)), "?"]
V = len(ID_TO_WORD)
NUM_LABELS = 4


def batch_of(documents, content_words: int = 0):
    """A Batch of [(title ids, sentence ids)]; with `content_words`, each content's words as one row too."""
    titles, sentences = pad_documents(documents, 10, 6, 8)
    content = None
    if content_words:
        rows = [[word for ids in content for word in ids][:content_words] for _, content in documents]
        content = np.zeros((len(rows), max(1, *map(len, rows))), np.int32)
        for row, ids in enumerate(rows):
            content[row, : len(ids)] = ids
    return make_batch(titles, sentences, None, torch.device("cpu"), content)


def reader() -> WordPairSVM:
    """An SVM that knows which words count but has no features: enough to read keys."""
    return WordPairSVM.from_tensors(
        {
            "counted_words_": counted_words(ID_TO_WORD),
            "feature_keys_": torch.zeros(0, dtype=torch.long),
            "idf_": torch.zeros(0),
            "label_features_": torch.zeros(NUM_LABELS, 0, dtype=torch.long),
            "label_weights_": torch.zeros(NUM_LABELS, 0),
            "bias_": torch.zeros(NUM_LABELS),
        },
        LinearConfig(),
        V,
        NUM_LABELS,
    )


def read_keys(documents, content_words: int = 0) -> list[list[int]]:
    keys, valid = reader().read_keys(batch_of(documents, content_words))
    return [sorted(row[mask].tolist()) for row, mask in zip(keys, valid)]


def test_counted_words_skip_padding_unknown_punctuation_and_single_letters():
    counted = counted_words(["<pad>", "<unk>", "ab", "a", "?", "x1", "--", "é"])
    assert counted.tolist() == [False, False, True, False, False, True, False, False]


def test_keys_count_the_title_twice_then_as_its_own_and_pair_words_adjacent_once_punctuation_is_skipped():
    title_and_content, padded = read_keys([([2, PUNCTUATION, 3], [[4, 5, PUNCTUATION, 6], [7]]), ([9], [])])
    title = [2 * V, 3 * V, 2 * V + 3]  # the pair 2-3 skips the punctuation between them
    expected = title * 2 + [4 * V, 5 * V, 6 * V, 4 * V + 5, 5 * V + 6, 7 * V] + [key + V * V for key in title]
    assert title_and_content == sorted(
        expected
    )  # no pair across title and content, or across sentences (6-7)
    assert padded == sorted([9 * V, 9 * V, 9 * V + V * V])  # padding reads as nothing


def test_content_words_replace_the_sentences_so_the_svm_reads_past_the_networks_limits():
    read = read_keys([([2], [[4, 5], [6, 7, 8]])], content_words=20)[0]
    assert read == sorted(
        [2 * V] * 2
        + [2 * V + V * V]
        + [4 * V, 5 * V, 6 * V, 7 * V, 8 * V, 4 * V + 5, 5 * V + 6, 6 * V + 7, 7 * V + 8]
    )  # the pair 5-6 across the sentence boundary too: the content is read as one sequence


def random_documents(count: int, seed: int) -> list[tuple[list[int], list[list[int]]]]:
    generator = np.random.default_rng(seed)
    return [
        (
            [int(i) for i in generator.integers(2, 12, 3)],
            [[int(i) for i in generator.integers(2, 12, 5)] for _ in range(int(generator.integers(1, 3)))],
        )
        for _ in range(count)
    ]


def dataset_of(documents, labels: np.ndarray) -> EncodedDataset:
    titles, sentences = pad_documents(documents, 10, 6, 8)
    return EncodedDataset(titles, sentences, labels.astype(np.float32))


def test_tfidf_is_scikit_learns_sublinear_smoothed_tfidf_over_the_words_read():
    from sklearn.feature_extraction.text import TfidfVectorizer

    train = random_documents(20, seed=0)
    labels = np.array([[float(3 in title), float(4 in title), 0.0, 1.0] for title, _ in train])
    # every feature kept (per_label above their count), so the rows are normalised over all of them
    svm = WordPairSVM(LinearConfig(per_label=10_000)).fit(dataset_of(train, labels), ID_TO_WORD)

    def as_strings(documents):
        return [[f"{key // V}_{key % V}" for key in row] for row in read_keys(documents)]

    vectorizer = TfidfVectorizer(analyzer=lambda words: words, min_df=2, sublinear_tf=True).fit(
        as_strings(train)
    )
    tests = [*train[:3], ([20, 21], [[22, 23]]), ([2, 3], [])]
    ours = svm.tfidf(batch_of(tests)).numpy()  # (B, F)
    theirs = vectorizer.transform(as_strings(tests)).toarray()
    assert len(vectorizer.vocabulary_) == len(svm.feature_keys_)
    columns = [vectorizer.vocabulary_[f"{key // V}_{key % V}"] for key in svm.feature_keys_.tolist()]
    np.testing.assert_allclose(ours, theirs[:, columns], atol=1e-6)
    assert (ours[3] == 0).all() and np.isfinite(ours).all()  # words never seen in training: zeros, not NaN


# ---- a hand-made SVM: tag 2 reads word 10 (weight 3) and the pair 10-11 (weight 1) -------------------


def hand_made() -> WordPairSVM:
    label_features = torch.zeros(NUM_LABELS, 2, dtype=torch.long)
    label_features[2] = torch.tensor([0, 1])
    label_weights = torch.zeros(NUM_LABELS, 2)
    label_weights[2] = torch.tensor([3.0, 1.0])
    tensors = {
        "counted_words_": counted_words(ID_TO_WORD),
        "feature_keys_": torch.tensor([10 * V, 10 * V + 11]),  # word 10, pair 10-11
        "idf_": torch.ones(2),
        "label_features_": label_features,
        "label_weights_": label_weights,
        "bias_": torch.full((NUM_LABELS,), -1.0),
    }
    return WordPairSVM.from_tensors(tensors, LinearConfig(per_label=2), V, NUM_LABELS, "hand-made")


def test_a_document_reading_word_10_and_the_pair_gets_their_weights():
    svm = hand_made()
    batch = batch_of([([2], [[10, 11]]), ([2], [[11, 10]])])
    features = svm.tfidf(batch)
    assert features[0].tolist() == pytest.approx(
        [0.5**0.5, 0.5**0.5]
    )  # both read once, the row of unit length
    assert features[1].tolist() == pytest.approx([1.0, 0.0])  # the pair 11-10 is another pair
    margins = svm.decision_function(batch)
    assert margins[0, 2].item() == pytest.approx(4 / 2**0.5 - 1.0, abs=1e-6)
    assert margins[1, 2].item() == pytest.approx(3 - 1.0, abs=1e-6)
    assert margins[:, [0, 1, 3]].eq(-1.0).all()  # tags without weights: their bias


def test_token_effects_give_a_word_its_own_term_and_half_of_each_pair():
    svm = hand_made()
    batch = batch_of([([2, 10], [[10, 11], [4]])])
    title, content = svm.token_effects(batch, 2)
    features = svm.tfidf(batch)[0]
    word, pair = 3 * features[0].item(), 1 * features[1].item()
    # word 10 is read three times (the title counts twice, then the content): its term shared equally
    # among them; the pair's halves go to 10 and 11
    assert title.tolist() == pytest.approx([0.0, 2 * word / 3])
    grid = content.reshape(batch.sentence_ids.shape[1:])
    assert grid[0, :2].tolist() == pytest.approx([word / 3 + pair / 2, pair / 2])
    assert grid[1].abs().sum() == 0
    assert (title.sum() + content.sum() + svm.bias_[2]).item() == pytest.approx(
        svm.decision_function(batch)[0, 2]
    )
    assert svm.token_effects(batch, 0)[0].abs().sum() == 0  # a tag that keeps no weight


def test_strongest_terms_name_the_words_and_pairs_that_moved_the_margin():
    svm = hand_made()
    batch = batch_of([([2], [[10, 11]])])
    assert svm.strongest_terms(batch, 2, 5) == [
        (10, 0, False, pytest.approx(3 / 2**0.5)),
        (10, 11, False, pytest.approx(1 / 2**0.5)),
    ]
    assert svm.strongest_terms(batch, 2, 1) == [(10, 0, False, pytest.approx(3 / 2**0.5))]
    assert svm.strongest_terms(batch, 3, 5) == []  # tag 3 keeps no weight


# ---- fitting on the synthetic documents -----------------------------------------------------------


@pytest.fixture(scope="module")
def prepared(documents, cache_dir):
    from conftest import tiny_config

    from jman_core.experiment import prepare_data

    return prepare_data(documents, tiny_config(cache_dir))


@pytest.fixture(scope="module")
def svm(prepared) -> WordPairSVM:
    return WordPairSVM(LinearConfig(per_label=20)).fit(prepared.train, prepared.pipeline.id_to_word)


def test_fit_keeps_each_tags_largest_weights(prepared, svm):
    everything = WordPairSVM(LinearConfig(per_label=100_000)).fit(
        prepared.train, prepared.pipeline.id_to_word
    )
    assert svm.label_weights_.shape == svm.label_features_.shape == (len(prepared.labels), 20)
    assert torch.all(
        svm.feature_keys_[1:] > svm.feature_keys_[:-1]
    )  # sorted, unique: searchsorted finds them
    assert len(svm.feature_keys_) < len(everything.feature_keys_) == svm.statistics_["linear_vocabulary"]
    assert svm.statistics_["linear_features"] == len(svm.feature_keys_)
    for label in range(len(prepared.labels)):
        kept = svm.feature_keys_[svm.label_features_[label]]
        full = dict(
            zip(
                everything.feature_keys_[everything.label_features_[label]].tolist(),
                everything.label_weights_[label].tolist(),
            )
        )
        largest = sorted(full.values(), key=abs, reverse=True)[:20]
        assert sorted(svm.label_weights_[label].tolist(), key=abs, reverse=True) == pytest.approx(largest)
        assert [full[key] for key in kept.tolist()] == pytest.approx(svm.label_weights_[label].tolist())


def test_a_topic_word_votes_for_its_tag_and_the_svm_finds_the_topics(prepared, svm):
    telescope = prepared.pipeline.vocabulary["telescope"] * prepared.pipeline.vocabulary_size
    astronomy = prepared.labels.index("astronomy")
    keys = svm.feature_keys_[svm.label_features_[astronomy]]
    assert svm.label_weights_[astronomy][keys == telescope].item() > 0
    scores = svm.scores(prepared.test)
    topics = [prepared.labels.index(topic) for topic in ("astronomy", "cooking", "football", "programming")]
    found = scores[:, topics].argmax(1) == prepared.test.labels[:, topics].argmax(1)
    assert found.mean() > 0.9


def test_fitting_on_documents_that_share_no_word_is_a_config_error():
    documents = [([2 + row], []) for row in range(5)]  # each word read in one document only
    dataset = dataset_of(documents, np.ones((5, NUM_LABELS)))
    with pytest.raises(ConfigError, match="no word read in two training documents"):
        WordPairSVM().fit(dataset, ID_TO_WORD)


# ---- the blend -------------------------------------------------------------------------------------


def network_logits(prepared, dataset: EncodedDataset) -> np.ndarray:
    """A weak stand-in for a network: random logits nudged toward the truth."""
    generator = np.random.default_rng(0)
    return generator.normal(-1.0, 1.0, dataset.labels.shape) + 1.5 * dataset.labels


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_fit_blend_tunes_the_weight_and_threshold_on_validation(prepared, svm, method):
    truth = prepared.validation.labels
    raw = {NETWORK: network_logits(prepared, prepared.validation), LINEAR: svm.scores(prepared.validation)}
    blend, threshold, statistics = fit_blend(raw, truth, method)
    assert blend.components == [NETWORK, LINEAR] and sum(blend.weights.values()) == pytest.approx(1.0)
    assert {calibrator.method for calibrator in blend.calibrators.values()} == {method}
    assert statistics["network_weight"] == blend.network_weight()
    assert tune_threshold(truth, blend.probabilities(raw)) == pytest.approx(
        (threshold, statistics["validation_f1"])
    )
    for name in raw:  # each component alone was a candidate (weight 0 or 1)
        assert statistics["validation_f1"] >= tune_threshold(truth, blend.calibrated(raw)[name])[1] - 1e-9
        assert 0 <= statistics[f"validation_ece_{name}"] <= 1


def test_fit_blend_of_one_component_weighs_it_fully(prepared, svm):
    raw = {LINEAR: svm.scores(prepared.validation)}
    blend, threshold, statistics = fit_blend(raw, prepared.validation.labels)
    assert blend.weights == {LINEAR: 1.0} and blend.network_weight() == 0.0
    assert 0 < threshold < 1 and statistics["network_weight"] == 0.0


def test_calibration_report_shows_the_svms_margins_are_not_probabilities_until_calibrated(prepared, svm):
    raw = {NETWORK: network_logits(prepared, prepared.validation), LINEAR: svm.scores(prepared.validation)}
    blend, _, _ = fit_blend(raw, prepared.validation.labels)
    report = calibration_report(prepared.validation.labels, raw, blend)
    assert report["ece_linear_calibrated"] < report["ece_linear_raw"]
    assert set(report) >= {"ece_network_raw", "ece_network_calibrated", "ece_final", "tags_above_0.2"}
    truth = prepared.validation.labels
    assert report["true_tags_per_document"] == pytest.approx(truth.sum(1).mean())


def test_svm_options_are_checked():
    with pytest.raises(ConfigError, match="per_label"):
        LinearConfig(per_label=0)
    with pytest.raises(ConfigError, match="content_words"):
        LinearConfig(content_words=-1)
    with pytest.raises(ConfigError, match="regularisation"):
        replace(LinearConfig(), regularisation=0.0)
