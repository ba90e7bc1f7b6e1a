"""Dataset readers (CSV, TSV, JSONL, zip, the original JMAN text format), label filtering and splits."""

from __future__ import annotations

import collections
import csv
import dataclasses
import hashlib
import io
import json
import random
import re
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from .config import SPLITS, DataConfig
from .errors import DataError
from .limits import current_limits, environment_name, over_limit
from .text import readable_text, to_plain_text

DATA_EXTENSIONS = (".csv", ".tsv", ".jsonl", ".json", ".txt")
SUPPORTED_EXTENSIONS = DATA_EXTENSIONS + (".zip",)
# Tried in this order when the configured content column is the default "content" and is absent.
CONTENT_FALLBACKS = ("abstract", "body")
TEXT_FORMAT_TITLE_END = "__abstract__"
TEXT_FORMAT_LABELS_START = "__label__"
_TAG_JOINERS = re.compile(r"[\s_\-]+")


@dataclass
class Document:
    """One annotated document; `line` is the 1-based line of the source file where it starts."""

    id: str
    title: str
    content: str
    tags: list[str]
    line: int = 0
    # "train", "validation" or "test" when the source defines its own split (Reuters, CiteULike-a), else ""
    part: str = ""
    id_given: bool = False  # whether `id` came from the file's id column (else it is the row's number)


@dataclass
class Split:
    """The three parts of a dataset; each part keeps the order the documents were read in."""

    train: list[Document]
    validation: list[Document]
    test: list[Document]


# ---------------------------------------------------------------------------------------------------
# Tags


def normalise_tag(tag: str) -> str:
    """NFKC, lower-case, runs of spaces/underscores/hyphens to
    one hyphen: "Machine_Learning" -> "machine-learning"."""
    text = unicodedata.normalize("NFKC", tag).lower().strip()
    return _TAG_JOINERS.sub("-", text).strip("-")


def _clean_tags(tags: list[str], config: DataConfig) -> list[str]:
    """Strips, optionally normalises, drops empty tags and duplicates (keeping the first occurrence)."""
    cleaned = [readable_text(tag).strip() for tag in tags]
    if config.normalise_tags:
        cleaned = [normalise_tag(tag) for tag in cleaned]
    return list(dict.fromkeys(tag for tag in cleaned if tag))


def _split_tag_string(text: str, separator: str) -> list[str]:
    # A whitespace separator splits on any run of whitespace (tabs and newlines included).
    if not separator or not separator.strip():
        return text.split()
    return text.split(separator)


# ---------------------------------------------------------------------------------------------------
# Exports

# A spreadsheet reads a cell starting with one of these as a formula (or, for tab and carriage return,
# strips them and may then read a formula): OWASP's list for CSV injection.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: str) -> str:
    """Returns `value` made inert for a spreadsheet: a leading = + - @ tab or CR gets a "'" in front."""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


# ---------------------------------------------------------------------------------------------------
# Reading files


def read_documents(
    path: str | Path, config: DataConfig | None = None, require_tags: bool = True
) -> list[Document]:
    """Reads a .csv, .tsv, .jsonl/.json, .txt (JMAN text format) or .zip holding one of them.

    With `require_tags=False` (documents to annotate) a missing tags column gives documents without tags.
    """
    path = Path(path)
    if path.is_dir() and any(path.glob("reut2-*.sgm")):
        return read_reuters(path)
    if path.is_dir() and (path / CITEULIKE_TAGS).is_file():
        return read_citeulike(path)
    return read_documents_from_bytes(str(path), read_file_bytes(path), config, require_tags)


def read_file_bytes(path: str | Path) -> bytes:
    """The bytes of a data file of a supported format; a
    missing, unreadable or special file is a DataError."""
    path = Path(path)
    if path.suffix.lower() not in SUPPORTED_EXTENSIONS:
        raise _unsupported_extension(str(path))
    try:
        _check_regular_file(path)
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError("file not found.", path=str(path), fix="check the path.") from None
    except OSError as error:
        raise DataError(f"cannot read the file ({error.strerror}).", path=str(path)) from None


def _check_regular_file(path: Path) -> None:
    """A device, pipe or folder (or a link to one, such as /dev/zero) is never read: it may never end."""
    if path.exists() and not path.is_file():
        raise DataError(
            "not a regular file (a device, a pipe or a folder); it was not read.",
            path=str(path),
            fix="give a data file.",
        )


