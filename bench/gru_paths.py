"""Seconds per training step of the two Bi-GRU paths on this CPU: packed sequences (what the model used
before, and still uses on CUDA) and the padded path it uses on a CPU now. Same weights, same numbers
(tests/test_model.py checks values and gradients); only the time differs.

Run by hand, not by the tests:
    python bench/gru_paths.py                 # JMAN-s and the Bi-GRU baseline, 128 documents a step
    python bench/gru_paths.py --steps 5 --threads 2
A step is forward, backward and an Adam update on one batch of random documents shaped like a Stack
Exchange batch: a 15-word title and 10 sentences of up to 30 words (70% of the slots used).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path
from unittest import mock

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jman_core import model as model_module  # noqa: E402
from jman_core.config import ModelConfig  # noqa: E402

PATHS = {"packed": model_module._packed_bidirectional_gru, "padded": model_module._padded_bidirectional_gru}


def random_batch(batch: int, labels: int, vocabulary: int) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    title_ids = torch.randint(1, vocabulary, (batch, 15))
    sentence_ids = torch.randint(1, vocabulary, (batch, 10, 30))
    word_mask = torch.rand(batch, 10, 30) < 0.7
    inputs = (title_ids, title_ids != 0, sentence_ids * word_mask, word_mask)
    return inputs, (torch.rand(batch, labels) < 0.02).float()


def seconds_per_step(variation: str, path: str, steps: int, batch: int) -> float:
    torch.manual_seed(0)
    config = ModelConfig(variation=variation, vocabulary_size=20_000, num_labels=150)
    network = model_module.build_model(config)
    optimizer = torch.optim.Adam(network.parameters(), lr=0.01)
    inputs, labels = random_batch(batch, config.num_labels, config.vocabulary_size)

    def step() -> None:
        logits = network(*inputs).logits
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    with mock.patch.object(model_module, "_padded_bidirectional_gru", PATHS[path]):
        step()  # the first step allocates
        start = time.perf_counter()
        for _ in range(steps):
            step()
        return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--variations", nargs="+", default=["JMAN-s", "BiGRU"])
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    print(
        f"{platform.machine()}, {arguments.threads} torch thread(s), batch {arguments.batch}, "
        f"mean of {arguments.steps} steps\n"
    )
    print("| network | packed (s/step) | padded (s/step) | speed-up |\n|---|---|---|---|")
    for variation in arguments.variations:
        packed, padded = (
            seconds_per_step(variation, path, arguments.steps, arguments.batch) for path in PATHS
        )
        print(f"| {variation} | {packed:.2f} | {padded:.2f} | {packed / padded:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
