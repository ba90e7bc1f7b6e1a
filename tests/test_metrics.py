"""Tests for jman_core.metrics: hand-computed cases, empty-set conventions, and scikit-learn cross-checks."""

import math

import numpy as np
import pytest
from sklearn.metrics import f1_score, hamming_loss, jaccard_score, ndcg_score, precision_score, recall_score

from jman_core.metrics import (
    evaluate,
    example_based_metrics,
    format_mean_std,
    macro_f1,
    mean_and_std,
    micro_f1,
    ndcg_at_k,
    precision_at_k,
    predictions_at_threshold,
    tune_threshold,
)


def random_case(documents=60, labels=12, seed=0, density=0.25):
    """Random (y_true, scores) with a fixed seed; scores are correlated with the truth so metrics vary."""
    generator = np.random.default_rng(seed)
    y_true = generator.random((documents, labels)) < density
    scores = np.clip(0.35 * y_true + 0.65 * generator.random((documents, labels)), 0.0, 1.0)
    return y_true, scores


# ----------------------------------------------------------------------------------------------------
# Example-based metrics


def test_example_based_hand_case():
    y_true = np.array([[1, 1, 0, 0], [0, 1, 1, 1], [1, 0, 0, 0]])
    y_pred = np.array([[1, 0, 1, 1], [0, 1, 1, 0], [0, 0, 0, 0]], dtype=bool)
    # doc0: y={0,1}   f={0,2,3}  ∩=1 ∪=4 Δ=3  P=1/3 R=1/2 A=1/4
    # doc1: y={1,2,3} f={1,2}    ∩=2 ∪=3 Δ=1  P=1   R=2/3 A=2/3
    # doc2: y={0}     f={}       ∩=0 ∪=1 Δ=1  P=0 (no prediction)  R=0  A=0
    # Ave = (2+3+1)/3 = 2;  H = (3+1+1)/3 / 2 = 5/6
    # A = (1/4 + 2/3 + 0)/3 = 11/36;  P = (1/3 + 1 + 0)/3 = 4/9;  R = (1/2 + 2/3 + 0)/3 = 7/18
    # F1 = 2 (4/9)(7/18) / (4/9 + 7/18) = 56/135
    metrics = example_based_metrics(y_true, y_pred)
    assert metrics.keys() == {"H", "A", "P", "R", "F1"}
    assert metrics["H"] == pytest.approx(5 / 6)
    assert metrics["A"] == pytest.approx(11 / 36)
    assert metrics["P"] == pytest.approx(4 / 9)
    assert metrics["R"] == pytest.approx(7 / 18)
    assert metrics["F1"] == pytest.approx(56 / 135)


def test_example_based_f1_is_from_averaged_precision_and_recall():
    y_true = np.array([[1, 0, 0, 0], [1, 1, 1, 1]])
    y_pred = np.array([[1, 1, 1, 1], [1, 0, 0, 0]])
    # doc0: P=1/4 R=1;  doc1: P=1 R=1/4.  P = R = 5/8 so F1 = 5/8,
    # whereas the mean of per-document F1 would be (0.4 + 0.4)/2 = 0.4.
    metrics = example_based_metrics(y_true, y_pred)
    assert metrics["F1"] == pytest.approx(5 / 8)


def test_example_based_empty_truth_and_empty_prediction_conventions():
    y_true = np.array([[0, 0, 0], [0, 0, 0], [1, 0, 0]])
    y_pred = np.array([[0, 0, 0], [0, 1, 0], [1, 0, 0]])
    # doc0: both empty         -> A=1, P=0 (no prediction), R=0 (no truth), Δ=0
    # doc1: y={} f={1}         -> A=0/1=0, P=0/1=0, R=0 (no truth), Δ=1
    # doc2: y={0} f={0}        -> A=1, P=1, R=1, Δ=0
    # Ave = 1/3;  H = (0+1+0)/3 / (1/3) = 1;  A = 2/3;  P = R = 1/3;  F1 = 1/3
    metrics = example_based_metrics(y_true, y_pred)
    assert metrics["A"] == pytest.approx(2 / 3)
    assert metrics["P"] == pytest.approx(1 / 3)
    assert metrics["R"] == pytest.approx(1 / 3)
    assert metrics["F1"] == pytest.approx(1 / 3)
    assert metrics["H"] == pytest.approx(1.0)


