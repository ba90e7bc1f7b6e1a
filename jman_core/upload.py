"""Inspecting an uploaded dataset before training: detected columns, a preview, statistics and problems."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath
from typing import Any

from .config import DataConfig, ExperimentConfig
from .data import (
    Document,
    count_labels,
    csv_rows,
    dataset_statistics,
    decode_text,
    read_documents_from_bytes,
    read_zip_member,
)
from .errors import DataError, JmanError

COLUMN_NAMES = {
    "title": ("title", "question", "subject", "heading", "name", "headline"),
    "content": ("content", "abstract", "body", "text", "description", "question_body", "summary"),
    "tags": ("tags", "labels", "keywords", "categories", "tag", "label", "topics"),
    "id": ("id", "doc_id", "document_id", "question_id", "identifier"),
}
SEPARATORS = {" ": "space", ",": "comma", ";": "semicolon", "|": "pipe"}


@dataclass
class UploadReport:
    """What the page shows for confirmation, and whether training can start."""

    format: str
    columns: list[str]
    guessed: dict[str, str | None]  # role -> column name (None: not found)
    tag_separator: str
    preview: list[dict[str, str]]
    statistics: dict[str, Any] = field(default_factory=dict)
    label_frequencies: list[int] = field(default_factory=list)  # count of every distinct tag, descending
    problems: list[str] = field(default_factory=list)  # stop training
    warnings: list[str] = field(default_factory=list)  # shown, training may go on


def _format_of(name: str) -> str:
    return {
        ".csv": "CSV",
        ".tsv": "TSV",
        ".jsonl": "JSON lines",
        ".json": "JSON lines",
        ".txt": "JMAN text format",
    }.get(PurePosixPath(name).suffix.lower(), "unknown")


def _raw_records(name: str, text: str, limit: int = 200) -> tuple[list[str], list[dict[str, Any]]]:
    """Column names and up to `limit` raw records of a CSV/TSV/JSONL text, for guessing and the preview."""
    suffix = PurePosixPath(name).suffix.lower()
    if suffix in (".csv", ".tsv"):
        rows = csv_rows(name, text, "\t" if suffix == ".tsv" else ",")
        header = next(rows, (0, []))[1]
        records = []
        for _, fields in rows:
            records.append(dict(zip(header, fields)))
            if len(records) >= limit:
                break
        return header, records
    records, columns = [], []
    for line in text.split("\n"):
        if line.strip():
            try:
                record = json.loads(line)
            except ValueError:
                break
            if isinstance(record, dict):
                records.append(record)
                columns += [key for key in record if key not in columns]
            if len(records) >= limit:
                break
    return columns, records


def guess_columns(columns: list[str]) -> dict[str, str | None]:
    lowered = {column.strip().lower(): column for column in columns}
    return {
        role: next((lowered[name] for name in names if name in lowered), None)
        for role, names in COLUMN_NAMES.items()
    }


def guess_separator(values: list[Any]) -> str:
    """The tag separator most rows use: each row votes for the one of | ; , it holds (a space when it holds
    none of them but a space); a row with one tag does not vote. One stray ';' among space-separated rows
    is outvoted, where "any row holds one" used to win."""
    votes: Counter[str] = Counter()
    for value in values:
        if not isinstance(value, str) or not value.strip():
            continue
        found = [separator for separator in ("|", ";", ",") if separator in value]
        if len(found) == 1:
            votes[found[0]] += 1
        elif not found and len(value.split()) > 1:
            votes[" "] += 1
    return votes.most_common(1)[0][0] if votes else " "


def _preview(
    records: list[dict[str, Any]], guessed: dict[str, str | None], rows: int = 5
) -> list[dict[str, str]]:
    preview = []
    for record in records[:rows]:
        row = {}
        for role in ("id", "title", "content", "tags"):
            column = guessed.get(role)
            value = record.get(column, "") if column else ""
            text = ", ".join(map(str, value)) if isinstance(value, list) else str(value or "")
            row[role] = text if len(text) <= 160 else text[:157] + "..."
        preview.append(row)
    return preview


def inspect_upload(
    name: str, data: bytes, config: DataConfig | None = None, experiment: ExperimentConfig | None = None
) -> UploadReport:
    """Detects the columns of an uploaded file and checks it can be trained on with `config`.

    With `config` None, columns and separator are guessed; give the confirmed ones to re-check.
    Never raises for a bad file: problems are listed in the report.
    """
    report = UploadReport(_format_of(name), [], {}, " ", [])
    try:
        inner_name, raw = (name, data)
        if name.lower().endswith(".zip"):
            inner_name, raw = read_zip_member(name, data)
            report.format = f"{_format_of(inner_name)} in a zip"
        text = decode_text(inner_name, raw)
    except DataError as error:
        report.problems.append(str(error))
        return report
    if _format_of(inner_name) == "unknown":
        report.problems.append(
            f"{inner_name}: not a CSV, TSV, JSON lines or JMAN text file (by its extension)."
        )
        return report
    if _format_of(inner_name) != "JMAN text format":
        try:
            report.columns, records = _raw_records(inner_name, text)
        except DataError as error:  # a field over the limit, or CSV that cannot be parsed
            report.problems.append(str(error))
            return report
        report.guessed = guess_columns(report.columns)
        if config is None and report.guessed.get("tags"):
            report.tag_separator = guess_separator([r.get(report.guessed["tags"]) for r in records])
        report.preview = _preview(records, report.guessed)
        if not records:
            report.problems.append(
                f"{inner_name}: no data rows could be read (is it really {report.format}?)."
            )
            return report
    config = config or _config_from_guess(report)
    _check_documents(name, data, config, experiment, report)
    return report


def _config_from_guess(report: UploadReport) -> DataConfig:
    guessed = report.guessed
    return DataConfig(
        title_column=guessed.get("title") or "title",
        content_column=guessed.get("content") or "content",
        tags_column=guessed.get("tags") or "tags",
        id_column=guessed.get("id") or "id",
        tag_separator=report.tag_separator,
    )


def _check_documents(
    name: str, data: bytes, config: DataConfig, experiment: ExperimentConfig | None, report: UploadReport
) -> None:
    try:
        documents = read_documents_from_bytes(name, data, config)
    except DataError as error:
        report.problems.append(str(error))
        return
    report.statistics = dataset_statistics(documents, config.min_label_count)
    report.label_frequencies = sorted(count_labels(documents).values(), reverse=True)
    _row_warnings(documents, report)
    _check_split(documents, config, experiment, report)


def _documents(count: int) -> str:
    return f"{count} document" + ("" if count == 1 else "s")


def _lines(documents: list[Document]) -> str:
    """'line 6' or 'lines 3, 4 and 12 more'."""
    shown = ", ".join(str(document.line) for document in documents[:10])
    more = f" and {len(documents) - 10} more" if len(documents) > 10 else ""
    return ("line " if len(documents) == 1 else "lines ") + shown + more


def _row_warnings(documents: list[Document], report: UploadReport) -> None:
    untagged = [d for d in documents if not d.tags]
    no_title = [d for d in documents if not d.title.strip()]
    no_content = [d for d in documents if not d.content.strip()]
    empty = [d for d in documents if not d.title.strip() and not d.content.strip()]
    if untagged:
        report.warnings.append(
            f"{_documents(len(untagged))} without tags will be left out ({_lines(untagged)})."
        )
    if empty:
        report.warnings.append(
            f"{_documents(len(empty))} with neither title nor content ({_lines(empty)}); "
            "they teach nothing — remove them or fill them in."
        )
    if no_title and len(no_title) > len(empty):
        report.warnings.append(
            f"{_documents(len(no_title))} with an empty title ({_lines(no_title)}); "
            "JMAN reads the title separately, so these rely on their content alone."
        )
    if no_content and len(no_content) > len(empty):
        report.warnings.append(f"{_documents(len(no_content))} with an empty content ({_lines(no_content)}).")


def _check_split(
    documents: list[Document], config: DataConfig, experiment: ExperimentConfig | None, report: UploadReport
) -> None:
    """Splits and filters labels exactly as training will, so 'too few documents or labels' shows now."""
    from .data import split_and_filter

    experiment = experiment or ExperimentConfig()
    experiment = replace(experiment, data=config)
    try:
        _, labels, statistics = split_and_filter(documents, experiment.data, experiment.training.seed)
    except JmanError as error:
        report.problems.append(str(error))
        return
    report.statistics.update(
        {
            "labels_for_training": len(labels),
            "train": statistics["train"],
            "validation": statistics["validation"],
            "test": statistics["test"],
            "dropped_without_label": statistics["dropped_without_label"],
        }
    )
    if len(labels) < 2:
        report.warnings.append(
            f"Only {len(labels)} tag is used at least {config.min_label_count} times: "
            "the model will always suggest it. Lower the minimum label count or add documents."
        )
