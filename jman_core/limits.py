"""Resource limits on everything a user can give (files,
fields, texts, checkpoints): defaults < environment."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

from .errors import ConfigError

MEBIBYTE = 1024 * 1024


def _default_training_threads() -> int:
    # One core stays free for the server that serves the pages while a training runs.
    return max(1, (os.cpu_count() or 1) - 1)


@dataclass(frozen=True)
class Limits:
    """Each limit is read from JMAN_<NAME IN CAPITALS> when set (e.g. JMAN_MAX_FIELD_CHARACTERS=2000000)."""

    # Ten times the largest Stack Exchange site we train on (10.8 MB of CSV); a 150 MB CSV in a 0.5 MB zip
    # took the server from 0.75 to 1.6 GB, as about 7 bytes of memory are used per byte of CSV read.
    max_upload_uncompressed_bytes: int = field(
        default=100 * MEBIBYTE, metadata={"help": "bytes a zip may unpack to"}
    )
    max_archive_members: int = field(default=1000, metadata={"help": "entries in a zip archive"})
    # The Stack Exchange bodies reach 22k characters; a field 45 times longer is not a document.
    max_field_characters: int = field(
        default=1_000_000, metadata={"help": "characters in one column of one row"}
    )
    max_document_characters: int = field(default=2_000_000, metadata={"help": "characters in one document"})
    # The network reads 30 title words and 10 sentences of 30 words, a linear part at most a few thousand
    # words: the first 100,000 characters of a title or content hold them with room for heavy HTML.
    max_text_characters: int = field(
        default=100_000, metadata={"help": "characters of a title or content read"}
    )
    max_checkpoint_file_bytes: int = field(
        default=2048 * MEBIBYTE, metadata={"help": "bytes of one checkpoint file"}
    )
    # Title words plus sentences x words per sentence, as a checkpoint's text settings ask to read.
    max_words_read: int = field(
        default=100_000, metadata={"help": "words a checkpoint may read per document"}
    )
    # The REST API (`jman serve`): a request body is read whole before it is parsed, so this bounds the
    # memory of one request; it holds one document of max_document_characters (UTF-8, JSON-escaped) with
    # room to spare.
    max_request_bytes: int = field(default=8 * MEBIBYTE, metadata={"help": "bytes of one API request body"})
    # Annif's suggest-batch takes 32 documents; each of ours is read up to max_text_characters per field.
    max_batch_documents: int = field(
        default=32, metadata={"help": "documents in one API suggest-batch request"}
    )
    training_threads: int = field(
        default_factory=_default_training_threads,
        metadata={"help": "CPU threads of a training started from the app"},
    )


def environment_name(name: str) -> str:
    return f"JMAN_{name.upper()}"


def _from_environment(name: str, default: int) -> int:
    raw = os.environ.get(environment_name(name), "").strip().replace("_", "")
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(
            f"{environment_name(name)}={os.environ[environment_name(name)]!r} is not a whole number "
            "of at least 1; set it to one, or unset it to use the default."
        )
    return int(raw)


def current_limits() -> Limits:
    """The limits now: each default replaced by its environment variable when that is set."""
    defaults = Limits()
    return Limits(
        **{
            item.name: _from_environment(item.name, getattr(defaults, item.name))
            for item in dataclasses.fields(Limits)
        }
    )


def over_limit(what: str, size: int, name: str, unit: str) -> str:
    """The message for a limit exceeded, naming the setting that raises it."""
    limit = getattr(current_limits(), name)
    return (
        f"{what} ({size:,} {unit}) is over the limit of {limit:,} {unit}; make it smaller, "
        f"or raise the limit with the environment variable {environment_name(name)}."
    )
