"""Multi-label evaluation: the paper's example-based metrics (section IV-C), P@k, nDCG@k, micro/macro F1."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# The thresholds scanned by `tune_threshold` when none are given: 0.02, 0.03, ..., 0.95.
DEFAULT_THRESHOLD_CANDIDATES = np.round(np.arange(0.02, 0.96, 0.01), 2)


# ----------------------------------------------------------------------------------------------------
# Input checks


def _as_matrix(array, name: str, allow_empty: bool = False) -> np.ndarray:
    matrix = np.asarray(array)
    if matrix.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D (documents, labels) array, got shape {matrix.shape}; "
            "wrap a single document as a one-row matrix."
        )
    if matrix.shape[1] == 0 or (matrix.shape[0] == 0 and not allow_empty):
        raise ValueError(f"{name} has shape {matrix.shape}; it needs at least one document and one label.")
    return matrix


def _as_labels(array, name: str) -> np.ndarray:
    """A (N, L) 0/1 or bool array as bool; any other value is an error."""
    matrix = _as_matrix(array, name)
    if matrix.dtype == bool:
        return matrix
    if not np.isin(matrix, (0, 1)).all():
        raise ValueError(f"{name} must hold only 0/1 or True/False; threshold scores into predictions first.")
    return matrix.astype(bool)


def _as_scores(array, name: str = "scores", allow_empty: bool = False) -> np.ndarray:
    """A (N, L) finite float array."""
    matrix = _as_matrix(array, name, allow_empty).astype(float)
    if not np.isfinite(matrix).all():
        raise ValueError(f"{name} contains NaN or infinity; check the model's output.")
    return matrix


def _check_same_shape(y_true: np.ndarray, other: np.ndarray, other_name: str) -> None:
    if y_true.shape != other.shape:
        raise ValueError(
            f"y_true has shape {y_true.shape} but {other_name} has shape {other.shape}; "
            "both must be (documents, labels) over the same documents and label set."
        )


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}.")
    return int(k)


# ----------------------------------------------------------------------------------------------------
# Small shared pieces


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray, empty_value: float = 0.0) -> np.ndarray:
    """numerator / denominator elementwise, `empty_value` where the denominator is 0."""
    numerator = np.asarray(numerator, dtype=float)
    denominator = np.asarray(denominator, dtype=float)
    result = np.full(np.broadcast(numerator, denominator).shape, empty_value, dtype=float)
    np.divide(numerator, denominator, out=result, where=denominator != 0)
    return result


def _harmonic_mean(precision, recall) -> np.ndarray:
    """2PR / (P + R), 0 where P + R = 0."""
    precision = np.asarray(precision, dtype=float)
    recall = np.asarray(recall, dtype=float)
    return _safe_divide(2.0 * precision * recall, precision + recall)


def _ranking(scores: np.ndarray) -> np.ndarray:
    """(N, L) label indices, highest score first; ties go to the lower label index."""
    return np.argsort(-scores, axis=1, kind="stable")


def _relevance_of_top_k(y_true: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """(N, min(k, L)) bool: whether the label at each of the first k ranks is a true label."""
    top_labels = _ranking(scores)[:, :k]
    return np.take_along_axis(y_true, top_labels, axis=1)


# ----------------------------------------------------------------------------------------------------
# Example-based metrics (section IV-C)


def _default_normaliser(y_true: np.ndarray) -> float:
    average_labels = float(y_true.sum(axis=1).mean())
    if average_labels == 0:
        raise ValueError(
            "y_true has no true label in any document, so the default Hamming normaliser "
            "(mean true labels per document) is 0; pass normaliser= explicitly."
        )
    return average_labels


def _example_based_from_counts(
    true_counts: np.ndarray, predicted_counts: np.ndarray, intersection_counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean P, R and their harmonic mean from (N, ...) per-document counts; the mean is over axis 0."""
    precision = _safe_divide(intersection_counts, predicted_counts).mean(axis=0)
    recall = _safe_divide(intersection_counts, true_counts).mean(axis=0)
    return precision, recall, _harmonic_mean(precision, recall)