def read_documents_from_bytes(
    name: str, data: bytes, config: DataConfig | None = None, require_tags: bool = True
) -> list[Document]:
    """Reads the bytes of an uploaded file; `name` picks
    the format by its extension and names it in errors."""
    config = config or DataConfig()
    extension = PurePosixPath(name).suffix.lower()
    if extension == ".zip":
        inner_name, data = read_zip_member(name, data)
        name = f"{inner_name} in {name}"
        extension = PurePosixPath(inner_name).suffix.lower()
    documents = _parse(name, extension, decode_text(name, data), config, require_tags)
    if not documents:
        raise DataError(
            "the file has no documents.",
            path=name,
            fix="check that the file is not empty and holds data rows.",
        )
    return documents


def _parse(
    name: str, extension: str, text: str, config: DataConfig, require_tags: bool = True
) -> list[Document]:
    if extension == ".csv":
        return _parse_delimited(name, text, ",", config, require_tags)
    if extension == ".tsv":
        return _parse_delimited(name, text, "\t", config, require_tags)
    if extension in (".jsonl", ".json"):
        return _parse_json_lines(name, text, config, require_tags)
    if extension == ".txt":
        return _parse_text_format(name, text, config)
    raise _unsupported_extension(name)


def _unsupported_extension(name: str) -> DataError:
    return DataError(
        f"unsupported file type {PurePosixPath(name).suffix or '(no extension)'!r}.",
        path=name,
        fix=f"give a file ending in one of: {', '.join(SUPPORTED_EXTENSIONS)}.",
    )


def decode_text(name: str, data: bytes) -> str:
    """UTF-8 (a leading byte-order mark is accepted); other
    encodings are an error naming the line and byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise DataError(
            f"the file is not valid UTF-8 (byte 0x{data[error.start]:02x} at offset {error.start}).",
            path=name,
            line=line,
            fix="re-save the file as UTF-8 (in a spreadsheet: 'CSV UTF-8').",
        ) from None


def read_zip_member(name: str, data: bytes) -> tuple[str, bytes]:
    """Returns (inner name, bytes) of the one data file in a zip archive, read without extracting.

    At most `max_archive_members` entries and `max_upload_uncompressed_bytes` unpacked bytes: the size in
    the archive's directory is checked first, and the read stops one byte past the limit, so a header
    that lies about the size cannot make it unpack more.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            _check_member_count(name, len(archive.infolist()))
            members = [member for member in archive.namelist() if _is_archive_file(member)]
            data_members = [member for member in members if _is_data_file(member)]
            if len(data_members) != 1:
                raise _zip_content_error(name, members, data_members)
            return data_members[0], _bounded_member(name, archive, archive.getinfo(data_members[0]))
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError, zlib.error) as error:
        raise DataError(
            f"the file is not a readable zip archive ({error}).",
            path=name,
            fix="re-create the archive without a password, or give the data file itself.",
        ) from None


def _check_member_count(name: str, count: int) -> None:
    if count > current_limits().max_archive_members:
        raise DataError(over_limit("the zip archive", count, "max_archive_members", "entries"), path=name)


