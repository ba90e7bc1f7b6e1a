"""Where a JMAN checkpoint loses to the TF-IDF linear SVM: the same test documents, broken down by label
frequency, document length, whether a gold tag's name is written in the text, and the rule from scores
to tags; and whether the network knows anything the SVM does not: a blend of the two scores, its weight
and threshold tuned on validation, scored on test.

Run by hand (a few minutes on a CPU; the SVM is trained here on the checkpoint's own split and labels):
    python bench/gap.py --checkpoint checkpoints/stackexchange-crypto \
        --data ../shared/datasets/stackexchange/crypto.csv.zip --output bench/results/gap-crypto.md
Prints markdown; --output writes it to a file too.
"""

from __future__ import annotations

import argparse
import platform
import re
import sys
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jman_core.baselines import TfidfClassifier, document_text  # noqa: E402
from jman_core.data import filter_labels, multi_hot, read_documents, split_documents  # noqa: E402
from jman_core.metrics import (  # noqa: E402
    example_based_metrics,
    precision_at_k,
    predictions_at_threshold,
    tune_blend_weight,
    tune_threshold,
)
from jman_core.predict import Predictor  # noqa: E402
from jman_core.text import to_plain_text  # noqa: E402

FREQUENCY_BUCKETS = ((10, 24), (25, 49), (50, 99), (100, 249), (250, 10**9))
LENGTH_BUCKETS = ((0, 99), (100, 199), (200, 399), (400, 10**9))


def split_parts(predictor: Predictor, data: Path):
    """The checkpoint's own train / validation / test documents, keeping only its labels."""
    metadata = predictor.metadata
    split = split_documents(
        read_documents(data, metadata.data_config), metadata.data_config, metadata.training_config.seed
    )
    return {
        name: filter_labels(getattr(split, name), predictor.labels)[0]
        for name in ("train", "validation", "test")
    }


def label_f1(truth: np.ndarray, predicted: np.ndarray, columns: np.ndarray) -> tuple[float, float, float]:
    """Micro precision, recall and F1 over the label columns `columns` only."""
    true_positive = float((truth[:, columns] & predicted[:, columns]).sum())
    precision = true_positive / max(float(predicted[:, columns].sum()), 1.0)
    recall = true_positive / max(float(truth[:, columns].sum()), 1.0)
    return precision, recall, 2 * precision * recall / max(precision + recall, 1e-12)


