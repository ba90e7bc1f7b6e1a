"""Word embeddings: skip-gram word2vec (gensim) trained on the training documents, or a user's file."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
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

    One worker keeps it deterministic for a given seed. The cache holds arrays only (.npz read without
    pickle), so a planted cache file can at worst be rebuilt, never run.
    """
    from gensim.models import Word2Vec

    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    cache_file = cache / f"word2vec-{word2vec_fingerprint(sentences, dimension, epochs, seed)}.npz"
    cached = _read_cache(cache_file, dimension)
    if cached is not None:
        return cached
    model = Word2Vec(
        sentences=[list(sentence) for sentence in sentences if sentence],
        vector_size=dimension,
        sg=1,
        window=5,
        min_count=1,
        workers=workers,
        seed=seed,
        epochs=epochs,
        hashfxn=stable_hash,
    )
    vectors = model.wv
    _write_cache(cache_file, vectors)
    return vectors


def _keyed_vectors(words: list[str], matrix: np.ndarray):
    from gensim.models import KeyedVectors

    vectors = KeyedVectors(vector_size=matrix.shape[1])
    vectors.add_vectors(words, matrix)
    return vectors


def _read_cache(cache_file: Path, dimension: int):
    """The cached vectors, or None when absent or damaged (a damaged entry is rebuilt, never trusted)."""
    if not cache_file.is_file():
        return None
    try:
        with np.load(cache_file, allow_pickle=False) as arrays:
            words = json.loads(arrays["words"].tobytes().decode("utf-8"))
            matrix = np.asarray(arrays["vectors"], dtype=np.float32)
        if matrix.shape != (len(words), dimension) or not all(isinstance(word, str) for word in words):
            raise ValueError("shape")
        return _keyed_vectors(words, matrix)
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError, zipfile.BadZipFile):
        cache_file.unlink(missing_ok=True)
        return None


def _write_cache(cache_file: Path, vectors) -> None:
    words = np.frombuffer(
        json.dumps(list(vectors.index_to_key), ensure_ascii=False).encode("utf-8"), dtype=np.uint8
    )
    temporary = cache_file.with_name(f".{cache_file.stem}.{os.getpid()}.npz")
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        np.savez(temporary, words=words, vectors=np.asarray(vectors.vectors, dtype=np.float32))
        os.replace(temporary, cache_file)
    except OSError:
        temporary.unlink(missing_ok=True)  # the cache is an optimisation; a read-only home still trains


def load_word2vec_file(path: str | Path):
    """A user's word2vec file in the word2vec text or binary format; never gensim's native format, which
    is a pickle and would run code hidden in the file."""
    from gensim.models import KeyedVectors

    path = Path(path)
    _check_embedding_file(path)
    for binary in (False, True):
        try:
            return KeyedVectors.load_word2vec_format(str(path), binary=binary)
        except Exception:  # noqa: BLE001 - gensim raises many kinds for a file in the other format
            continue
    raise ConfigError(
        f"{path} is not a word2vec file in the text or binary format (gensim's own .kv/.model "
        "format is refused: it can run code). Save it with save_word2vec_format."
    )


def _check_embedding_file(path: Path) -> None:
    """Refuses a missing or non-regular file, one over the size limit, and a header whose vectors could not
    fit in the file (gensim would allocate what the header says before reading)."""
    from .limits import current_limits, over_limit

    if not path.exists():
        raise ConfigError(
            f"Embedding file {path} does not exist. Give a word2vec file or use 'word2vec'/'random'."
        )
    if not path.is_file():
        raise ConfigError(
            f"Embedding file {path} is not a regular file (a device, a pipe or a folder); "
            "give a word2vec file."
        )
    size = path.stat().st_size
    if size > current_limits().max_checkpoint_file_bytes:
        raise ConfigError(
            f"Embedding file {path}: " + over_limit("it", size, "max_checkpoint_file_bytes", "bytes")
        )
    with path.open("rb") as handle:
        header = handle.readline(200).split()
    if len(header) != 2 or not all(part.isdigit() for part in header):
        raise ConfigError(
            f"{path} is not a word2vec file: its first line must be '<number of words> <dimension>'."
        )
    count, dimension = int(header[0]), int(header[1])
    if count * dimension > size or dimension == 0:
        raise ConfigError(
            f"{path} says it holds {count:,} vectors of {dimension:,} numbers, more than its "
            f"{size:,} bytes can hold; it is truncated or damaged."
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
