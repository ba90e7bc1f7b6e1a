"""How concentrated a checkpoint's attention is on the test part of a dataset: does it spread over the
words and sentences, or collapse onto the first one (which makes the heatmaps of the app say nothing)?

Run by hand, not by the tests:
    python bench/attention_stats.py --checkpoints checkpoints/stackexchange-crypto \\
        --data ../shared/datasets/stackexchange/crypto.csv.zip
    python bench/attention_stats.py --checkpoints old-model new-model --data questions.csv --documents 500
For each attention map it prints, over the test documents: the share of distributions whose largest weight is
on the first position (the first word of the title or of a sentence, the first sentence) and on the last, the
mean largest weight, and the mean entropy as a share of the uniform distribution's (1 = uniform, 0 = all on
one position). Only distributions over two positions or more count. --output writes the table.
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jman_core.data import read_documents, split_documents  # noqa: E402
from jman_core.errors import DocumentError  # noqa: E402
from jman_core.predict import Predictor  # noqa: E402

MAPS = (
    "title_word_attention",
    "sentence_word_attention",
    "original_sentence_attention",
    "title_guided_sentence_attention",
)


def distributions(explanation, name: str) -> list[list[float]]:
    """The distributions of one attention map of one explained document (rows of the sentence-word map)."""
    value = getattr(explanation, name)
    if value is None:
        return []
    return value if name == "sentence_word_attention" else [value]


def concentration(weights: list[float]) -> tuple[bool, bool, float, float]:
    """(peak on the first position, peak on the last, largest weight, entropy / log(positions)) of one
    distribution. The bidirectional states at either end summarise the whole sequence, so a collapsed
    attention lands there."""
    entropy = -sum(weight * math.log(weight) for weight in weights if weight > 0)
    peak = max(range(len(weights)), key=weights.__getitem__)
    return peak == 0, peak == len(weights) - 1, max(weights), entropy / math.log(len(weights))


def checkpoint_rows(checkpoint: str, data: str, limit: int) -> list[str]:
    """One markdown row per attention map of `checkpoint` on the test part of `data`."""
    predictor = Predictor.from_checkpoint(checkpoint)
    metadata = predictor.metadata
    documents = split_documents(
        read_documents(data, metadata.data_config), metadata.data_config, metadata.training_config.seed
    ).test[:limit]
    measured = {name: [] for name in MAPS}
    for document in documents:
        try:
            explanation = predictor.explain(document.title, document.content)
        except DocumentError:
            continue  # an empty document has no attention to measure
        for name in MAPS:
            measured[name] += [
                concentration(weights) for weights in distributions(explanation, name) if len(weights) >= 2
            ]
    rows = []
    for name, values in measured.items():
        if values:
            shares = [sum(value[index] for value in values) / len(values) for index in range(4)]
            rows.append(
                f"| {Path(checkpoint).name} | {name.replace('_', ' ')} | {len(values)} | "
                f"{100 * shares[0]:.0f}% | {100 * shares[1]:.0f}% | {shares[2]:.2f} | {shares[3]:.2f} |"
            )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoints", nargs="+", required=True)
    parser.add_argument(
        "--data", required=True, help="the dataset the checkpoints were trained on (its test part is read)"
    )
    parser.add_argument("--documents", type=int, default=1000, help="at most this many test documents")
    parser.add_argument("--output", default="", help="markdown file to write too")
    arguments = parser.parse_args()
    lines = [
        f"Attention concentration on the test part of {Path(arguments.data).name}, {date.today()}, "
        f"{platform.machine()}, command: python {' '.join(sys.argv)}",
        "",
        "| checkpoint | attention | distributions | peak on the first position | peak on the last "
        "| mean largest weight | entropy / uniform |",
        "|---|---|---|---|---|---|---|",
    ]
    for checkpoint in arguments.checkpoints:
        lines += checkpoint_rows(checkpoint, arguments.data, arguments.documents)
    text = "\n".join(lines) + "\n"
    print(text)
    if arguments.output:
        Path(arguments.output).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