def top_is_right(truth: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """(N,) bool: the highest-scored label is a gold one (P@1 per document)."""
    return truth[np.arange(len(truth)), scores.argmax(1)]


def written_in_text(label: str, text: str) -> bool:
    """The tag's name, with '-' read as a space or nothing, appears as whole words in the lowercased text."""
    words = label.lower().split("-")
    pattern = r"\b" + r"[\s\-]?".join(re.escape(word) for word in words) + r"\b"
    return re.search(pattern, text) is not None


def top_k_rule(validation_truth: np.ndarray, validation_scores: np.ndarray) -> int:
    """The k in 1..5 whose "top k labels, each at or above the tuned threshold" rule has the best
    example-based F1 on validation."""
    threshold, _ = tune_threshold(validation_truth, validation_scores)
    return max(
        range(1, 6),
        key=lambda k: example_based_metrics(
            validation_truth, predictions_at_threshold(validation_scores, threshold, top_k=k)
        )["F1"],
    )


def blend(validation_truth, validation_scores: dict, scores: dict) -> tuple[float, np.ndarray, np.ndarray]:
    """(weight w of the first model, blended validation and test scores) for w * first + (1 - w) * second
    probabilities, w in 0, 0.05, ..., 1 chosen by F1 at the tuned threshold on validation."""
    first, second = list(scores)
    weight, _, _ = tune_blend_weight(validation_truth, validation_scores[first], validation_scores[second])

    def mixed(parts):
        return weight * parts[first] + (1 - weight) * parts[second]

    return weight, mixed(validation_scores), mixed(scores)


def summary_table(test_truth, scores, thresholds) -> list[str]:
    lines = ["### Test F1 at the tuned threshold and P@1", "", "| model | F1@t | P@1 |", "|---|---|---|"]
    for name in scores:
        f1 = example_based_metrics(test_truth, predictions_at_threshold(scores[name], thresholds[name]))["F1"]
        lines.append(f"| {name} | {100 * f1:.1f} | {100 * precision_at_k(test_truth, scores[name], 1):.1f} |")
    return lines + [""]


def threshold_rules(
    scores, validation_truth, validation_scores, threshold
) -> dict[str, tuple[np.ndarray, str]]:
    """Several ways of turning the same (N, L) test scores into tag sets: {rule: (predictions, note)}."""
    top_k = top_k_rule(validation_truth, validation_scores)
    return {
        "tuned threshold (the tables' F1@t)": (predictions_at_threshold(scores, threshold), ""),
        "tuned threshold, at least one tag": (
            predictions_at_threshold(scores, threshold, at_least_one=True),
            "",
        ),
        "tuned threshold, at most the top k (k tuned on validation)": (
            predictions_at_threshold(scores, threshold, top_k=top_k),
            f" (k={top_k})",
        ),
        "the top tag only": (predictions_at_threshold(scores, -1.0, top_k=1), ""),
    }


def threshold_table(test_truth, validation_truth, scores, validation_scores, thresholds) -> list[str]:
    names = list(scores)
    rules = {
        name: threshold_rules(scores[name], validation_truth, validation_scores[name], thresholds[name])
        for name in names
    }
    lines = [
        "",
        "### Test example-based F1 of other rules from the same scores to tags",
        "",
        "| rule | " + " | ".join(f"{n} F1" for n in names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for rule in rules[names[0]]:
        cells = [
            f"{100 * example_based_metrics(test_truth, rules[n][rule][0])['F1']:.1f}{rules[n][rule][1]}"
            for n in names
        ]
        lines.append(f"| {rule} | " + " | ".join(cells) + " |")
    return lines


def breakdown(parts, labels, scores, validation_scores, thresholds) -> str:
    test = parts["test"]
    truth = multi_hot(test, labels).astype(bool)
    counts = multi_hot(parts["train"], labels).sum(0)
    predicted = {name: predictions_at_threshold(scores[name], thresholds[name]) for name in scores}
    names = list(scores)
    lines = summary_table(truth, scores, thresholds) + [
        "### Per label, by training frequency "
        "(micro P / R / F1 over the labels in the bucket, tuned threshold)",
        "",
        "| training documents per label | labels | gold tags in test | "
        + " | ".join(f"{n} P / R / F1" for n in names)
        + " |",
        "|---|---|---|" + "---|" * len(names),
    ]
    for low, high in FREQUENCY_BUCKETS:
        columns = np.flatnonzero((counts >= low) & (counts <= high))
        if len(columns) == 0:
            continue
        cells = [" / ".join(f"{100 * v:.1f}" for v in label_f1(truth, predicted[n], columns)) for n in names]
        span = f"{low}+" if high >= 10**9 else f"{low}-{high}"
        lines.append(
            f"| {span} | {len(columns)} | {int(truth[:, columns].sum())} | " + " | ".join(cells) + " |"
        )

    lengths = np.array([len(to_plain_text(d.content).split()) for d in test])
    right = {n: top_is_right(truth, scores[n]) for n in names}
    lines += [
        "",
        "### P@1 by content length (words of plain text; the networks read at most 10 sentences of 30 words)",
        "",
        "| content words | documents | " + " | ".join(f"{n} P@1" for n in names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for low, high in LENGTH_BUCKETS:
        rows = (lengths >= low) & (lengths <= high)
        if rows.any():
            span = f"{low}+" if high >= 10**9 else f"{low}-{high}"
            lines.append(
                f"| {span} | {int(rows.sum())} | "
                + " | ".join(f"{100 * right[n][rows].mean():.1f}" for n in names)
                + " |"
            )

    texts = [f"{to_plain_text(d.title)} {to_plain_text(d.content)}".lower() for d in test]
    written = np.zeros_like(truth)
    for row, text in enumerate(texts):
        for column in np.flatnonzero(truth[row]):
            written[row, column] = written_in_text(labels[column], text)
    lines += [
        "",
        "### Recall of gold tags whose name is or is not written in the title or content (tuned threshold)",
        "",
        "| gold tag | count | " + " | ".join(f"{n} recall" for n in names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for title, mask in (("name in the text", written), ("name not in the text", truth & ~written)):
        lines.append(
            f"| {title} | {int(mask.sum())} | "
            + " | ".join(f"{100 * (predicted[n] & mask).sum() / max(mask.sum(), 1):.1f}" for n in names)
            + " |"
        )

    lines += threshold_table(
        truth, multi_hot(parts["validation"], labels).astype(bool), scores, validation_scores, thresholds
    )
    if len(names) >= 2:
        first, second = names[:2]
        lines += [
            "",
            "### Who gets the top tag right (test documents)",
            "",
            f"| both | only {first} | only {second} | neither |",
            "|---|---|---|---|",
            f"| {int((right[first] & right[second]).sum())} | {int((right[first] & ~right[second]).sum())} | "
            f"{int((~right[first] & right[second]).sum())} | {int((~right[first] & ~right[second]).sum())} |",
        ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--output")
    arguments = parser.parse_args()
    predictor = Predictor.from_checkpoint(arguments.checkpoint)
    parts = split_parts(predictor, Path(arguments.data))
    labels = list(predictor.labels)
    network = predictor.metadata.model_config.variation
    svm = TfidfClassifier("svm-linear", seed=1).fit(
        [document_text(d) for d in parts["train"]], multi_hot(parts["train"], labels)
    )
    texts = {part: [document_text(d) for d in parts[part]] for part in ("validation", "test")}
    validation_scores = {
        network: predictor.predict_proba_batch([(d.title, d.content) for d in parts["validation"]]),
        "svm-linear": svm.predict_proba(texts["validation"]),
    }
    validation_truth = multi_hot(parts["validation"], labels)
    thresholds = {
        network: predictor.threshold,
        "svm-linear": tune_threshold(validation_truth, validation_scores["svm-linear"])[0],
    }
    scores = {
        network: predictor.predict_proba_batch([(d.title, d.content) for d in parts["test"]]),
        "svm-linear": svm.predict_proba(texts["test"]),
    }
    weight, validation_scores["blend"], scores["blend"] = blend(validation_truth, validation_scores, scores)
    thresholds["blend"] = tune_threshold(validation_truth, validation_scores["blend"])[0]
    text = (
        f"Generated {date.today()} on {platform.machine()}, command: python {' '.join(sys.argv)}\n\n"
        f"{network} ({arguments.checkpoint}) against the TF-IDF uni+bigram linear SVM, "
        f"{len(parts['test'])} test documents, {len(labels)} labels. "
        f"blend = {weight:.2f} x {network} + {1 - weight:.2f} x svm-linear probabilities "
        "(weight and threshold tuned on validation).\n\n"
        f"{breakdown(parts, labels, scores, validation_scores, thresholds)}\n"
    )
    print(text)
    if arguments.output:
        Path(arguments.output).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
