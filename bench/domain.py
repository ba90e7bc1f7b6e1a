"""The shipped models' domain check: the share of each dataset's test documents each model flags as unusual.

    OMP_NUM_THREADS=2 python bench/domain.py [--checkpoints checkpoints] [--datasets ../shared/datasets]
        [--part test|validation]

A model should flag few of its own test documents (goal under 5%) and nearly all of another dataset's
(goal over 90%). Every model's test part is its own canonical split, rebuilt with the settings stored in
the checkpoint. Prints a Markdown table (rows: models; columns: whose documents). `--part validation`
reads the validation parts instead: the diagonal is then what the threshold was tuned on, and the other
cells a second sample of foreign documents, to check a choice made while looking at the test table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from jman_core.data import read_documents, split_documents
from jman_core.predict import Predictor

SOURCES = {
    "stackexchange-biology": "stackexchange/biology.csv.zip",
    "stackexchange-cooking": "stackexchange/cooking.csv.zip",
    "stackexchange-crypto": "stackexchange/crypto.csv.zip",
    "citeulike-a": "citeulike-a",
}


def part_documents(predictor: Predictor, data: Path, part: str = "test") -> list[tuple[str, str]]:
    """(title, content) of a part of `data`, split as the checkpoint's own data was split."""
    metadata = predictor.metadata
    documents = read_documents(data, metadata.data_config)  # HTML is read as plain text by the predictor
    split = split_documents(documents, metadata.data_config, metadata.training_config.seed)
    return [(document.title, document.content) for document in getattr(split, part)]


def flagged_share(predictor: Predictor, documents: list[tuple[str, str]]) -> float:
    checks = predictor.domain_checks(documents)
    return sum(check.unusual for check in checks) / len(checks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", default="checkpoints", type=Path)
    parser.add_argument("--datasets", default="../shared/datasets", type=Path)
    parser.add_argument(
        "--models", nargs="+", default=list(SOURCES), choices=list(SOURCES), help="which shipped models"
    )
    parser.add_argument("--part", default="test", choices=["test", "validation"])
    arguments = parser.parse_args(argv)
    names = arguments.models
    predictors = {name: Predictor.from_checkpoint(arguments.checkpoints / name) for name in names}
    missing = [name for name, predictor in predictors.items() if predictor.domain is None]
    if missing:
        print(
            f"error: no domain statistic in {', '.join(missing)}; run jman add-domain-check first.",
            file=sys.stderr,
        )
        return 2
    tests = {
        name: part_documents(predictors[name], arguments.datasets / SOURCES[name], arguments.part)
        for name in names
    }
    started = time.perf_counter()
    print(
        f"| model \\ {arguments.part} documents of | "
        + " | ".join(f"{name} ({len(tests[name]):,})" for name in names)
        + " |"
    )
    print("|---|" + "---|" * len(names))
    for model, predictor in predictors.items():
        cells = [
            f"{flagged_share(predictor, tests[name]):.1%}" + (" (own)" if name == model else "")
            for name in names
        ]
        print(f"| {model} | " + " | ".join(cells) + " |")
    documents = len(names) * sum(len(test) for test in tests.values())
    print(
        f"\nShare of each column's {arguments.part} documents flagged as unusual by each row's model; "
        f"{documents:,} checks in {time.perf_counter() - started:.0f} s."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
