"""Tests for inspecting an uploaded dataset: guessed columns, preview, statistics, problems and warnings."""

from __future__ import annotations

import io
import json
import zipfile

from jman_core.config import DataConfig
from jman_core.upload import guess_separator, inspect_upload


def test_a_good_csv_is_recognised_with_statistics(data_csv):
    report = inspect_upload("tagged.csv", data_csv.read_bytes())
    assert report.problems == [] and report.format == "CSV"
    assert report.guessed == {"title": "title", "content": "content", "tags": "tags", "id": "id"}
    assert len(report.preview) == 5 and set(report.preview[0]) == {"id", "title", "content", "tags"}
    assert report.statistics["documents"] == 240
    assert report.statistics["train"] + report.statistics["validation"] + report.statistics["test"] == 240
    assert report.label_frequencies == sorted(report.label_frequencies, reverse=True)
    assert sum(report.label_frequencies) == round(report.statistics["mean_tags_per_document"] * 240)


def test_other_column_names_and_separators_are_guessed():
    data = b"name,text,labels\n" + b"".join(f"Doc {i},Body {i}.,x|y{i % 2}\n".encode() for i in range(30))
    report = inspect_upload("d.csv", data, None)
    assert report.guessed["title"] == "name" and report.guessed["content"] == "text"
    assert report.guessed["tags"] == "labels" and report.tag_separator == "|"
    assert guess_separator(["a;b", "c;d", "e"]) == ";" and guess_separator(["a b"]) == " "


def test_a_binary_file_named_csv_is_a_problem_not_a_crash():
    report = inspect_upload("picture.csv", b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    assert report.problems and "UTF-8" in report.problems[0]


def test_missing_tags_column_names_the_columns_found():
    report = inspect_upload("d.csv", b"title,content\nA,B\n", DataConfig())
    assert report.problems and "tags" in report.problems[0] and "title" in report.problems[0]


def test_rows_without_tags_or_text_are_reported_by_line():
    rows = ["title,content,tags"] + [f"T{i},C{i},a b" for i in range(40)] + [",,a", "T,C,"]
    report = inspect_upload("d.csv", "\n".join(rows).encode(), DataConfig(min_label_count=1))
    text = " ".join(report.warnings)
    assert "1 document without tags" in text and "line" in text and "42" in text
    assert "neither title nor content" in text


def test_too_few_documents_to_split_is_a_problem():
    report = inspect_upload("d.csv", b"title,content,tags\nA,B,x\nC,D,x\n", DataConfig(min_label_count=1))
    assert any("validation" in problem for problem in report.problems)


def test_jsonl_in_a_zip_and_unknown_extensions():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            "d.jsonl",
            "\n".join(json.dumps({"title": f"t{i}", "body": "b.", "tags": ["x", "y"]}) for i in range(50)),
        )
    report = inspect_upload("d.zip", buffer.getvalue(), None)
    assert report.format == "JSON lines in a zip" and report.guessed["content"] == "body"
    assert report.problems == []
    assert inspect_upload("d.xlsx", b"PK\x03\x04").problems