def test_example_based_f1_is_zero_when_nothing_is_right():
    y_true = np.array([[1, 0], [1, 0]])
    y_pred = np.array([[0, 1], [0, 0]])
    # P = (0/1 + 0)/2 = 0, R = 0, so P + R = 0 and F1 = 0 rather than NaN.
    metrics = example_based_metrics(y_true, y_pred)
    assert metrics["F1"] == 0.0
    assert metrics["P"] == 0.0 and metrics["R"] == 0.0


def test_hamming_with_label_count_normaliser_matches_sklearn():
    y_true, scores = random_case(seed=1)
    y_pred = scores >= 0.5
    metrics = example_based_metrics(y_true, y_pred, normaliser=y_true.shape[1])
    assert metrics["H"] == pytest.approx(hamming_loss(y_true, y_pred))


def test_hamming_default_normaliser_is_mean_true_labels_per_document():
    y_true, scores = random_case(seed=2)
    y_pred = scores >= 0.5
    average_labels = y_true.sum(axis=1).mean()
    expected = (y_true != y_pred).sum(axis=1).mean() / average_labels
    assert example_based_metrics(y_true, y_pred)["H"] == pytest.approx(expected)


def test_example_based_precision_recall_accuracy_match_sklearn():
    y_true, scores = random_case(documents=200, labels=15, seed=3, density=0.15)
    y_pred = scores >= 0.55
    assert (~y_true.any(axis=1)).any() and (~y_pred.any(axis=1)).any(), "the case should include empty rows"
    metrics = example_based_metrics(y_true, y_pred)
    assert metrics["P"] == pytest.approx(precision_score(y_true, y_pred, average="samples", zero_division=0))
    assert metrics["R"] == pytest.approx(recall_score(y_true, y_pred, average="samples", zero_division=0))
    # Accuracy agrees with sklearn's Jaccard on rows where both sets are non-empty.
    both = y_true.any(axis=1) & y_pred.any(axis=1)
    subset_accuracy = example_based_metrics(y_true[both], y_pred[both])["A"]
    assert subset_accuracy == pytest.approx(jaccard_score(y_true[both], y_pred[both], average="samples"))


def test_example_based_rejects_all_empty_truth_without_normaliser():
    y_true = np.zeros((2, 3), dtype=bool)
    with pytest.raises(ValueError, match="normaliser"):
        example_based_metrics(y_true, y_true)
    assert example_based_metrics(y_true, y_true, normaliser=3)["H"] == 0.0


# ----------------------------------------------------------------------------------------------------
# Ranking metrics

RANKING_TRUE = np.array([[1, 0, 0, 1], [1, 0, 0, 0], [0, 0, 0, 0]])
# doc0 ranking: 0 (true), 1, 3 (true), 2     doc1 ranking: 2, 1, 0 (true), 3     doc2: no true label
RANKING_SCORES = np.array([[0.9, 0.8, 0.1, 0.5], [0.2, 0.3, 0.4, 0.1], [0.9, 0.8, 0.7, 0.6]])


def test_precision_at_k_hand_case():
    # P@1 = (1 + 0 + 0)/3 = 1/3
    # P@2 = (1/2 + 0 + 0)/3 = 1/6
    # P@3 = (2/3 + 1/3 + 0)/3 = 1/3
    # P@5 with L=4: divisor stays 5 -> (2/5 + 1/5 + 0)/3 = 1/5
    assert precision_at_k(RANKING_TRUE, RANKING_SCORES, 1) == pytest.approx(1 / 3)
    assert precision_at_k(RANKING_TRUE, RANKING_SCORES, 2) == pytest.approx(1 / 6)
    assert precision_at_k(RANKING_TRUE, RANKING_SCORES, 3) == pytest.approx(1 / 3)
    assert precision_at_k(RANKING_TRUE, RANKING_SCORES, 5) == pytest.approx(1 / 5)


