"""Benchmark on the Stack Exchange sites (canonical split): quality, training speed and predict latency.

Run by hand, not by the tests:
    python bench/stackexchange.py                        # train JMAN on every site, then measure
    python bench/stackexchange.py --sites cooking --num_epochs 3
    python bench/stackexchange.py --checkpoints checkpoints/stackexchange-{site}   # measure saved models
    python bench/stackexchange.py --baseline             # also the TF-IDF + logistic regression reference
Prints a markdown table; --output writes it to a file too.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jman_core.config import build_config  # noqa: E402
from jman_core.data import build_label_list, filter_labels, read_documents, split_documents  # noqa: E402
from jman_core.evaluation import evaluate_checkpoint  # noqa: E402
from jman_core.experiment import train_documents  # noqa: E402
from jman_core.metrics import evaluate, tune_threshold  # noqa: E402
from jman_core.predict import Predictor  # noqa: E402
from jman_core.text import to_plain_text  # noqa: E402

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "stackexchange"
SITES = ("cooking", "biology", "crypto")


def predict_latency(checkpoint: Path, documents, count: int = 50) -> float:
    """Median seconds of one `explain` call (prediction with every attention map) on test documents."""
    predictor = Predictor.from_checkpoint(checkpoint)
    predictor.explain(documents[0].title, documents[0].content)  # warm up
    timings = []
    for document in documents[:count]:
        started = time.perf_counter()
        predictor.explain(document.title, document.content)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def jman_row(site: str, arguments, test_documents) -> dict:
    config = build_config(
        None,
        {
            "data": {"split": "canonical", "min_label_count": 10},
            "training": {
                "num_epochs": arguments.num_epochs,
                "early_stop_lr": arguments.early_stop_lr,
                "device": arguments.device,
                "cache_dir": arguments.cache_dir,
            },
            "model": {"variation": arguments.variation},
        },
    )
    if arguments.checkpoints:
        checkpoint = Path(arguments.checkpoints.format(site=site))
        report = evaluate_checkpoint(checkpoint, DATASETS / f"{site}.csv.zip", "test")
        from jman_core.checkpoint import read_metadata

        metadata = read_metadata(checkpoint)
        epochs, seconds = metadata.epochs, metadata.training_seconds
        docs_per_second = metadata.statistics.get("train", 0) * epochs / max(seconds, 1e-9)
        tuned, at_half = report["metrics"], report["metrics_at_0.5"]
    else:
        checkpoint = Path(arguments.work_dir) / f"{site}-{arguments.variation}"
        documents = read_documents(DATASETS / f"{site}.csv.zip", config.data)
        result = train_documents(documents, config, checkpoint, data_source=f"{site}.csv.zip")
        tuned, at_half = result.metrics["test"], result.metrics["test_at_0.5"]
        epochs, seconds = len(result.history), result.training_seconds
        docs_per_second = statistics.mean(record.documents_per_second for record in result.history)
    return {
        "site": site,
        "model": arguments.variation,
        "tuned": tuned,
        "half": at_half,
        "epochs": epochs,
        "seconds": seconds,
        "docs_per_second": docs_per_second,
        "latency": predict_latency(checkpoint, test_documents),
    }


def baseline_row(site: str) -> dict:
    """TF-IDF (1-2 grams) one-vs-rest logistic regression on the same split, labels and metrics."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    config = build_config(None, {"data": {"split": "canonical"}})
    documents = read_documents(DATASETS / f"{site}.csv.zip", config.data)
    split = split_documents(documents, config.data, config.training.seed)
    labels = [label for label, _ in build_label_list(split.train, 10)]
    parts = {name: filter_labels(getattr(split, name), labels)[0] for name in ("train", "validation", "test")}
    started = time.perf_counter()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=200_000, sublinear_tf=True)
    text = {
        name: [f"{d.title} {d.title} {to_plain_text(d.content)}" for d in docs]
        for name, docs in parts.items()
    }
    index = {label: i for i, label in enumerate(labels)}

    def targets(docs):
        matrix = np.zeros((len(docs), len(labels)), np.float32)
        for row, document in enumerate(docs):
            matrix[row, [index[t] for t in document.tags]] = 1
        return matrix

    classifier = OneVsRestClassifier(LogisticRegression(C=10.0, max_iter=300), n_jobs=2)
    classifier.fit(vectorizer.fit_transform(text["train"]), targets(parts["train"]))
    seconds = time.perf_counter() - started
    threshold, _ = tune_threshold(
        targets(parts["validation"]), classifier.predict_proba(vectorizer.transform(text["validation"]))
    )
    truth = targets(parts["test"])
    scores = classifier.predict_proba(vectorizer.transform(text["test"]))
    normaliser = float(truth.sum(1).mean())
    return {
        "site": site,
        "model": "TF-IDF+LR",
        "tuned": evaluate(truth, scores, threshold, normaliser),
        "half": evaluate(truth, scores, 0.5, normaliser),
        "epochs": "-",
        "seconds": seconds,
        "docs_per_second": len(parts["train"]) / seconds,
        "latency": float("nan"),
    }