def example_based_metrics(y_true, y_pred, normaliser: float | None = None) -> dict[str, float]:
    """The paper's example-based metrics (section IV-C) of predictions `y_pred` against `y_true`.

    Takes `y_true` and `y_pred`, both (N, L) 0/1 or bool. With f_i the predicted and y_i the true label
    set of document i, and every average taken over the N documents (example-based averaging):

        H  = 1/N Σ_i |f_i Δ y_i| / Q        Hamming loss; Q = `normaliser`, by default the mean number
                                             of true labels per document in y_true (the paper's "Ave")
        A  = 1/N Σ_i |f_i ∩ y_i| / |f_i ∪ y_i|
        P  = 1/N Σ_i |f_i ∩ y_i| / |f_i|
        R  = 1/N Σ_i |f_i ∩ y_i| / |y_i|
        F1 = 2 P R / (P + R)                 from the averaged P and R, not the mean of per-document F1

    Conventions for empty sets: a document with no predicted label contributes 0 to P; a document with
    no true label contributes 0 to R; a document with both sets empty contributes 1 to A (perfect
    agreement); F1 = 0 when P + R = 0. Returns {"H", "A", "P", "R", "F1"} as floats. Raises ValueError
    on mismatched shapes, and when y_true has no true label at all and no normaliser is given.
    """
    y_true = _as_labels(y_true, "y_true")
    y_pred = _as_labels(y_pred, "y_pred")
    _check_same_shape(y_true, y_pred, "y_pred")
    if normaliser is None:
        normaliser = _default_normaliser(y_true)
    elif not normaliser > 0:
        raise ValueError(f"normaliser must be positive, got {normaliser!r}.")
    true_counts = y_true.sum(axis=1)  # (N,)
    predicted_counts = y_pred.sum(axis=1)  # (N,)
    intersection_counts = (y_true & y_pred).sum(axis=1)  # (N,)
    union_counts = (y_true | y_pred).sum(axis=1)  # (N,)
    precision, recall, f1 = _example_based_from_counts(true_counts, predicted_counts, intersection_counts)
    return {
        "H": float((y_true ^ y_pred).sum(axis=1).mean() / normaliser),
        "A": float(_safe_divide(intersection_counts, union_counts, empty_value=1.0).mean()),
        "P": float(precision),
        "R": float(recall),
        "F1": float(f1),
    }


# ----------------------------------------------------------------------------------------------------
# Ranking metrics


def precision_at_k(y_true, scores, k: int) -> float:
    """Precision at k: P@k = 1/N Σ_i |top_k(scores_i) ∩ y_i| / k, averaged over the N documents.

    Takes `y_true` (N, L) 0/1 or bool and `scores` (N, L) floats. Ties in scores go to the lower label
    index. The divisor is always k, even when k > L or a document has fewer than k true labels.
    """
    k = _check_k(k)
    y_true = _as_labels(y_true, "y_true")
    scores = _as_scores(scores)
    _check_same_shape(y_true, scores, "scores")
    hits = _relevance_of_top_k(y_true, scores, k).sum(axis=1)  # (N,)
    return float((hits / k).mean())


def ndcg_at_k(y_true, scores, k: int) -> float:
    """Binary-relevance nDCG at k, averaged over the N documents.

    Takes `y_true` (N, L) 0/1 or bool and `scores` (N, L) floats. For document i with labels ranked by
    descending score (ties to the lower label index) and rel_r = 1 if the label at rank r is true:

        DCG_i  = Σ_{r=1..k} rel_r / log2(r + 1)
        IDCG_i = Σ_{r=1..min(k, |y_i|)} 1 / log2(r + 1)
        nDCG@k = 1/N Σ_i DCG_i / IDCG_i

    A document with no true label contributes 0 (and still counts in N).
    """
    k = _check_k(k)
    y_true = _as_labels(y_true, "y_true")
    scores = _as_scores(scores)
    _check_same_shape(y_true, scores, "scores")
    relevance = _relevance_of_top_k(y_true, scores, k)  # (N, min(k, L))
    discounts = 1.0 / np.log2(np.arange(2, relevance.shape[1] + 2))  # (min(k, L),)
    dcg = relevance.astype(float) @ discounts  # (N,)
    ideal_lengths = np.minimum(y_true.sum(axis=1), relevance.shape[1])  # (N,)
    ideal_dcg = np.concatenate(([0.0], np.cumsum(discounts)))[ideal_lengths]  # (N,)
    return float(_safe_divide(dcg, ideal_dcg).mean())