def test_ndcg_at_k_hand_case():
    # doc0 @3: DCG = 1/log2(2) + 1/log2(4) = 1.5; IDCG (2 true) = 1 + 1/log2(3)
    # doc1 @3: DCG = 1/log2(4) = 0.5; IDCG (1 true) = 1
    # doc2: no true label -> 0.  nDCG@3 = (1.5/(1 + 1/log2 3) + 0.5 + 0)/3
    expected_at_3 = (1.5 / (1 + 1 / math.log2(3)) + 0.5) / 3
    assert ndcg_at_k(RANKING_TRUE, RANKING_SCORES, 3) == pytest.approx(expected_at_3)
    # @1: doc0 DCG = 1, IDCG = 1 -> 1; doc1 -> 0; doc2 -> 0.  nDCG@1 = 1/3
    assert ndcg_at_k(RANKING_TRUE, RANKING_SCORES, 1) == pytest.approx(1 / 3)


def test_ranking_ties_go_to_lower_label_index():
    y_true = np.array([[0, 0, 1]])
    scores = np.array([[0.5, 0.5, 0.5]])
    # Order 0, 1, 2: the true label is ranked third.
    assert precision_at_k(y_true, scores, 1) == 0.0
    assert precision_at_k(y_true, scores, 3) == pytest.approx(1 / 3)
    # DCG = 1/log2(4) = 0.5, IDCG = 1
    assert ndcg_at_k(y_true, scores, 3) == pytest.approx(0.5)


@pytest.mark.parametrize("k", [1, 3, 5, 20])
def test_ndcg_matches_sklearn_when_every_document_has_a_label(k):
    y_true, scores = random_case(documents=80, labels=15, seed=4)
    y_true[np.arange(80), np.arange(80) % 15] = True  # at least one relevant label per document
    assert ndcg_at_k(y_true, scores, k) == pytest.approx(ndcg_score(y_true.astype(int), scores, k=k))


@pytest.mark.parametrize("k", [1, 3, 5])
def test_precision_at_k_matches_a_plain_loop(k):
    y_true, scores = random_case(documents=40, labels=10, seed=5)
    per_document = [y_true[i, np.argsort(-scores[i], kind="stable")[:k]].sum() / k for i in range(40)]
    assert precision_at_k(y_true, scores, k) == pytest.approx(np.mean(per_document))


def test_ranking_metrics_break_many_ties_by_label_index():
    # 200 labels with scores rounded to one decimal: long runs of ties, where an unstable sort would differ.
    generator = np.random.default_rng(13)
    y_true = generator.random((30, 200)) < 0.2
    scores = np.round(generator.random((30, 200)), 1)
    k = 10
    precisions, gains = [], []
    for truth, row in zip(y_true, scores):
        order = sorted(range(200), key=lambda label: (-row[label], label))[:k]
        precisions.append(truth[order].sum() / k)
        dcg = sum(1 / math.log2(rank + 2) for rank, label in enumerate(order) if truth[label])
        ideal = sum(1 / math.log2(rank + 2) for rank in range(min(k, truth.sum())))
        gains.append(dcg / ideal if ideal else 0.0)
    assert precision_at_k(y_true, scores, k) == pytest.approx(np.mean(precisions))
    assert ndcg_at_k(y_true, scores, k) == pytest.approx(np.mean(gains))


# ----------------------------------------------------------------------------------------------------
# Micro / macro F1


