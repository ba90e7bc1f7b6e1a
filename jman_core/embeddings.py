"""Word embeddings: skip-gram word2vec (gensim) trained on the training documents, or a user's file."""

from __future__ import annotations

import hashlib
import os
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import ConfigError


def stable_hash(word: str) -> int:
    """A hash that does not change with PYTHONHASHSEED, so word2vec's initial vectors are reproducible."""
    return zlib.crc32(word.encode("utf-8"))


def word2vec_fingerprint(sentences: Sequence[Sequence[str]], dimension: int, epochs: int, seed: int) -> str:
    digest = hashlib.sha256(f"{dimension}|{epochs}|{seed}".encode())
    for sentence in sentences:
        digest.update(" ".join(sentence).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()[:16]


def default_cache_dir() -> Path:
    return Path(os.environ.get("JMAN_CACHE_DIR", Path.home() / ".cache" / "jman"))


def train_word2vec(
    sentences: Sequence[Sequence[str]],
    dimension: int = 100,
    epochs: int = 5,
    seed: int = 42,
    cache_dir: str | Path | None = None,
    workers: int = 1,
):
    """Skip-gram word2vec (gensim KeyedVectors) on tokenised sentences, cached by a data fingerprint.

    One worker keeps it deterministic for a given seed.
    """
    from gensim.models import KeyedVectors, Word2Vec

    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    cache_file = cache / f"word2vec-{word2vec_fingerprint(sentences, dimension, epochs, seed)}.kv"
    if cache_file.exists():
        try:
            return KeyedVectors.load(str(cache_file))
        except Exception:  # a damaged cache entry is rebuilt, never trusted
            cache_file.unlink(missing_ok=True)
    model = Word2Vec(
        sentences=[list(sentence) for sentence in sentences if sentence],
        vector_size=dimension, sg=1, window=5, min_count=1, workers=workers, seed=seed,
        epochs=epochs, hashfxn=stable_hash,
    )
    vectors = model.wv
    try:
        cache.mkdir(parents=True, exist_ok=True)
        temporary = cache_file.with_suffix(f".tmp{os.getpid()}")
        vectors.save(str(temporary))
        os.replace(temporary, cache_file)
    except OSError:
        pass  # the cache is an optimisation; a read-only home still trains
    return vectors


def load_word2vec_file(path: str | Path):
    """A user's word2vec file: gensim's native format, or word2vec text/binary format."""
    from gensim.models import KeyedVectors

    path = Path(path)
    if not path.exists():
        raise ConfigError(f"Embedding file {path} does not exist. Give a word2vec file or use 'word2vec'/'random'.")
    attempts = (
        lambda: KeyedVectors.load(str(path)),
        lambda: KeyedVectors.load_word2vec_format(str(path), binary=False),
        lambda: KeyedVectors.load_word2vec_format(str(path), binary=True),
    )
    for attempt in attempts:
        try:
            return attempt()
        except Exception:
            continue
    raise ConfigError(
        f"{path} is not a word2vec file gensim can read (native, text or binary word2vec format)."
    )


def embedding_matrix(vocabulary: list[str], vectors, dimension: int, seed: int) -> tuple[np.ndarray, int]:
    """(V, E) float32 matrix: word2vec vectors where known, small random vectors elsewhere, row 0 zero.

    Returns the matrix and how many vocabulary words had a pre-trained vector.
    """
    generator = np.random.default_rng(seed)
    matrix = generator.uniform(-0.1, 0.1, size=(len(vocabulary), dimension)).astype(np.float32)
    found = 0
    if vectors is not None:
        if vectors.vector_size != dimension:
            raise ConfigError(
                f"The embedding file has {vectors.vector_size}-dimensional vectors but the model expects "
                f"{dimension}. Set --embedding_dim {vectors.vector_size}."
            )
        for index, word in enumerate(vocabulary):
            if index > 1 and word in vectors.key_to_index:
                matrix[index] = vectors[word]
                found += 1
    matrix[0] = 0.0
    return matrix, found