def _bounded_member(name: str, archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> bytes:
    limit = current_limits().max_upload_uncompressed_bytes
    what = f"{member.filename} unpacked"
    if member.file_size > limit:
        raise DataError(
            over_limit(what, member.file_size, "max_upload_uncompressed_bytes", "bytes"), path=name
        )
    with archive.open(member) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise DataError(
            f"{what} is over the limit of {limit:,} bytes (its header said {member.file_size:,}); "
            f"make it smaller, or raise the limit with {environment_name('max_upload_uncompressed_bytes')}.",
            path=name,
        )
    return data


def _is_archive_file(member: str) -> bool:
    # Folders and the metadata macOS adds to archives are not data.
    base = PurePosixPath(member).name
    return not member.endswith("/") and not member.startswith("__MACOSX/") and not base.startswith("._")


def _is_data_file(member: str) -> bool:
    return PurePosixPath(member).suffix.lower() in DATA_EXTENSIONS


def _zip_content_error(name: str, members: list[str], data_members: list[str]) -> DataError:
    shown = ", ".join(members[:10]) + (f" and {len(members) - 10} more" if len(members) > 10 else "")
    found = f"{len(data_members)} data files" if data_members else "no data file"
    return DataError(
        f"the zip archive holds {found} ({shown or 'nothing'}); it must hold exactly one "
        f"{', '.join(DATA_EXTENSIONS[:-1])} or {DATA_EXTENSIONS[-1]} file.",
        path=name,
        fix="put exactly one data file in the archive, or give the data file itself.",
    )


# ---------------------------------------------------------------------------------------------------
# Columns (shared by CSV, TSV and JSON lines)


def _column_key(name: str) -> str:
    return name.strip().lower()


def _resolve_columns(
    found: list[str], config: DataConfig, name: str, line: int | None, require_tags: bool = True
) -> dict[str, str | None]:
    """Maps title/content/tags/id to the matching key of `found` (keys already lower-cased and stripped)."""
    available = set(found)
    content_candidates = [config.content_column]
    if _column_key(config.content_column) == "content":
        content_candidates += list(CONTENT_FALLBACKS)
    columns: dict[str, str | None] = {
        "title": _find_column([config.title_column], available, found, name, line, "title_column"),
        "content": _find_column(content_candidates, available, found, name, line, "content_column"),
    }
    tags_key = _column_key(config.tags_column)
    if require_tags or tags_key in available:
        columns["tags"] = _find_column([config.tags_column], available, found, name, line, "tags_column")
    id_key = _column_key(config.id_column)
    columns["id"] = id_key if id_key in available else None
    return columns


def _find_column(
    candidates: list[str], available: set[str], found: list[str], name: str, line: int | None, flag: str
) -> str:
    for candidate in candidates:
        if _column_key(candidate) in available:
            return _column_key(candidate)
    expected = " or ".join(repr(candidate) for candidate in candidates)
    raise DataError(
        f"no column {expected}; columns found: {', '.join(found) or 'none'}.",
        path=name,
        line=line,
        fix=f"rename the column or pass --{flag} NAME.",
    )


# ---------------------------------------------------------------------------------------------------
# CSV and TSV


def _parse_delimited(
    name: str, text: str, delimiter: str, config: DataConfig, require_tags: bool = True
) -> list[Document]:
    rows = csv_rows(name, text, delimiter)
    header = next(rows, None)
    if header is None:
        return []
    header_line, header_fields = header
    found = [_column_key(field) for field in header_fields]
    columns = _resolve_columns(found, config, name, header_line, require_tags)
    positions = {role: found.index(key) for role, key in columns.items() if key is not None}
    documents = []
    for line, fields in rows:
        if len(fields) != len(found):
            raise _field_count_error(name, line, len(fields), len(found), delimiter)
        values = {role: fields[position] for role, position in positions.items()}
        try:
            documents.append(_document_from_values(values, len(documents) + 1, line, config))
        except ValueError as error:
            raise DataError(str(error), path=name, line=line) from None
    return documents


def csv_rows(name: str, text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Yields (first line of the record, fields) for every non-blank record; a field over
    `max_field_characters` is an error naming its line (the upload check reads CSV with this too)."""
    limit = current_limits().max_field_characters
    csv.field_size_limit(limit)  # the csv module's limit is global: every reader here sets it first
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    next_line = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            if "field limit" in str(error):
                raise DataError(
                    f"a field is over the limit of {limit:,} characters.",
                    path=name,
                    line=next_line,
                    fix="make it shorter, or raise the limit with "
                    f"{environment_name('max_field_characters')}.",
                ) from None
            raise DataError(
                f"the record cannot be parsed as CSV ({error}).", path=name, line=next_line
            ) from None
        line, next_line = next_line, reader.line_num + 1
        if fields:
            yield line, fields


def _field_count_error(name: str, line: int, count: int, expected: int, delimiter: str) -> DataError:
    shown = "a tab" if delimiter == "\t" else repr(delimiter)
    return DataError(
        f"the record has {count} fields but the header has {expected}.",
        path=name,
        line=line,
        fix=f"quote fields that contain {shown} or a quote, or remove the extra {shown}.",
    )


def _document_from_values(values: dict[str, Any], row_number: int, line: int, config: DataConfig) -> Document:
    """Builds a Document from the raw values of one record (keys: title, content, tags, optional id)."""
    raw_id = values.get("id")
    return checked_size(
        Document(
            id=str(row_number) if raw_id is None else _as_text(raw_id).strip(),
            id_given=raw_id is not None,
            title=_as_text(values["title"]),
            content=_as_text(values["content"]),
            tags=_clean_tags(_as_tag_list(values.get("tags"), config), config),
            line=line,
        )
    )


def checked_size(document: Document) -> Document:
    """`document`, or a ValueError when a field is over `max_field_characters` or the whole over
    `max_document_characters` (each reader turns it into a DataError naming the file and line)."""
    limits = current_limits()
    for what, value in (("title", document.title), ("content", document.content), ("id", document.id)):
        if len(value) > limits.max_field_characters:
            raise ValueError(over_limit(f"the {what}", len(value), "max_field_characters", "characters"))
    size = len(document.title) + len(document.content) + sum(len(tag) for tag in document.tags)
    if size > limits.max_document_characters:
        raise ValueError(over_limit("the document", size, "max_document_characters", "characters"))
    return document


def _as_text(value: Any) -> str:
    return "" if value is None else readable_text(str(value))


def _as_tag_list(value: Any, config: DataConfig) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return _split_tag_string(value, config.tag_separator)
    if isinstance(value, list) and all(isinstance(tag, (str, int, float)) for tag in value):
        return [str(tag) for tag in value]
    raise ValueError(f"tags must be a list of strings or a string, got {json.dumps(value)[:80]}")


# ---------------------------------------------------------------------------------------------------
# JSON lines


def _parse_json_lines(name: str, text: str, config: DataConfig, require_tags: bool = True) -> list[Document]:
    documents = []
    # Not splitlines(): JSON strings may hold U+2028, which splitlines() would treat as a line end.
    for line, raw in enumerate(text.split("\n"), start=1):
        if raw.strip():
            record = _json_object(name, line, raw)
            documents.append(
                _document_from_json(name, line, record, len(documents) + 1, config, require_tags)
            )
    return documents


def _json_object(name: str, line: int, raw: str) -> dict[str, Any]:
    fix = 'write one JSON object per line, e.g. {"title": "...", "content": "...", "tags": ["a", "b"]}.'
    try:
        record = json.loads(raw)
    except json.JSONDecodeError as error:
        raise DataError(f"the line is not valid JSON ({error.msg}).", path=name, line=line, fix=fix) from None
    if not isinstance(record, dict):
        raise DataError(
            f"the line holds a JSON {type(record).__name__}, not an object.", path=name, line=line, fix=fix
        )
    return record


def _document_from_json(
    name: str,
    line: int,
    record: dict[str, Any],
    row_number: int,
    config: DataConfig,
    require_tags: bool = True,
) -> Document:
    by_key: dict[str, Any] = {}
    for key, value in record.items():
        by_key.setdefault(_column_key(key), value)
    columns = _resolve_columns(list(by_key), config, name, line, require_tags)
    values = {role: by_key[key] for role, key in columns.items() if key is not None}
    try:
        return _document_from_values(values, row_number, line, config)
    except ValueError as error:
        raise DataError(f"{str(error).rstrip('.')}.", path=name, line=line) from None


# ---------------------------------------------------------------------------------------------------
# The original JMAN text format: "title words __abstract__ content words __label__ tag1 tag2"


def _parse_text_format(name: str, text: str, config: DataConfig) -> list[Document]:
    documents = []
    for line, raw in enumerate(text.split("\n"), start=1):
        if raw.strip():
            documents.append(_parse_text_format_line(name, line, raw, config))
    return documents


def _parse_text_format_line(name: str, line: int, raw: str, config: DataConfig) -> Document:
    if TEXT_FORMAT_LABELS_START not in raw:
        raise DataError(
            f"the line has no {TEXT_FORMAT_LABELS_START} marker.",
            path=name,
            line=line,
            fix=f"end each line with '{TEXT_FORMAT_LABELS_START} tag1 tag2', "
            "or use a CSV file with title, content and tags columns.",
        )
    text_part, labels_part = raw.split(TEXT_FORMAT_LABELS_START, 1)
    title_part, _, content_part = readable_text(text_part).partition(TEXT_FORMAT_TITLE_END)
    document = Document(
        id=str(line),
        title=" ".join(title_part.split()),
        content=" ".join(content_part.split()),
        tags=_clean_tags(labels_part.split(), config),
        line=line,
    )
    try:
        return checked_size(document)
    except ValueError as error:
        raise DataError(str(error), path=name, line=line) from None


# ---------------------------------------------------------------------------------------------------
# Labels


def count_labels(documents: list[Document]) -> collections.Counter[str]:
    """How many documents carry each tag."""
    counts: collections.Counter[str] = collections.Counter()
    for document in documents:
        counts.update(dict.fromkeys(document.tags, 1))
    return counts


def build_label_list(train_documents: list[Document], min_label_count: int) -> list[tuple[str, int]]:
    """(label, count) for tags used at least `min_label_count` times, by count descending then name."""
    counts = count_labels(train_documents)
    kept = [(label, count) for label, count in counts.items() if count >= min_label_count]
    return sorted(kept, key=lambda item: (-item[1], item[0]))


def filter_labels(documents: list[Document], labels: set[str] | list[str]) -> tuple[list[Document], int]:
    """Copies of the documents with only known labels; documents left with none are dropped and counted."""
    known = set(labels)
    kept = []
    for document in documents:
        tags = [tag for tag in document.tags if tag in known]
        if tags:
            kept.append(dataclasses.replace(document, tags=tags))
    return kept, len(documents) - len(kept)


# ---------------------------------------------------------------------------------------------------
# Splits


def split_documents(documents: list[Document], config: DataConfig, seed: int) -> Split:
    """Train/validation/test parts by `config.split` ("canonical" or "random"), optionally k-fold."""
    _check_fold(config)
    if config.split == "canonical":
        test, rest, validation = _canonical_parts(documents)
    elif config.split == "random":
        test, rest, validation = _random_parts(documents, config, seed)
    elif config.split == "predefined":
        test, rest, validation = _predefined_parts(documents, config, seed)
    else:
        raise DataError(f"unknown split {config.split!r}.", fix=f"choose one of: {', '.join(SPLITS)}.")
    if config.kfold != -1:
        validation = _kfold_validation(rest, config.kfold, config.fold, seed)
    split = _assemble(documents, test, validation)
    _check_parts(split, len(documents), config)
    return split


def _check_fold(config: DataConfig) -> None:
    if config.kfold == -1:
        return
    if config.kfold < 2:
        raise DataError(
            f"kfold must be -1 (one validation part) or at least 2, got {config.kfold}.",
            fix="pass --kfold -1 or --kfold N with N >= 2.",
        )
    if not 0 <= config.fold < config.kfold:
        raise DataError(
            f"fold {config.fold} is out of range for kfold {config.kfold}.",
            fix=f"pass a fold from 0 to {config.kfold - 1}.",
        )


def _canonical_parts(documents: list[Document]) -> tuple[set[int], list[int], set[int]]:
    """Indices of (test, non-test, validation): test id % 10 == 0, validation id % 10 == 1."""
    numbers = [_integer_id(document) for document in documents]
    test = {index for index, number in enumerate(numbers) if number % 10 == 0}
    rest = [index for index in range(len(documents)) if index not in test]
    validation = {index for index in rest if numbers[index] % 10 == 1}
    return test, rest, validation


def _integer_id(document: Document) -> int:
    try:
        return int(document.id)
    except ValueError:
        raise DataError(
            f"the canonical split needs integer ids, but the document at line {document.line} has id "
            f"{document.id!r}.",
            fix="use --split random, or give the documents integer ids.",
        ) from None


def _random_parts(
    documents: list[Document], config: DataConfig, seed: int
) -> tuple[set[int], list[int], set[int]]:
    """Indices of (test, non-test, validation) from one seeded shuffle: test first, then validation."""
    _check_fractions(config)
    order = list(range(len(documents)))
    random.Random(seed).shuffle(order)
    test_size = round(config.test_fraction * len(documents))
    validation_size = round(config.validation_fraction * len(documents))
    rest = order[test_size:]
    return set(order[:test_size]), rest, set(rest[:validation_size])


def _predefined_parts(
    documents: list[Document], config: DataConfig, seed: int
) -> tuple[set[int], list[int], set[int]]:
    """The source's own test part (Document.part == "test"); validation a seeded fraction of the rest."""
    test = {index for index, document in enumerate(documents) if document.part == "test"}
    if not test:
        raise DataError(
            "the predefined split needs documents marked as test; none are.",
            fix="use --split random or canonical for this file.",
        )
    rest = [index for index in range(len(documents)) if index not in test]
    validation = {index for index in rest if documents[index].part == "validation"}
    if validation:  # the source names its validation part too (CiteULike-a's canonical split)
        return test, rest, validation
    random.Random(seed).shuffle(rest)
    validation_size = round(config.validation_fraction * len(rest))
    return test, sorted(rest), set(rest[:validation_size])


def _check_fractions(config: DataConfig) -> None:
    validation_fraction = config.validation_fraction if config.kfold == -1 else 0.0
    valid = 0 <= config.test_fraction < 1 and 0 <= validation_fraction < 1
    if not valid or config.test_fraction + validation_fraction >= 1:
        raise DataError(
            f"test_fraction {config.test_fraction} and validation_fraction {config.validation_fraction} "
            "must each be in [0, 1) and leave documents to train on.",
            fix="pass fractions such as --test_fraction 0.1 --validation_fraction 0.1.",
        )


def _kfold_validation(rest: list[int], kfold: int, fold: int, seed: int) -> set[int]:
    """The `fold`-th of `kfold` folds: a seeded shuffle of the non-test indices dealt round-robin."""
    order = sorted(rest)
    random.Random(seed).shuffle(order)
    return set(order[fold::kfold])


def _assemble(documents: list[Document], test: set[int], validation: set[int]) -> Split:
    split = Split(train=[], validation=[], test=[])
    for index, document in enumerate(documents):
        if index in test:
            split.test.append(document)
        elif index in validation:
            split.validation.append(document)
        else:
            split.train.append(document)
    return split


def _check_parts(split: Split, count: int, config: DataConfig) -> None:
    if split.train and split.validation:
        return
    if config.split == "canonical" and config.kfold == -1:
        fix = "use --split random, or --kfold N for cross-validation over the non-test part."
    else:
        fix = "add documents, or use fewer folds / a larger validation_fraction."
    raise DataError(
        f"{count} documents give {len(split.train)} training and {len(split.validation)} validation "
        "documents; both parts must be non-empty.",
        fix=fix,
    )


# ---------------------------------------------------------------------------------------------------
# Summaries


def fingerprint(documents: list[Document]) -> str:
    """First 16 hex digits of a sha256 over ids, titles, contents and tags in order; stable across runs."""
    digest = hashlib.sha256()
    for document in documents:
        record = [document.id, document.title, document.content, document.tags]
        digest.update(json.dumps(record, ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()[:16]


def dataset_statistics(documents: list[Document], min_label_count: int) -> dict[str, Any]:
    """Document and tag counts, and how many labels and documents survive `min_label_count`."""
    counts = count_labels(documents)
    kept = {label for label, count in counts.items() if count >= min_label_count}
    total_tags = sum(len(document.tags) for document in documents)
    return {
        "documents": len(documents),
        "distinct_tags": len(counts),
        "mean_tags_per_document": total_tags / len(documents) if documents else 0.0,
        "labels_kept": len(kept),
        "documents_without_kept_label": sum(
            1 for document in documents if not kept.intersection(document.tags)
        ),
    }


def multi_hot(documents: list[Document], labels: list[str]) -> np.ndarray:
    """(N, L) float32 matrix: 1 where document n carries label l; tags outside `labels` are ignored."""
    index = {label: position for position, label in enumerate(labels)}
    matrix = np.zeros((len(documents), len(labels)), dtype=np.float32)
    for row, document in enumerate(documents):
        matrix[row, [index[tag] for tag in document.tags if tag in index]] = 1.0
    return matrix


# ---------------------------------------------------------------------------------------------------
# Reuters-21578 (SGML), ModApte split

_REUTERS_ARTICLE = re.compile(r"<REUTERS([^>]*)>(.*?)</REUTERS>", re.DOTALL)
_REUTERS_CONTROL = re.compile(r"&#(?:[1-9]|[12][0-9]|3[01]);")


def _sgml_field(body: str, name: str) -> str:
    match = re.search(rf"<{name}>(.*?)</{name}>", body, re.DOTALL)
    return match.group(1) if match else ""


def _reuters_text(text: str) -> str:
    """Entities decoded, control entities removed, wrapped lines joined (indented lines start paragraphs)."""
    import html

    text = _REUTERS_CONTROL.sub("", text)
    text = re.sub(r"\n(?=\s{2,}\S)", "\n\n", text)
    paragraphs = [" ".join(paragraph.split()) for paragraph in text.split("\n\n")]
    return html.unescape("\n".join(paragraph for paragraph in paragraphs if paragraph))


def read_reuters(folder: str | Path) -> list[Document]:
    """Reuters-21578's ModApte documents (TOPICS="YES", LEWISSPLIT TRAIN or TEST, at least one topic),
    with `part` set to "train" or "test" for `split="predefined"`. Files are read as latin-1 (one byte
    of reut2-017.sgm is not UTF-8)."""
    folder = Path(folder)
    files = sorted(folder.glob("reut2-*.sgm"))
    if not files:
        raise DataError("no reut2-*.sgm files.", path=str(folder), fix="give the Reuters-21578 folder.")
    documents = []
    for file in files:
        for match in _REUTERS_ARTICLE.finditer(file.read_text(encoding="latin-1")):
            attributes, body = match.groups()
            split = re.search(r'LEWISSPLIT="(\w+)"', attributes)
            if 'TOPICS="YES"' not in attributes or not split or split.group(1) not in ("TRAIN", "TEST"):
                continue
            topics = re.findall(r"<D>(.*?)</D>", _sgml_field(body, "TOPICS"))
            if not topics:
                continue
            identifier = re.search(r'NEWID="(\d+)"', attributes)
            documents.append(
                Document(
                    identifier.group(1) if identifier else str(len(documents) + 1),
                    _reuters_text(_sgml_field(body, "TITLE")),
                    _reuters_text(_sgml_field(body, "BODY")),
                    topics,
                    part=split.group(1).lower(),
                )
            )
    return documents


# ---------------------------------------------------------------------------------------------------
# CiteULike-a (Wang, Chen & Li 2013): every title, the abstracts of a subset, raw user tags

CITEULIKE_TAGS = "item-tag.dat"
CITEULIKE_TAG_NAMES = "tags.dat"
CITEULIKE_TITLES = "partial-topicmodelsvb-titles/citeutitles.txt"
CITEULIKE_ABSTRACTS = "partial-hebatef-citeulike-CDL/raw-data.csv"
CITEULIKE_TEST = "test-articles.txt"
_LATEX_SYMBOLS = {
    "textless": "<",
    "textgreater": ">",
    "textendash": "-",
    "textemdash": "-",
    "&": "&",
    "%": "%",
    "_": "_",
    "$": "$",
    "#": "#",
}
_LATEX_COMMAND = re.compile(r"\\+([a-zA-Z]+|[&%_$#])")
_LATEX_ACCENT = re.compile(r"\\+[\'\"^`~=.vcuH]\{?([a-zA-Z])\}?")


def bibtex_text(text: str) -> str:
    """BibTeX-style text made plain: accents to their letter ({\\'a} -> a), \\& -> &, \\textless -> <,
    other commands to their name (\\mu -> mu), braces removed, spaces collapsed."""
    text = _LATEX_ACCENT.sub(r"\1", text.replace("\\{", "").replace("\\}", ""))
    text = _LATEX_COMMAND.sub(lambda match: _LATEX_SYMBOLS.get(match.group(1), match.group(1)), text)
    return " ".join(text.replace("{", "").replace("}", "").replace("\\", " ").split())


def read_citeulike(folder: str | Path) -> list[Document]:
    """CiteULike-a's 16,980 articles (id = 0-based article index): every title, the abstract where the
    partial raw-data.csv has one (its rows mapped by title, in order), tags normalised by `normalise_tag`.
    `part` follows the canonical split: "test" for test-articles.txt, "validation" for index % 10 == 1
    among the rest, else "train" (use it with split="predefined")."""
    folder = Path(folder)
    try:
        titles = (folder / CITEULIKE_TITLES).read_text(encoding="utf-8").split("\n")[:-1]
        tag_names = (folder / CITEULIKE_TAG_NAMES).read_text(encoding="utf-8").split("\n")
        tag_lines = (folder / CITEULIKE_TAGS).read_text(encoding="utf-8").split("\n")
        test = {int(line) for line in (folder / CITEULIKE_TEST).read_text(encoding="utf-8").split()}
        abstracts = _citeulike_abstracts(folder / CITEULIKE_ABSTRACTS, titles)
    except (OSError, ValueError) as error:
        raise DataError(
            f"cannot read the CiteULike-a folder ({error}).",
            path=str(folder),
            fix="give the citeulike-a folder of ../shared/datasets, unchanged.",
        ) from None
    singular = plural_tag_merges(tag_names)
    documents = []
    for index, title in enumerate(titles):
        tags = [tag_names[int(number)] for number in tag_lines[index].split()[1:]]
        part = "test" if index in test else "validation" if index % 10 == 1 else "train"
        cleaned = list(dict.fromkeys(singular.get(tag, tag) for tag in map(normalise_tag, tags) if tag))
        documents.append(
            Document(str(index), bibtex_text(title), abstracts.get(index, ""), cleaned, index + 1, part, True)
        )
    return documents


def data_note(path: str | Path) -> str:
    """What a reader did to a source beyond reading it, for the model card ("" for an ordinary file)."""
    path = Path(path)
    if not (path.is_dir() and (path / CITEULIKE_TAGS).is_file()):
        return ""
    merges = plural_tag_merges((path / CITEULIKE_TAG_NAMES).read_text(encoding="utf-8").split("\n"))
    return (
        "CiteULike-a: titles of all 16,980 articles, abstracts for the 1,903 of the partial raw-data.csv "
        "matched by title, BibTeX braces and escapes removed. Raw user tags unified for case, '_', '-' and "
        f"spaces; besides, {len(merges):,} plural tags were merged into their singular when both are tags "
        "(networks -> network), because users wrote both for one subject and neither can be learned from the "
        "other; no other merge (no stemming, no synonyms)."
    )


def plural_tag_merges(tag_names: list[str]) -> dict[str, str]:
    """{plural: singular} for normalised tags ending in "s" whose singular is also a tag ("networks" ->
    "network", "gene-networks" -> "gene-network"); -ss, -us, -is and -ics endings are left alone
    ("analysis", "genomics" are not plurals)."""
    names = {normalise_tag(name) for name in tag_names}
    return {
        name: name[:-1]
        for name in names
        if len(name) > 3
        and name[-2].isalpha()
        and not name.endswith(("ss", "us", "is", "ics"))
        and name.endswith("s")
        and name[:-1] in names
    }


def _citeulike_abstracts(path: Path, titles: list[str]) -> dict[int, str]:
    """{article index: abstract} for the rows of the partial raw-data.csv, each matched to the first article
    with the same title after the previous match (the rows are an order-preserving subset)."""
    positions: dict[str, list[int]] = collections.defaultdict(list)
    for index, title in enumerate(titles):
        positions[" ".join(title.split())].append(index)
    abstracts, last = {}, -1
    for row in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"), newline="")):
        later = [index for index in positions.get(" ".join(row["raw.title"].split()), []) if index > last]
        if later and row["raw.abstract"].strip():
            last = later[0]
            abstracts[last] = bibtex_text(row["raw.abstract"])
    return abstracts


def split_and_filter(
    documents: list[Document], config: DataConfig, seed: int
) -> tuple[Split, list[tuple[str, int]], dict[str, Any]]:
    """Plain-text documents split as configured, keeping labels used at least min_label_count times in the
    training part and dropping documents left without one: (split, [(label, count)], statistics). The one
    split-and-filter step of training, the baselines, `evaluate` and bench/."""
    plain = [
        dataclasses.replace(d, title=to_plain_text(d.title), content=to_plain_text(d.content))
        for d in documents
    ]
    split = split_documents(plain, config, seed)
    label_list = build_label_list(split.train, config.min_label_count)
    if not label_list:
        raise DataError(
            f"No tag is used at least {config.min_label_count} times in the training part "
            f"({len(split.train)} documents).",
            fix="lower --min_label_count or give more documents.",
        )
    labels = [label for label, _ in label_list]
    parts, dropped = {}, {}
    for name in ("train", "validation", "test"):
        parts[name], dropped[name] = filter_labels(getattr(split, name), labels)
    if not parts["train"] or not parts["validation"]:
        raise DataError(
            "After keeping only frequent labels, the training or validation part is empty "
            f"({len(parts['train'])} training, {len(parts['validation'])} validation documents).",
            fix="give more documents, lower --min_label_count, or raise --validation_fraction.",
        )
    split = Split(parts["train"], parts["validation"], parts["test"])
    statistics = {
        "train": len(split.train),
        "validation": len(split.validation),
        "test": len(split.test),
        "dropped_without_label": sum(dropped.values()),
        "dropped_by_part": dropped,
        "labels": len(labels),
    }
    return split, label_list, statistics