def table(rows: list[dict]) -> str:
    header = (
        "| site | model | A@.5 | P@.5 | R@.5 | F1@.5 | A@t | P@t | R@t | F1@t | P@1 | nDCG@3 | epochs | "
        "train min | train docs/s | predict ms (median, with attention) |"
    )
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for row in rows:
        half, tuned = row["half"], row["tuned"]
        cells = [
            row["site"],
            row["model"],
            *(f"{100 * half[k]:.1f}" for k in ("A", "P", "R", "F1")),
            *(f"{100 * tuned[k]:.1f}" for k in ("A", "P", "R", "F1")),
            f"{100 * tuned['P@1']:.1f}",
            f"{100 * tuned['nDCG@3']:.1f}",
            str(row["epochs"]),
            f"{row['seconds'] / 60:.1f}",
            f"{row['docs_per_second']:.0f}",
            "-" if row["latency"] != row["latency"] else f"{1000 * row['latency']:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sites", nargs="+", default=list(SITES), choices=SITES)
    parser.add_argument("--variation", default="JMAN-s")
    parser.add_argument("--num_epochs", type=int, default=30)
    parser.add_argument("--early_stop_lr", type=float, default=1e-3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--cache_dir", default="")
    parser.add_argument("--work_dir", default="bench/out")
    parser.add_argument(
        "--checkpoints", help="measure saved checkpoints instead, e.g. checkpoints/stackexchange-{site}"
    )
    parser.add_argument(
        "--baseline", action="store_true", help="add the TF-IDF + logistic regression reference rows"
    )
    parser.add_argument("--output", help="also write the table (markdown) to this file")
    arguments = parser.parse_args()
    if not DATASETS.exists():
        print(f"The Stack Exchange data is not at {DATASETS}.", file=sys.stderr)
        return 1
    rows = []
    for site in arguments.sites:
        config = build_config(None, {"data": {"split": "canonical"}})
        test = split_documents(
            read_documents(DATASETS / f"{site}.csv.zip", config.data), config.data, 42
        ).test
        rows.append(jman_row(site, arguments, test))
        if arguments.baseline:
            rows.append(baseline_row(site))
        print(table(rows[-2:] if arguments.baseline else rows[-1:]), file=sys.stderr)
    text = (
        f"Stack Exchange, canonical split (test id % 10 == 0), labels used >= 10 times in training. "
        f"{date.today()}, {platform.processor() or platform.machine()}, "
        f"command: python {' '.join(sys.argv)}\n\n{table(rows)}\n"
    )
    print(text)
    if arguments.output:
        Path(arguments.output).parent.mkdir(parents=True, exist_ok=True)
        Path(arguments.output).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
