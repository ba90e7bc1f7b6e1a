"""How faithful the network's word evidence is: gradient x input against integrated gradients, by deletion.

    OMP_NUM_THREADS=2 python bench/attribution.py [--checkpoint checkpoints/stackexchange-cooking]
        [--data ../shared/datasets/stackexchange/cooking.csv.zip] [--documents 200] [--steps 16]

For each of the first test documents and the network's best tag, ranks the words read by each method's
evidence, zeroes the word vectors of the k most positive ones, and measures how much the network's logit for
that tag falls (a larger fall: the method found the words the score rests on). Random words are the floor.
Prints a Markdown table of the mean fall for k = 1, 3, 5 and the seconds per document of each method.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from jman_core.data import read_documents, split_documents
from jman_core.predict import Predictor


def logit(model, batch, vectors, label: int) -> torch.Tensor:
    return model(*batch.inputs(), embedded=vectors).logits[0, label]


def gradient_times_input(model, batch, vectors, label: int, steps: int) -> torch.Tensor:
    title, sentences = (vector.detach().requires_grad_(True) for vector in vectors)
    gradients = torch.autograd.grad(logit(model, batch, (title, sentences), label), (title, sentences))
    return flat(gradients[0] * title, gradients[1] * sentences)


def integrated_gradients(model, batch, vectors, label: int, steps: int) -> torch.Tensor:
    """Riemann sum along the straight path from zero vectors (the padding's) to the document's."""
    total = [torch.zeros_like(vector) for vector in vectors]
    for step in range(1, steps + 1):
        scaled = [(vector * step / steps).detach().requires_grad_(True) for vector in vectors]
        gradients = torch.autograd.grad(logit(model, batch, scaled, label), scaled)
        total = [sum_ + gradient for sum_, gradient in zip(total, gradients)]
    return flat(total[0] / steps * vectors[0], total[1] / steps * vectors[1])


def random_words(model, batch, vectors, label: int, steps: int) -> torch.Tensor:
    return torch.rand(vectors[0].shape[1] + vectors[1].shape[1] * vectors[1].shape[2])


def flat(title: torch.Tensor, sentences: torch.Tensor) -> torch.Tensor:
    """(1, T, E), (1, S, W, E) -> (T + S*W,) evidence per word slot."""
    return torch.cat([title.sum(-1).reshape(-1), sentences.sum(-1).reshape(-1)]).detach()


def fall(model, batch, vectors, label: int, evidence: torch.Tensor, k: int) -> float:
    """The logit's fall when the k real word slots of most positive evidence are zeroed."""
    real = torch.cat([batch.title_mask.reshape(-1), batch.word_mask.reshape(-1)])
    order = [index for index in torch.argsort(evidence, descending=True).tolist() if real[index]][:k]
    title, sentences = (vector.clone() for vector in vectors)
    length = title.shape[1]
    for index in order:
        if index < length:
            title[0, index] = 0
        else:
            sentences.view(1, -1, sentences.shape[-1])[0, index - length] = 0
    with torch.no_grad():
        return float(logit(model, batch, vectors, label) - logit(model, batch, (title, sentences), label))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="checkpoints/stackexchange-cooking", type=Path)
    parser.add_argument("--data", default="../shared/datasets/stackexchange/cooking.csv.zip", type=Path)
    parser.add_argument("--documents", default=200, type=int)
    parser.add_argument("--steps", default=16, type=int)
    arguments = parser.parse_args(argv)
    torch.manual_seed(0)
    predictor = Predictor.from_checkpoint(arguments.checkpoint)
    model, metadata = predictor.model, predictor.metadata
    documents = read_documents(arguments.data, metadata.data_config)
    test = split_documents(documents, metadata.data_config, metadata.training_config.seed).test
    methods = {
        "gradient x input": gradient_times_input,
        "integrated gradients": integrated_gradients,
        "random words": random_words,
    }
    falls = {name: {k: [] for k in (1, 3, 5)} for name in methods}
    seconds = dict.fromkeys(methods, 0.0)
    counted = 0
    for document in test[: arguments.documents]:
        try:
            encoded = predictor._encode(document.title, document.content)
        except Exception:  # noqa: BLE001 - an empty document is skipped
            continue
        batch = predictor._batch([encoded])
        with torch.no_grad():
            vectors = (model.embedding(batch.title_ids), model.embedding(batch.sentence_ids))
            label = int(model(*batch.inputs()).logits[0].argmax())
        for name, method in methods.items():
            started = time.perf_counter()
            evidence = method(model, batch, vectors, label, arguments.steps)
            seconds[name] += time.perf_counter() - started
            for k in falls[name]:
                falls[name][k].append(fall(model, batch, vectors, label, evidence, k))
        counted += 1
    print(f"{metadata.name}: {counted} test documents, the network's best tag, {arguments.steps} IG steps\n")
    print("| method | logit fall, k = 1 | k = 3 | k = 5 | ms per document |")
    print("|---|---|---|---|---|")
    for name in methods:
        cells = " | ".join(f"{np.mean(falls[name][k]):.2f}" for k in (1, 3, 5))
        print(f"| {name} | {cells} | {1000 * seconds[name] / max(counted, 1):.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
