"""The shipped CiteULike-a model against the linear SVM baseline on the same canonical split.

    OMP_NUM_THREADS=2 python bench/citeulike.py [--checkpoint checkpoints/citeulike-a]
        [--data ../shared/datasets/citeulike-a]

Reads the model's figures from its checkpoint (computed when it was trained) and trains the baseline on the
checkpoint's own split and labels (test = the 312 listed articles, validation = index % 10 == 1). Prints a
Markdown table of P@1, nDCG@3 and example-based F1 at each model's validation-tuned threshold (F1@t).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jman_core.baselines import run_baseline
from jman_core.checkpoint import read_metadata
from jman_core.config import ExperimentConfig
from jman_core.data import read_documents

COLUMNS = ("P@1", "nDCG@3", "F1")


def row(name: str, metrics: dict[str, dict[str, float]]) -> str:
    cells = [f"{100 * metrics[part][column]:.1f}" for part in ("validation", "test") for column in COLUMNS]
    return f"| {name} | " + " | ".join(cells) + f" | {metrics['test'].get('threshold', float('nan')):.2f} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="checkpoints/citeulike-a", type=Path)
    parser.add_argument("--data", default="../shared/datasets/citeulike-a", type=Path)
    arguments = parser.parse_args(argv)
    metadata = read_metadata(arguments.checkpoint)
    config = ExperimentConfig(
        data=metadata.data_config, text=metadata.text_config, training=metadata.training_config
    )
    baseline = run_baseline("svm-linear", read_documents(arguments.data, metadata.data_config), config)
    header = " | ".join(f"{part} {column}" for part in ("validation", "test") for column in COLUMNS)
    print(f"| model | {header} | threshold |")
    print("|---|" + "---|" * (2 * len(COLUMNS) + 1))
    print(
        row(
            f"{metadata.name} ({metadata.model_config.variation}"
            + (" + linear SVM" if metadata.linear_config.enabled else "")
            + ")",
            metadata.metrics,
        )
    )
    baseline.metrics["test"]["threshold"] = baseline.threshold
    print(row("linear SVM baseline (svm-linear)", baseline.metrics))
    statistics = baseline.statistics
    print(
        f"\n{statistics['train']:,} training, {statistics['validation']:,} validation, "
        f"{statistics['test']:,} test documents; {statistics['labels']:,} labels; "
        "figures in %, F1 example-based at the threshold tuned on validation."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
