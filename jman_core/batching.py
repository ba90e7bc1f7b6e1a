"""Padded id arrays and batches: what training, the SVM and the Predictor all feed the network."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from .text import PAD_ID


@dataclass
class EncodedDataset:
    """Token ids padded to the configured limits and multi-hot labels, all as numpy arrays."""

    title_ids: np.ndarray  # (N, T) int32
    sentence_ids: np.ndarray  # (N, S, W) int32
    labels: np.ndarray  # (N, L) float32
    content_ids: np.ndarray | None = (
        None  # (N, K) int32, the content beyond the limits, for the linear component
    )

    def __len__(self) -> int:
        return len(self.title_ids)


def pad_documents(
    encoded: list[tuple[list[int], list[list[int]]]], title_length: int, sentences: int, words: int
):
    """[(title ids, sentence ids)] -> title (N, T) and sentence (N, S, W) int32 arrays padded with 0."""
    titles = np.full((len(encoded), max(title_length, 1)), PAD_ID, dtype=np.int32)
    contents = np.full((len(encoded), max(sentences, 1), max(words, 1)), PAD_ID, dtype=np.int32)
    for row, (title_ids, sentence_ids) in enumerate(encoded):
        titles[row, : len(title_ids)] = title_ids[:title_length]
        for index, ids in enumerate(sentence_ids[:sentences]):
            contents[row, index, : len(ids)] = ids[:words]
    return titles, contents


def pad_rows(rows: list[list[int]], length: int) -> np.ndarray:
    """[ids] -> (N, max(length, 1)) int32, each row cut to `length` and padded with 0."""
    padded = np.full((len(rows), max(length, 1)), PAD_ID, dtype=np.int32)
    for row, ids in enumerate(rows):
        padded[row, : min(len(ids), length)] = ids[:length]
    return padded


@dataclass
class Batch:
    title_ids: torch.Tensor  # (B, T)
    title_mask: torch.Tensor  # (B, T)
    sentence_ids: torch.Tensor  # (B, S, W)
    word_mask: torch.Tensor  # (B, S, W)
    labels: torch.Tensor | None  # (B, L); None at prediction time
    content_ids: torch.Tensor | None = None  # (B, K) for a linear component that reads more than the network

    def inputs(self) -> tuple[torch.Tensor, ...]:
        return self.title_ids, self.title_mask, self.sentence_ids, self.word_mask


def make_batch(
    title_ids: np.ndarray,
    sentence_ids: np.ndarray,
    labels: np.ndarray | None,
    device: torch.device,
    content_ids: np.ndarray | None = None,
) -> Batch:
    """Trims the padding to the longest title, sentence count and sentence (and content) of this batch."""
    title_length = max(int((title_ids != PAD_ID).sum(1).max(initial=0)), 1)
    word_present = sentence_ids != PAD_ID  # (B, S, W)
    sentence_count = max(int(word_present.any(-1).sum(1).max(initial=0)), 1)
    word_count = max(int(word_present.sum(-1).max(initial=0)), 1)
    titles = torch.from_numpy(title_ids[:, :title_length].astype(np.int64)).to(device)
    contents = torch.from_numpy(sentence_ids[:, :sentence_count, :word_count].astype(np.int64)).to(device)
    content = None
    if content_ids is not None:
        length = max(int((content_ids != PAD_ID).sum(1).max(initial=0)), 1)
        content = torch.from_numpy(content_ids[:, :length].astype(np.int64)).to(device)
    return Batch(
        titles,
        titles != PAD_ID,
        contents,
        contents != PAD_ID,
        None if labels is None else torch.from_numpy(labels).to(device),
        content,
    )


def iterate_batches(
    dataset: EncodedDataset, indices: np.ndarray, batch_size: int, device: torch.device
) -> Iterator[Batch]:
    """Every index once, in order; the last, smaller batch is kept (the original code dropped it)."""
    for start in range(0, len(indices), batch_size):
        chosen = indices[start : start + batch_size]
        content = dataset.content_ids[chosen] if dataset.content_ids is not None else None
        yield make_batch(
            dataset.title_ids[chosen], dataset.sentence_ids[chosen], dataset.labels[chosen], device, content
        )