def test_micro_and_macro_f1_hand_case():
    y_true = np.array([[1, 0, 0], [1, 1, 0]])
    y_pred = np.array([[1, 1, 0], [0, 1, 0]])
    # label0: TP=1 FP=0 FN=1 -> 2/3;  label1: TP=1 FP=1 FN=0 -> 2/3;  label2: nothing -> 0
    # Macro = (2/3 + 2/3 + 0)/3 = 4/9;  Micro: TP=2 FP=1 FN=1 -> 4/(4+1+1) = 2/3
    assert macro_f1(y_true, y_pred) == pytest.approx(4 / 9)
    assert micro_f1(y_true, y_pred) == pytest.approx(2 / 3)


def test_micro_f1_is_zero_with_no_positives_anywhere():
    nothing = np.zeros((3, 4), dtype=bool)
    assert micro_f1(nothing, nothing) == 0.0
    assert macro_f1(nothing, nothing) == 0.0


@pytest.mark.parametrize("seed", [6, 7, 8])
def test_micro_and_macro_f1_match_sklearn(seed):
    y_true, scores = random_case(documents=50, labels=20, seed=seed, density=0.1)
    y_true[:, 0] = False  # a label with no true positive and (below) no prediction: F1 counts as 0
    y_pred = scores >= 0.5
    y_pred[:, 0] = False
    expected_micro = f1_score(y_true, y_pred, average="micro", zero_division=0)
    expected_macro = f1_score(y_true, y_pred, average="macro", zero_division=0)
    assert micro_f1(y_true, y_pred) == pytest.approx(expected_micro)
    assert macro_f1(y_true, y_pred) == pytest.approx(expected_macro)


# ----------------------------------------------------------------------------------------------------
# Predictions and threshold tuning


def test_predictions_at_threshold_is_inclusive():
    scores = np.array([[0.5, 0.49, 0.7]])
    assert predictions_at_threshold(scores, 0.5).tolist() == [[True, False, True]]


def test_predictions_at_threshold_top_k_keeps_the_highest_passing_labels():
    scores = np.array([[0.9, 0.6, 0.8, 0.7], [0.1, 0.9, 0.2, 0.3]])
    # doc0: all pass 0.5, the top 2 are labels 0 (0.9) and 2 (0.8); doc1: only label 1 passes.
    expected = [[True, False, True, False], [False, True, False, False]]
    assert predictions_at_threshold(scores, 0.5, top_k=2).tolist() == expected


def test_predictions_at_threshold_at_least_one_adds_the_best_label_only_where_empty():
    scores = np.array([[0.1, 0.4, 0.3], [0.9, 0.2, 0.6], [0.2, 0.2, 0.1]])
    predictions = predictions_at_threshold(scores, 0.5, at_least_one=True)
    # doc0: none passes -> label 1; doc1 untouched; doc2: tie between 0 and 1 -> label 0
    assert predictions.tolist() == [[False, True, False], [True, False, True], [True, False, False]]
    assert predictions_at_threshold(scores, 0.5)[0].sum() == 0


def test_tune_threshold_separates_a_separable_case():
    generator = np.random.default_rng(9)
    y_true = generator.random((100, 8)) < 0.3
    y_true[:, 0] = True
    # Positives score in [0.76, 0.9), negatives in [0.1, 0.7): exactly 0.70 ... 0.76 give F1 = 1
    # (a score passes when >= threshold); 0.70 is the one closest to 0.5.
    positive_scores = generator.uniform(0.76, 0.9, y_true.shape)
    negative_scores = generator.uniform(0.1, 0.7, y_true.shape)
    scores = np.where(y_true, positive_scores, negative_scores)
    threshold, f1 = tune_threshold(y_true, scores)
    assert f1 == pytest.approx(1.0)
    assert threshold == pytest.approx(0.70)
    assert np.array_equal(predictions_at_threshold(scores, threshold), y_true)


