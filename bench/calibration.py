"""Calibration of the shipped models: ECE, tags above 0.2 and ranking before and after, Platt or isotonic.

    OMP_NUM_THREADS=2 python bench/calibration.py [--models stackexchange-cooking ...] [--write]

For each shipped checkpoint, rebuilds its split from its data file, keeps its trained network and fitted
SVM, calibrates each component on validation with Platt scaling and with isotonic regression, re-tunes the
blend weight and threshold, and prints the test part's figures beside the scores as they were (format 1:
uncalibrated sigmoids). With --write, each checkpoint is converted in place (format 2) with --method.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from jman_core.experiment import recalibrate

DATASETS = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"
DATA = {
    "stackexchange-cooking": DATASETS / "stackexchange" / "cooking.csv.zip",
    "stackexchange-crypto": DATASETS / "stackexchange" / "crypto.csv.zip",
    "stackexchange-biology": DATASETS / "stackexchange" / "biology.csv.zip",
    "citeulike-a": DATASETS / "citeulike-a",
}
COLUMNS = ("P@1", "nDCG@3", "F1", "ece_final", "tags_above_0.2", "true_tags_per_document", "threshold")


def cells(figures: dict) -> str:
    shown = []
    for column in COLUMNS:
        value = figures.get(column, float("nan"))
        shown.append(
            f"{100 * value:.1f}"
            if column in ("P@1", "nDCG@3", "F1")
            else f"{value:.3f}"
            if column == "ece_final"
            else f"{value:.2f}"
        )
    return " | ".join(shown)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(DATA))
    parser.add_argument("--checkpoints", default="checkpoints", type=Path)
    parser.add_argument("--write", action="store_true", help="convert the checkpoints in place with --method")
    parser.add_argument("--method", default="platt", choices=("platt", "isotonic"))
    arguments = parser.parse_args(argv)
    print("| model | scores | " + " | ".join(COLUMNS) + " | network weight |")
    print("|---|---|" + "---|" * (len(COLUMNS) + 1))
    for name in arguments.models:
        checkpoint = arguments.checkpoints / name
        for method in ("platt", "isotonic"):
            with tempfile.TemporaryDirectory() as folder:
                write = arguments.write and method == arguments.method
                result = recalibrate(
                    checkpoint, DATA[name], None if write else Path(folder) / name, calibration=method
                )
            metrics = result.metrics
            if method == "platt" and "before_recalibration" in metrics:
                before = metrics["before_recalibration"]
                print(f"| {name} | as shipped (uncalibrated) | {cells(before)} | |")
                print(f"| {name} | linear SVM alone (Platt) | {cells(metrics['baseline_svm_test'])} | |")
            figures = {**metrics["test"], **metrics["calibration_test"]}
            print(
                f"| {name} | {method} | {cells(figures)} | {result.statistics['network_weight']:.2f} |",
                flush=True,
            )
            print(
                f"|  | {method}: ECE network {metrics['calibration_test']['ece_network_raw']:.3f} -> "
                f"{metrics['calibration_test']['ece_network_calibrated']:.3f}, SVM "
                f"{metrics['calibration_test'].get('ece_linear_raw', float('nan')):.3f} -> "
                f"{metrics['calibration_test'].get('ece_linear_calibrated', float('nan')):.3f}"
                " | | | | | | | | |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
