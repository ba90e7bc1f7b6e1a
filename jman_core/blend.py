"""The blend of a model's components (the network, the word-and-pair SVM): each calibrated, then mixed.

As Annif's ensemble sits beside its backends, the blend sits beside the components: each component gives
raw scores (the network's logits, the SVM's margins), a calibrator fitted on validation makes them
probabilities, and the final score is Σ_c w_c p_c with weights tuned on validation for F1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .calibration import CALIBRATORS, PlattCalibrator, calibrator_from_json
from .metrics import expected_calibration_error, ndcg_at_k, precision_at_k, tags_above, tune_threshold

NETWORK, LINEAR = "network", "linear"
# What each component is called where users read it.
COMPONENT_NAMES = {NETWORK: "the network", LINEAR: "the word-and-pair SVM"}
# Below this blend weight the network's attention does not explain the suggestions, and the app says so.
ATTENTION_EXPLAINS_BELOW = 0.05
# A document whose best tag scores below what this share (%) of the validation documents' best tags reach
# is unusual for the model, beside the domain statistic: with it the shipped models flagged 3-24 points more
# of the other sites' documents, their own still under 5% (bench/results/domain.md).
CONFIDENCE_FLOOR_PERCENT = 1.25


@dataclass
class Blend:
    """Calibrators and weights by component name (the weights sum to 1)."""

    calibrators: dict[str, Any] = field(default_factory=lambda: {NETWORK: PlattCalibrator()})
    weights: dict[str, float] = field(default_factory=lambda: {NETWORK: 1.0})
    # The best-tag score under which a document is unusual (CONFIDENCE_FLOOR_PERCENT of validation); None
    # for a blend fitted before it existed.
    confidence_floor: float | None = None

    @property
    def components(self) -> list[str]:
        return list(self.weights)

    def calibrated(self, raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Each component's probabilities (N, L) from its raw scores (N, L)."""
        return {name: self.calibrators[name].transform(raw[name]) for name in self.weights}

    def shares(self, raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """What each component adds to the final score: w_c * p_c, (N, L) each; they sum to the score."""
        return {name: self.weights[name] * probability for name, probability in self.calibrated(raw).items()}

    def probabilities(self, raw: dict[str, np.ndarray]) -> np.ndarray:
        """The final scores (N, L)."""
        return np.sum(list(self.shares(raw).values()), axis=0).astype(np.float32)

    def network_weight(self) -> float:
        return float(self.weights.get(NETWORK, 0.0))

    def to_json(self) -> dict[str, Any]:
        return {
            "weights": dict(self.weights),
            "calibrators": {name: calibrator.to_json() for name, calibrator in self.calibrators.items()},
            "confidence_floor": self.confidence_floor,
        }

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> Blend:
        """Raises ValueError for values that are not a blend of known components with weights summing to 1."""
        weights, calibrators = values.get("weights"), values.get("calibrators")
        if not isinstance(weights, dict) or not isinstance(calibrators, dict) or not weights:
            raise ValueError("a blend needs weights and calibrators by component")
        if set(weights) - set(COMPONENT_NAMES) or set(weights) != set(calibrators):
            raise ValueError(
                f"a blend's components must be among {', '.join(COMPONENT_NAMES)}, each with a calibrator"
            )
        if (
            not all(isinstance(w, (int, float)) and 0 <= w <= 1 for w in weights.values())
            or abs(sum(weights.values()) - 1) > 1e-6
        ):
            raise ValueError("a blend's weights must be from 0 to 1 and sum to 1")
        floor = values.get("confidence_floor")
        if floor is not None and (
            isinstance(floor, bool) or not isinstance(floor, (int, float)) or not 0 <= floor <= 1
        ):
            raise ValueError("a blend's confidence floor must be a number from 0 to 1")
        return cls(
            {name: calibrator_from_json(calibrators[name]) for name in weights},
            {name: float(weight) for name, weight in weights.items()},
            None if floor is None else float(floor),
        )


def tune_weight(
    truth: np.ndarray, network: np.ndarray, linear: np.ndarray, steps: int = 21
) -> tuple[float, float, float]:
    """The network's weight w in 0, 0.05, ..., 1 of w * network + (1 - w) * linear (N, L) probabilities with
    the best F1 at its own tuned threshold + P@1 + nDCG@3 on validation: ranking counts as much as the
    tag sets (tuned for F1 alone, the calibrated blend lost up to 0.8 points of P@1 on the shipped sites;
    bench/calibration.py). -> (w, threshold, F1). The first of equal weights wins."""
    results = []
    for weight in np.linspace(0, 1, steps):
        scores = weight * network + (1 - weight) * linear
        threshold, f1 = tune_threshold(truth, scores)
        results.append(
            (
                f1 + precision_at_k(truth, scores, 1) + ndcg_at_k(truth, scores, 3),
                float(weight),
                threshold,
                f1,
            )
        )
    _, weight, threshold, f1 = max(results, key=lambda result: result[0])
    return weight, threshold, f1


def fit_blend(
    raw: dict[str, np.ndarray], truth: np.ndarray, method: str = "isotonic"
) -> tuple[Blend, float, dict[str, Any]]:
    """Calibrates each component's validation scores (N, L) with `method` ("platt" or "isotonic"), then
    tunes the network's weight against the SVM (`tune_weight`) and the threshold for example-based F1.
    -> (blend, threshold, statistics: the weight, validation F1, each component's validation ECE)."""
    calibrators = {name: CALIBRATORS[method]().fit(scores, truth) for name, scores in raw.items()}
    probabilities = {name: calibrators[name].transform(scores) for name, scores in raw.items()}
    if set(raw) == {NETWORK, LINEAR}:
        weight, threshold, f1 = tune_weight(truth, probabilities[NETWORK], probabilities[LINEAR])
        weights = {NETWORK: weight, LINEAR: 1.0 - weight}
    else:
        (name,) = raw
        weights = {name: 1.0}
        threshold, f1 = tune_threshold(truth, probabilities[name])
    blend = Blend(calibrators, weights)
    best = blend.probabilities(raw).max(axis=1)  # (N,) each validation document's best tag score
    blend.confidence_floor = float(np.percentile(best, CONFIDENCE_FLOOR_PERCENT)) if len(best) else None
    statistics = {
        "calibration": method,
        "network_weight": blend.network_weight(),
        "validation_f1": f1,
        **{f"validation_ece_{name}": expected_calibration_error(truth, probabilities[name]) for name in raw},
    }
    return blend, threshold, statistics


def calibration_report(truth: np.ndarray, raw: dict[str, np.ndarray], blend: Blend) -> dict[str, float]:
    """On a labelled part: ECE of each component before calibration (sigmoid of its raw score) and after, of
    the final score (over every tag, and over each document's 5 best), tags above 0.2 per document, and the
    mean number of true tags."""
    report: dict[str, float] = {}
    for name in blend.weights:
        scores = raw[name]
        before = 1.0 / (1.0 + np.exp(-np.clip(scores, -30, 30)))
        report[f"ece_{name}_raw"] = expected_calibration_error(truth, before)
        report[f"ece_{name}_calibrated"] = expected_calibration_error(
            truth, blend.calibrators[name].transform(scores)
        )
    final = blend.probabilities(raw)
    report["ece_final"] = expected_calibration_error(truth, final)
    report["ece_final_top5"] = expected_calibration_error(truth, final, top=5)
    report["tags_above_0.2"] = tags_above(final, 0.2)
    report["true_tags_per_document"] = float(np.asarray(truth).sum(1).mean())
    return report