def test_tune_threshold_ties_go_to_the_candidate_closest_to_one_half_then_the_lower():
    y_true = np.array([[1, 0], [0, 1]])
    scores = np.array([[0.95, 0.05], [0.05, 0.95]])
    # Every candidate below 0.95 and above 0.05 predicts perfectly.
    assert tune_threshold(y_true, scores, candidates=[0.2, 0.45, 0.7]) == (0.45, 1.0)
    assert tune_threshold(y_true, scores, candidates=[0.75, 0.25, 0.9]) == (0.25, 1.0)


def test_tune_threshold_agrees_with_brute_force_including_scores_on_candidates():
    y_true, scores = random_case(documents=120, labels=25, seed=10)
    scores = np.round(scores, 2)  # many scores equal a candidate: checks the >= boundary
    candidates = np.round(np.arange(0.02, 0.96, 0.01), 2)
    brute_force = [example_based_metrics(y_true, scores >= t)["F1"] for t in candidates]
    threshold, f1 = tune_threshold(y_true, scores)
    assert f1 == pytest.approx(max(brute_force), abs=1e-12)
    predictions = predictions_at_threshold(scores, threshold)
    assert example_based_metrics(y_true, predictions)["F1"] == pytest.approx(f1)


# ----------------------------------------------------------------------------------------------------
# evaluate, summaries, validation


def test_evaluate_returns_every_metric_consistent_with_the_parts():
    y_true, scores = random_case(seed=12)
    results = evaluate(y_true, scores, threshold=0.6)
    assert list(results) == [
        "H",
        "A",
        "P",
        "R",
        "F1",
        "P@1",
        "P@3",
        "P@5",
        "nDCG@3",
        "nDCG@5",
        "Micro-F1",
        "Macro-F1",
    ]
    y_pred = scores >= 0.6
    assert results["F1"] == pytest.approx(example_based_metrics(y_true, y_pred)["F1"])
    assert results["P@3"] == pytest.approx(precision_at_k(y_true, scores, 3))
    assert results["nDCG@5"] == pytest.approx(ndcg_at_k(y_true, scores, 5))
    assert results["Macro-F1"] == pytest.approx(macro_f1(y_true, y_pred))
    assert all(isinstance(value, float) for value in results.values())


def test_mean_and_std_over_two_runs():
    runs = [{"P": 0.4, "R": 0.6, "only-in-first": 1.0}, {"P": 0.6, "R": 0.6}]
    # P: mean 0.5, population std sqrt(((0.1)^2 + (0.1)^2)/2) = 0.1;  R: 0.6 ± 0
    summary = mean_and_std(runs)
    assert list(summary) == ["P", "R"]
    assert summary["P"] == pytest.approx((0.5, 0.1))
    assert summary["R"] == pytest.approx((0.6, 0.0))
    with pytest.raises(ValueError):
        mean_and_std([])


def test_format_mean_std_like_the_paper_tables():
    assert format_mean_std(0.385, 0.004) == "38.5±0.4"
    assert format_mean_std(0.12345, 0.01, scale=1.0, digits=3) == "0.123±0.010"


@pytest.mark.parametrize(
    "call",
    [
        lambda: example_based_metrics(np.ones((2, 3)), np.ones((2, 4))),
        lambda: example_based_metrics(np.ones(3), np.ones(3)),
        lambda: example_based_metrics(np.full((2, 3), 2), np.ones((2, 3))),
        lambda: precision_at_k(np.ones((2, 3)), np.ones((3, 3)), 1),
        lambda: precision_at_k(np.ones((2, 3)), np.ones((2, 3)), 0),
        lambda: ndcg_at_k(np.ones((2, 3)), np.full((2, 3), np.nan), 3),
        lambda: micro_f1(np.ones((2, 3)), np.ones((3, 2))),
        lambda: tune_threshold(np.ones((2, 3)), np.ones((2, 2))),
        lambda: evaluate(np.ones((0, 3)), np.ones((0, 3))),
        lambda: predictions_at_threshold(np.ones(3), 0.5),
    ],
)
def test_bad_inputs_raise_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_shape_error_message_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 4\)"):
        macro_f1(np.ones((2, 3)), np.ones((2, 4)))