# ----------------------------------------------------------------------------------------------------
# Label-based F1


def _per_label_counts(y_true, y_pred) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(L,) true positives, false positives and false negatives of each label."""
    y_true = _as_labels(y_true, "y_true")
    y_pred = _as_labels(y_pred, "y_pred")
    _check_same_shape(y_true, y_pred, "y_pred")
    true_positives = (y_true & y_pred).sum(axis=0)
    false_positives = (~y_true & y_pred).sum(axis=0)
    false_negatives = (y_true & ~y_pred).sum(axis=0)
    return true_positives, false_positives, false_negatives


def micro_f1(y_true, y_pred) -> float:
    """Micro-F1 = 2 ΣTP / (2 ΣTP + ΣFP + ΣFN), counts pooled over all documents and labels; 0 if 0/0.

    Takes `y_true` and `y_pred`, both (N, L) 0/1 or bool. Equals scikit-learn's
    `f1_score(average="micro", zero_division=0)`.
    """
    true_positives, false_positives, false_negatives = _per_label_counts(y_true, y_pred)
    numerator = 2 * true_positives.sum()
    return float(_safe_divide(numerator, numerator + false_positives.sum() + false_negatives.sum()))


def macro_f1(y_true, y_pred) -> float:
    """Macro-F1 = 1/L Σ_l 2 TP_l / (2 TP_l + FP_l + FN_l), the unweighted mean over the L labels.

    Takes `y_true` and `y_pred`, both (N, L) 0/1 or bool. A label with no true and no predicted positive
    counts as F1 = 0, as in scikit-learn's `f1_score(average="macro", zero_division=0)`.
    """
    true_positives, false_positives, false_negatives = _per_label_counts(y_true, y_pred)
    per_label = _safe_divide(2 * true_positives, 2 * true_positives + false_positives + false_negatives)
    return float(per_label.mean())


# ----------------------------------------------------------------------------------------------------
# From scores to label sets


def predictions_at_threshold(
    scores, threshold: float, top_k: int | None = None, at_least_one: bool = False
) -> np.ndarray:
    """Label sets from probabilities: (N, L) bool with f_il = scores_il >= threshold.

    Takes `scores` (N, L) floats. With `top_k`, only the top_k highest-scoring labels that pass the
    threshold are kept (ties to the lower label index). With `at_least_one`, a document where no label
    passes gets its single highest-scoring label (the lowest index on ties).
    """
    scores = _as_scores(scores, allow_empty=True)
    y_pred = scores >= threshold  # (N, L)
    if top_k is not None:
        top_k = _check_k(top_k)
        in_top_k = np.zeros_like(y_pred)
        np.put_along_axis(in_top_k, _ranking(scores)[:, :top_k], True, axis=1)
        y_pred &= in_top_k
    if at_least_one:
        empty_rows = np.flatnonzero(~y_pred.any(axis=1))
        y_pred[empty_rows, scores[empty_rows].argmax(axis=1)] = True
    return y_pred


def _candidate_thresholds(candidates) -> np.ndarray:
    if candidates is None:
        return DEFAULT_THRESHOLD_CANDIDATES
    candidates = np.unique(np.asarray(candidates, dtype=float).ravel())  # sorted, no repeats
    if candidates.size == 0 or not np.isfinite(candidates).all():
        raise ValueError("candidates must be a non-empty sequence of finite thresholds.")
    return candidates


def _counts_at_each_threshold(y_true: np.ndarray, scores: np.ndarray, candidates: np.ndarray):
    """(N, C) predicted and correctly predicted label counts of each document at each sorted candidate."""
    document_count, candidate_count = scores.shape[0], candidates.size
    # Score s passes candidate j (s >= c_j) exactly when j < bins, as candidates are sorted ascending.
    bins = np.searchsorted(candidates, scores, side="right")  # (N, L) in 0..C
    flat_bins = (np.arange(document_count)[:, None] * (candidate_count + 1) + bins).ravel()
    size = document_count * (candidate_count + 1)
    per_bin = np.bincount(flat_bins, minlength=size).reshape(document_count, -1)  # (N, C+1)
    hits_per_bin = np.bincount(flat_bins, weights=y_true.ravel(), minlength=size).reshape(document_count, -1)
    # Count at candidate j = number of scores whose bin is above j: a reversed cumulative sum.
    predicted = np.cumsum(per_bin[:, ::-1], axis=1)[:, ::-1][:, 1:]  # (N, C)
    intersection = np.cumsum(hits_per_bin[:, ::-1], axis=1)[:, ::-1][:, 1:]  # (N, C)
    return predicted, intersection


def tune_threshold(y_true, scores, candidates: Sequence[float] | None = None) -> tuple[float, float]:
    """The threshold t maximising example-based F1 of `predictions_at_threshold(scores, t)`.

    Takes `y_true` (N, L) 0/1 or bool and `scores` (N, L) floats; scans `candidates` (default 0.02,
    0.03, ..., 0.95) and returns (best threshold, its example-based F1 = 2PR/(P+R) as in
    `example_based_metrics`). Among thresholds whose F1 ties with the best, the one closest to 0.5 wins,
    and the lower of two equally close. Runs in O(N L log C) with no loop over candidates.
    """
    y_true = _as_labels(y_true, "y_true")
    scores = _as_scores(scores)
    _check_same_shape(y_true, scores, "scores")
    candidates = _candidate_thresholds(candidates)
    predicted, intersection = _counts_at_each_threshold(y_true, scores, candidates)
    true_counts = y_true.sum(axis=1)[:, None]  # (N, 1)
    _, _, f1 = _example_based_from_counts(true_counts, predicted, intersection)  # (C,)
    tied = np.flatnonzero(np.isclose(f1, f1.max(), rtol=1e-12, atol=1e-12))
    # Candidates are ascending, so argmin's first-minimum rule picks the lower of two equally close.
    best = tied[np.argmin(np.abs(candidates[tied] - 0.5))]
    return float(candidates[best]), float(f1[best])


def tune_blend_weight(y_true, first_scores, second_scores, steps: int = 21) -> tuple[float, float, float]:
    """The weight w in 0, 1/(steps-1), ..., 1 of w * first + (1 - w) * second (N, L) scores whose F1 at its
    own tuned threshold is best -> (w, that threshold, that F1). The first of equal weights wins."""
    first_scores, second_scores = _as_scores(first_scores), _as_scores(second_scores)
    results = [
        (float(weight), *tune_threshold(y_true, weight * first_scores + (1 - weight) * second_scores))
        for weight in np.linspace(0, 1, steps)
    ]
    return max(results, key=lambda result: result[2])


# ----------------------------------------------------------------------------------------------------
# Everything at once, and summaries over folds or seeds


def evaluate(y_true, scores, threshold: float = 0.5, normaliser: float | None = None) -> dict[str, float]:
    """All metrics of `scores` against `y_true`, both (N, L), with label sets `scores >= threshold`.

    Returns {"H", "A", "P", "R", "F1"} from `example_based_metrics` (example-based averaging),
    "P@1", "P@3", "P@5" from `precision_at_k`, "nDCG@3", "nDCG@5" from `ndcg_at_k` (averaged over
    documents), and "Micro-F1", "Macro-F1" (pooled over, and averaged over, labels).
    """
    y_true = _as_labels(y_true, "y_true")
    scores = _as_scores(scores)
    _check_same_shape(y_true, scores, "scores")
    y_pred = predictions_at_threshold(scores, threshold)
    results = example_based_metrics(y_true, y_pred, normaliser)
    for k in (1, 3, 5):
        results[f"P@{k}"] = precision_at_k(y_true, scores, k)
    for k in (3, 5):
        results[f"nDCG@{k}"] = ndcg_at_k(y_true, scores, k)
    results["Micro-F1"] = micro_f1(y_true, y_pred)
    results["Macro-F1"] = macro_f1(y_true, y_pred)
    return {name: float(value) for name, value in results.items()}


def mean_and_std(results: Sequence[dict[str, float]]) -> dict[str, tuple[float, float]]:
    """Per metric, (mean, population standard deviation) over runs: std = sqrt(1/n Σ_j (x_j - mean)^2).

    Takes a list of n metric dicts (one per fold or seed); only keys present in every dict are kept,
    in the order of the first dict.
    """
    if len(results) == 0:
        raise ValueError("mean_and_std needs at least one result dict.")
    shared_keys = [key for key in results[0] if all(key in result for result in results)]
    summary = {}
    for key in shared_keys:
        values = np.array([result[key] for result in results], dtype=float)
        summary[key] = (float(values.mean()), float(values.std(ddof=0)))
    return summary


def format_mean_std(mean: float, std: float, scale: float = 100.0, digits: int = 1) -> str:
    """Mean±std as in the paper's tables: both times `scale`, `digits` decimals, e.g. "38.5±0.4"."""
    return f"{mean * scale:.{digits}f}±{std * scale:.{digits}f}"


