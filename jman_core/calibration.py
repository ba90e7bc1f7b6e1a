"""Calibration: a component's raw scores (logits, SVM margins) made probabilities on validation."""

from __future__ import annotations

from typing import Any

import numpy as np

# A step of isotonic regression holding only relevant (or only irrelevant) validation pairs reads 1 (or 0);
# no validation part makes a tag certain, so calibrated probabilities stay this far from 0 and 1.
CERTAINTY_MARGIN = 1e-3
# At most this many (score, truth) pairs fit a calibrator: validation parts of many tags reach millions.
MAX_CALIBRATION_POINTS = 2_000_000


def _sample(scores: np.ndarray, truth: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    scores, truth = np.asarray(scores, np.float64).reshape(-1), np.asarray(truth, np.float64).reshape(-1)
    if len(scores) > MAX_CALIBRATION_POINTS:
        chosen = np.random.default_rng(seed).choice(len(scores), MAX_CALIBRATION_POINTS, replace=False)
        scores, truth = scores[chosen], truth[chosen]
    return scores, truth


class PlattCalibrator:
    """p = sigmoid(a * score + b), one (a, b) for all tags (Platt scaling), fitted by logistic regression."""

    method = "platt"

    def __init__(self, slope: float = 1.0, intercept: float = 0.0):
        self.slope_, self.intercept_ = slope, intercept

    def fit(self, scores: np.ndarray, truth: np.ndarray) -> PlattCalibrator:
        from sklearn.linear_model import LogisticRegression

        values, targets = _sample(scores, truth)
        if targets.min() == targets.max():  # one class only: nothing to fit
            return self
        regression = LogisticRegression(C=1e6, max_iter=1000).fit(values.reshape(-1, 1), targets)
        self.slope_, self.intercept_ = float(regression.coef_[0, 0]), float(regression.intercept_[0])
        return self

    def log_odds(self, scores: np.ndarray) -> np.ndarray:
        """The calibrated log odds (a * score + b)."""
        return self.slope_ * np.asarray(scores, np.float64) + self.intercept_

    def log_odds_slope(self, score: float) -> float:
        """d calibrated log odds / d raw score (the slope a)."""
        return self.slope_

    def transform(self, scores: np.ndarray) -> np.ndarray:
        return (1.0 / (1.0 + np.exp(-np.clip(self.log_odds(scores), -30, 30)))).astype(np.float32)

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "slope": self.slope_, "intercept": self.intercept_}


class IsotonicCalibrator:
    """A non-decreasing step function of the score fitted by isotonic regression, one for all tags."""

    method = "isotonic"

    def __init__(self, knots: list[float] | None = None, values: list[float] | None = None):
        self.knots_ = np.asarray(knots if knots is not None else [0.0], np.float64)
        self.values_ = np.asarray(values if values is not None else [0.5], np.float64)

    def fit(self, scores: np.ndarray, truth: np.ndarray) -> IsotonicCalibrator:
        from sklearn.isotonic import IsotonicRegression

        values, targets = _sample(scores, truth)
        regression = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(values, targets)
        self.knots_, self.values_ = regression.X_thresholds_, regression.y_thresholds_
        return self

    def transform(self, scores: np.ndarray) -> np.ndarray:
        values = np.interp(np.asarray(scores, np.float64), self.knots_, self.values_)
        return np.clip(values, CERTAINTY_MARGIN, 1 - CERTAINTY_MARGIN).astype(np.float32)

    def log_odds(self, scores: np.ndarray) -> np.ndarray:
        probability = np.clip(self.transform(scores).astype(np.float64), 1e-6, 1 - 1e-6)
        return np.log(probability / (1 - probability))

    def log_odds_slope(self, score: float, width: float = 0.5) -> float:
        """The secant slope of the calibrated log odds over [score - width, score + width] (a step function
        has no useful derivative)."""
        low, high = self.log_odds(np.array([score - width, score + width]))
        return float((high - low) / (2 * width))

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "knots": self.knots_.tolist(), "values": self.values_.tolist()}


CALIBRATORS = {"platt": PlattCalibrator, "isotonic": IsotonicCalibrator}


def calibrator_from_json(values: dict[str, Any]):
    """A calibrator saved by to_json; raises ValueError when the values are not one."""
    method = values.get("method") if isinstance(values, dict) else None
    if method == "platt":
        slope, intercept = values.get("slope"), values.get("intercept")
        if not all(isinstance(value, (int, float)) and np.isfinite(value) for value in (slope, intercept)):
            raise ValueError("a Platt calibration needs a finite slope and intercept")
        return PlattCalibrator(float(slope), float(intercept))
    if method == "isotonic":
        knots, levels = (
            np.asarray(values.get("knots"), np.float64),
            np.asarray(values.get("values"), np.float64),
        )
        if (
            knots.ndim != 1
            or knots.shape != levels.shape
            or len(knots) == 0
            or not np.isfinite(knots).all()
            or np.any(np.diff(knots) < 0)
            or not ((levels >= 0) & (levels <= 1)).all()
        ):
            raise ValueError(
                "an isotonic calibration needs sorted knots and values from 0 to 1 of one length"
            )
        return IsotonicCalibrator(knots.tolist(), levels.tolist())
    raise ValueError(f"unknown calibration method {method!r}")
