"""What a training costs here: epoch rate, preparation and SVM fit time per document (the app's estimate).

Trains the app's recommended settings (jman_core.options.RECOMMENDED: JMAN-s, hidden 100, embeddings 100,
batch 128, blended with the SVM) for a few epochs on the first documents of a dataset, on the CPU with the
threads a training started from the app gets (limits.training_threads: one core of two stays free for the
page server), with a fresh word2vec cache so that its training is counted, and saving a checkpoint. Prints
the measured rates beside the constants jman_core.options holds, which estimated_seconds uses.

    python bench/training_rate.py [--data ../shared/datasets/stackexchange/crypto.csv.zip]
                                  [--documents 5000] [--epochs 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY_ROOT))

from jman_core import options  # noqa: E402
from jman_core.data import read_documents  # noqa: E402
from jman_core.experiment import train_documents  # noqa: E402
from jman_core.limits import current_limits  # noqa: E402
from jman_core.training import Callbacks  # noqa: E402

DEFAULT_DATA = REPOSITORY_ROOT.parent / "shared" / "datasets" / "stackexchange" / "crypto.csv.zip"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="a dataset file (title, content, tags)")
    parser.add_argument("--documents", type=int, default=5000, help="the first this many documents are read")
    parser.add_argument("--epochs", type=int, default=2, help="epochs trained (no early stop in so few)")
    arguments = parser.parse_args()

    threads = current_limits().training_threads
    torch.set_num_threads(threads)
    base = options.recommended_config()
    documents = read_documents(arguments.data, base.data)[: arguments.documents]
    records = []
    with tempfile.TemporaryDirectory() as folder:
        training = replace(
            base.training, num_epochs=arguments.epochs, device="cpu", cache_dir=f"{folder}/cache"
        )
        config = replace(base, training=training)
        started = time.monotonic()
        result = train_documents(
            documents, config, Path(folder) / "model", Callbacks(on_epoch_end=records.append)
        )
        total = time.monotonic() - started
    train = result.statistics["train"]
    epoch_seconds = sum(record.seconds for record in records)
    svm_seconds = result.statistics["linear_seconds"]
    preparation = total - epoch_seconds - svm_seconds
    rate = train * len(records) / epoch_seconds
    print(
        f"{len(documents):,} documents of {Path(arguments.data).name} ({train:,} training), "
        f"{len(records)} epochs, {threads} torch thread(s), {total:.0f} s in all"
    )
    print("| measure | measured | jman_core.options |")
    print("|---|---|---|")
    print(
        f"| training documents per second of an epoch | {rate:.1f} | "
        f"{options.TRAINING_DOCUMENTS_PER_SECOND} |"
    )
    print(
        f"| preparation seconds per document | {preparation / len(documents):.4f} | "
        f"{options.PREPARATION_SECONDS_PER_DOCUMENT} |"
    )
    print(
        f"| SVM fit seconds per training document | {svm_seconds / train:.4f} | "
        f"{options.SVM_SECONDS_PER_DOCUMENT} |"
    )
    estimate = options.estimated_seconds(len(documents), train, len(records))
    print(f"estimated_seconds for this run: {estimate:.0f} s (measured {total:.0f} s)")


if __name__ == "__main__":
    main()