def per_label_metrics(
    y_true, y_pred, labels: Sequence[str], top: int = 20
) -> list[dict[str, float | str | int]]:
    """Precision, recall and F1 of each of the `top` most frequent labels in y_true (N, L), most frequent
    first.

    P = TP / predicted, R = TP / true, F1 = 2PR / (P + R); 0 where a denominator is 0.
    """
    truth = np.asarray(y_true).astype(bool)
    predicted = np.asarray(y_pred).astype(bool)
    support = truth.sum(0)
    rows = []
    for index in np.argsort(-support, kind="stable")[:top]:
        true_positive = float((truth[:, index] & predicted[:, index]).sum())
        precision = true_positive / predicted[:, index].sum() if predicted[:, index].any() else 0.0
        recall = true_positive / support[index] if support[index] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append(
            {
                "label": labels[index],
                "support": int(support[index]),
                "P": float(precision),
                "R": float(recall),
                "F1": float(f1),
            }
        )
    return rows


# ----------------------------------------------------------------------------------------------------
# Calibration


def expected_calibration_error(y_true, scores, bins: int = 10, top: int | None = None) -> float:
    """Expected calibration error over the (document, tag) pairs of (N, L) `y_true` and `scores` (with `top`,
    only each document's `top` best-scored tags: the ones a curator reads): the pairs binned by score into
    `bins` equal-width bins, ECE = Σ_b (n_b / n) |mean truth_b - mean score_b|."""
    y_true = _as_labels(y_true, "y_true").astype(np.float64)
    scores = _as_scores(scores).astype(np.float64)
    if top is not None and scores.size:
        chosen = np.argsort(-scores, axis=1, kind="stable")[:, :top]
        y_true, scores = np.take_along_axis(y_true, chosen, 1), np.take_along_axis(scores, chosen, 1)
    y_true, scores = y_true.reshape(-1), scores.reshape(-1)
    if len(scores) == 0:
        return 0.0
    which = np.minimum((scores * bins).astype(int), bins - 1)
    truth_sums = np.bincount(which, weights=y_true, minlength=bins)
    score_sums = np.bincount(which, weights=scores, minlength=bins)
    return float(np.abs(truth_sums - score_sums).sum() / len(scores))


def tags_above(scores, threshold: float = 0.2) -> float:
    """Mean number of tags per document scoring at least `threshold`, of (N, L) scores."""
    return float((_as_scores(scores) >= threshold).sum(axis=1).mean()) if len(scores) else 0.0
