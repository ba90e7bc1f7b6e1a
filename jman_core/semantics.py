"""Label relations for the regularisers of equation 6: the
similarity matrix Sim and the subsumption matrix Sub."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .data import Document, normalise_tag
from .errors import DataError


@dataclass
class LabelPairReport:
    """Where a Sim or Sub matrix came from and what was found (for the model card and the closing log)."""

    source: str
    pairs: int
    skipped_rows: list[str] = field(default_factory=list)  # "line N: reason", at most 20 kept
    unmatched_rows: int = 0  # rows whose labels are not among the model's labels


def label_similarity(
    documents: Sequence[Document],
    labels: Sequence[str],
    dimension: int = 100,
    seed: int = 42,
    threshold: float = 0.0,
    epochs: int = 20,
) -> np.ndarray:
    """Sim (L, L): cosine similarity of skip-gram label embeddings learned from the documents' tag sets.

    Each document's tag list is one "sentence" (window covering the whole set), as the authors did.
    Negative cosines and entries below `threshold` become 0; the diagonal is 1.
    """
    from gensim.models import Word2Vec

    from .embeddings import stable_hash

    known = set(labels)
    sentences = [[tag for tag in document.tags if tag in known] for document in documents]
    sentences = [sentence for sentence in sentences if len(sentence) > 1]
    similarity = np.eye(len(labels), dtype=np.float32)
    if not sentences:
        return similarity
    model = Word2Vec(
        sentences=sentences,
        vector_size=dimension,
        sg=1,
        window=10,
        min_count=1,
        workers=1,
        seed=seed,
        epochs=epochs,
        hashfxn=stable_hash,
    )
    vectors = np.zeros((len(labels), dimension), dtype=np.float32)
    present = np.zeros(len(labels), dtype=bool)
    for index, label in enumerate(labels):
        if label in model.wv.key_to_index:
            vectors[index] = model.wv[label]
            present[index] = True
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    cosine = unit @ unit.T
    cosine[~present] = 0.0
    cosine[:, ~present] = 0.0
    cosine[cosine < max(threshold, 0.0)] = 0.0
    np.fill_diagonal(cosine, 1.0)
    return cosine.astype(np.float32)


def _csv_rows(path: Path, option: str) -> list[tuple[int, list[str]]]:
    """The non-blank rows of a UTF-8 CSV of label pairs, with their 1-based line numbers."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise DataError("file not found.", path=str(path), fix=f"check the path given to {option}.") from None
    except UnicodeDecodeError:
        raise DataError(
            "the file is not UTF-8 text.", path=str(path), fix="re-save it as UTF-8 CSV."
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    return [
        (line, row) for line, row in enumerate(reader, start=1) if row and any(cell.strip() for cell in row)
    ]


def _read_label_pairs(path: str | Path, labels: Sequence[str], normalise: bool, option: str, row_value):
    """(L, L) matrix from a CSV of `label,label,...` rows: `row_value(row)` returns (value or None to skip
    the row, problem text or ""). Bad rows are reported by line, rows naming unknown labels are counted."""
    path = Path(path)
    index = {label: position for position, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=np.float32)
    report = LabelPairReport(source=path.name, pairs=0)
    for line, row in _csv_rows(path, option):
        value, problem = row_value(row)
        if problem:
            if len(report.skipped_rows) < 20:
                report.skipped_rows.append(f"line {line}: {problem}")
            continue
        if value is None:
            continue
        first, second = (normalise_tag(cell) if normalise else cell.strip() for cell in row[:2])
        if first in index and second in index and first != second:
            matrix[index[first], index[second]] = value
        else:
            report.unmatched_rows += 1
    return matrix, report


def read_knowledge_base(
    path: str | Path, labels: Sequence[str], normalise: bool = True
) -> tuple[np.ndarray, LabelPairReport]:
    """Sub (L, L) from a CSV of `hyponym,hypernym` or `hyponym,hypernym,true|false` rows (only true used).

    Sub[j, k] = 1 when label j is a child (hyponym) of label k. Labels are matched after the same
    normalisation as tags. Malformed rows are skipped and reported.
    """
    subsumption, report = _read_label_pairs(path, labels, normalise, "--knowledge_base", _knowledge_base_row)
    report.pairs = int(subsumption.sum())
    return subsumption, report


def _knowledge_base_row(row: list[str]) -> tuple[float | None, str]:
    if len(row) not in (2, 3):
        return None, f"expected 2 or 3 fields (hyponym,hypernym[,true|false]), found {len(row)}"
    if not row[0].strip() or not row[1].strip():
        return None, "empty label"
    if len(row) == 3 and row[2].strip().lower() not in ("true", "false"):
        return None, f"third field must be true or false, not {row[2].strip()!r}"
    return (None if len(row) == 3 and row[2].strip().lower() == "false" else 1.0), ""


def read_similarity_file(
    path: str | Path, labels: Sequence[str], normalise: bool = True, threshold: float = 0.0
) -> tuple[np.ndarray, LabelPairReport]:
    """Sim (L, L) from a CSV of `label,label,similarity` rows (similarity in [0, 1]), used symmetrically.

    Pairs not in the file are 0, the diagonal is 1, and values below `threshold` become 0. Labels are
    matched after the same normalisation as tags; malformed rows are skipped and reported.
    """
    matrix, report = _read_label_pairs(path, labels, normalise, "--similarity_file", _similarity_row)
    similarity = np.maximum(matrix, matrix.T)
    similarity[similarity < threshold] = 0.0
    np.fill_diagonal(similarity, 1.0)
    report.pairs = similarity_pairs(similarity) // 2
    return similarity, report


def _similarity_row(row: list[str]) -> tuple[float | None, str]:
    if len(row) != 3:
        return None, f"expected 3 fields (label,label,similarity), found {len(row)}"
    if not row[0].strip() or not row[1].strip():
        return None, "empty label"
    try:
        value = float(row[2])
    except ValueError:
        if row[2].strip().lower() == "similarity":
            return None, ""  # a header row
        return None, f"similarity must be a number, not {row[2].strip()!r}"
    if not 0.0 <= value <= 1.0:
        return None, f"similarity must be between 0 and 1, not {value:g}"
    return value, ""


def infer_subsumption(
    documents: Sequence[Document],
    labels: Sequence[str],
    min_confidence: float = 0.6,
    min_support: int = 5,
) -> tuple[np.ndarray, LabelPairReport]:
    """Sub (L, L) inferred from the training tags when no knowledge base is given.

    Rule: child -> parent when (1) they co-occur in at least `min_support` documents, (2) at least
    `min_confidence` of the documents tagged with the child also carry the parent, and (3) the parent
    is used more often than the child (the more general tag is the more frequent one).
    """
    index = {label: position for position, label in enumerate(labels)}
    counts = np.zeros(len(labels), dtype=np.float64)
    together: Counter[tuple[int, int]] = Counter()
    for document in documents:
        present = sorted({index[tag] for tag in document.tags if tag in index})
        counts[present] += 1
        for first in present:
            for second in present:
                if first != second:
                    together[(first, second)] += 1
    subsumption = np.zeros((len(labels), len(labels)), dtype=np.float32)
    for (child, parent), count in together.items():
        if (
            count >= min_support
            and count / counts[child] >= min_confidence
            and counts[parent] > counts[child]
        ):
            subsumption[child, parent] = 1.0
    report = LabelPairReport(
        source=f"inferred from training tags (support >= {min_support}, confidence >= {min_confidence})",
        pairs=int(subsumption.sum()),
    )
    return subsumption, report


def similarity_pairs(similarity: np.ndarray) -> int:
    """Number of off-diagonal non-zero entries (what a sparse Sim stores)."""
    return int(np.count_nonzero(similarity) - np.count_nonzero(np.diag(similarity)))
