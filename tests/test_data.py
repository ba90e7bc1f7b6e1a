"""Tests for jman_core.data: readers, tag normalisation, label filtering, splits and fingerprints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from jman_core.config import DataConfig
from jman_core.data import (
    Document,
    build_label_list,
    count_labels,
    dataset_statistics,
    filter_labels,
    fingerprint,
    normalise_tag,
    read_documents,
    read_documents_from_bytes,
    split_documents,
)
from jman_core.errors import DataError

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
COOKING_ZIP = (
    Path(__file__).resolve().parents[2] / "shared" / "datasets" / "stackexchange" / "cooking.csv.zip"
)

CSV_WITH_NEWLINES = (
    "id,title,content,tags\n"
    '7,"Chewy cookies?","<p>Line one.</p>\n\n<p>He said ""crisp"", not chewy.</p>","baking cookies"\n'
    "8,Plain title,Plain body,eggs\n"
)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def make_documents(ids: range) -> list[Document]:
    return [Document(id=str(number), title=f"t{number}", content="c", tags=["a"]) for number in ids]


# ---------------------------------------------------------------------------------------------------
# Readers


def test_csv_with_embedded_newlines_and_quotes(tmp_path: Path) -> None:
    documents = read_documents(write(tmp_path / "data.csv", CSV_WITH_NEWLINES))
    assert [document.id for document in documents] == ["7", "8"]
    assert documents[0].title == "Chewy cookies?"
    assert documents[0].content == '<p>Line one.</p>\n\n<p>He said "crisp", not chewy.</p>'
    assert documents[0].tags == ["baking", "cookies"]
    assert documents[1].line == 5  # the first record spans lines 2-4


def test_csv_with_byte_order_mark_and_messy_header(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes("\ufeff Title ,CONTENT,Tags\nA,B,x y\n".encode("utf-8"))
    documents = read_documents(path)
    assert documents == [Document(id="1", title="A", content="B", tags=["x", "y"], line=2)]


def test_tsv(tmp_path: Path) -> None:
    documents = read_documents(write(tmp_path / "data.tsv", "id\ttitle\tcontent\ttags\n3\tA, b\tC; d\tx y\n"))
    assert documents == [
        Document(id="3", title="A, b", content="C; d", tags=["x", "y"], line=2, id_given=True)
    ]


def test_jsonl_with_list_tags_and_string_tags(tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": 1, "title": "T1", "content": "C1", "tags": ["Deep Learning", "nlp"]}),
        "",
        json.dumps({"id": 2, "title": "T2", "content": "C2", "tags": "nlp  vision"}),
    ]
    documents = read_documents(write(tmp_path / "data.jsonl", "\n".join(lines) + "\n"))
    assert [document.tags for document in documents] == [["deep-learning", "nlp"], ["nlp", "vision"]]
    assert [document.id for document in documents] == ["1", "2"]
    assert documents[1].line == 3


def test_json_extension_reads_one_object_per_line(tmp_path: Path) -> None:
    documents = read_documents(
        write(tmp_path / "data.json", '{"title": "T", "abstract": "A", "tags": "x"}\n')
    )
    assert documents == [Document(id="1", title="T", content="A", tags=["x"], line=1)]


def test_zip_holding_a_csv(tmp_path: Path) -> None:
    path = tmp_path / "data.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("folder/", "")
        archive.writestr("folder/data.csv", CSV_WITH_NEWLINES)
    documents = read_documents(path)
    assert [document.title for document in documents] == ["Chewy cookies?", "Plain title"]


def test_read_documents_from_bytes_dispatches_on_name() -> None:
    documents = read_documents_from_bytes("upload.tsv", b"title\tcontent\ttags\nA\tB\tc\n")
    assert documents[0].title == "A" and documents[0].tags == ["c"]


def test_jman_text_format_with_and_without_abstract(tmp_path: Path) -> None:
    text = (
        "deep  nets for tags __abstract__ we tag . it works __label__ machine_learning NLP\n"
        "\n"
        "title only __label__ tagging\n"
    )
    documents = read_documents(write(tmp_path / "data.txt", text))
    assert documents[0] == Document(
        id="1",
        title="deep nets for tags",
        content="we tag . it works",
        tags=["machine-learning", "nlp"],
        line=1,
    )
    assert documents[1] == Document(id="3", title="title only", content="", tags=["tagging"], line=3)


@pytest.mark.parametrize("fallback", ["abstract", "body"])
def test_content_column_falls_back_to_abstract_or_body(tmp_path: Path, fallback: str) -> None:
    documents = read_documents(write(tmp_path / "data.csv", f"title,{fallback},tags\nT,the text,x\n"))
    assert documents[0].content == "the text"


def test_content_prefers_abstract_over_body(tmp_path: Path) -> None:
    documents = read_documents(write(tmp_path / "data.csv", "title,body,abstract,tags\nT,B,A,x\n"))
    assert documents[0].content == "A"


def test_custom_column_names_and_separator(tmp_path: Path) -> None:
    config = DataConfig(
        title_column="Headline",
        content_column="Text",
        tags_column="Labels",
        id_column="Key",
        tag_separator="|",
    )
    text = "key,headline,text,labels\nk1,H,T,Machine Learning| deep_learning |\n"
    documents = read_documents(write(tmp_path / "data.csv", text), config)
    assert documents == [
        Document(
            id="k1", title="H", content="T", tags=["machine-learning", "deep-learning"], line=2, id_given=True
        )
    ]


def test_normalise_tag() -> None:
    assert normalise_tag("Machine Learning") == "machine-learning"
    assert normalise_tag("deep_learning") == "deep-learning"
    assert normalise_tag("  __C++ -- Ｔｅｍｐｌａｔｅｓ_ ") == "c++-templates"


def test_duplicate_tags_removed_keeping_order_and_normalisation_optional(tmp_path: Path) -> None:
    path = write(tmp_path / "data.csv", "title,content,tags\nT,C,B_x b-x a B_x\n")
    assert read_documents(path)[0].tags == ["b-x", "a"]
    assert read_documents(path, DataConfig(normalise_tags=False))[0].tags == ["B_x", "b-x", "a"]


# ---------------------------------------------------------------------------------------------------
# Reader errors


def test_missing_column_names_column_and_columns_found(tmp_path: Path) -> None:
    with pytest.raises(DataError) as caught:
        read_documents(write(tmp_path / "data.csv", "id,title,text,tags\n1,T,C,x\n"))
    message = str(caught.value)
    assert "'content'" in message and "id, title, text, tags" in message
    assert "--content_column" in message and "data.csv" in message


def test_custom_content_column_does_not_fall_back(tmp_path: Path) -> None:
    path = write(tmp_path / "data.csv", "title,abstract,tags\nT,C,x\n")
    with pytest.raises(DataError, match="'summary'"):
        read_documents(path, DataConfig(content_column="summary"))


def test_wrong_number_of_fields_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(DataError) as caught:
        read_documents(write(tmp_path / "data.csv", "title,content,tags\nT,C,x\nT,C,x,extra\n"))
    assert caught.value.line == 3 and "4 fields" in str(caught.value)


def test_malformed_json_line_names_the_line(tmp_path: Path) -> None:
    text = '{"title": "T", "content": "C", "tags": ["x"]}\n{"title": "T", "content": \n'
    with pytest.raises(DataError) as caught:
        read_documents(write(tmp_path / "data.jsonl", text))
    assert caught.value.line == 2 and "line 2" in str(caught.value)


def test_json_line_that_is_not_an_object(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="line 1: .*list, not an object"):
        read_documents(write(tmp_path / "data.jsonl", '["T", "C", "x"]\n'))


def test_jman_line_without_label_marker(tmp_path: Path) -> None:
    with pytest.raises(DataError) as caught:
        read_documents(write(tmp_path / "data.txt", "a __abstract__ b __label__ x\nno labels here\n"))
    assert caught.value.line == 2 and "__label__" in str(caught.value)


@pytest.mark.parametrize(
    "name, text", [("empty.csv", ""), ("header.csv", "title,content,tags\n"), ("blank.jsonl", "\n\n")]
)
def test_empty_file(tmp_path: Path, name: str, text: str) -> None:
    with pytest.raises(DataError, match="has no documents") as caught:
        read_documents(write(tmp_path / name, text))
    assert name in str(caught.value)


def test_non_utf8_bytes_name_line_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes("title,content,tags\nCaf\u00e9,C,x\n".encode("latin-1"))
    with pytest.raises(DataError) as caught:
        read_documents(path)
    assert caught.value.line == 2 and "UTF-8" in str(caught.value) and "re-save" in str(caught.value)


def test_zip_with_two_csv_files(tmp_path: Path) -> None:
    path = tmp_path / "data.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.csv", CSV_WITH_NEWLINES)
        archive.writestr("b.csv", CSV_WITH_NEWLINES)
    with pytest.raises(DataError) as caught:
        read_documents(path)
    assert "2 data files" in str(caught.value) and "a.csv, b.csv" in str(caught.value)


def test_zip_without_data_file(tmp_path: Path) -> None:
    path = tmp_path / "data.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.md", "nothing")
    with pytest.raises(DataError, match=r"no data file \(notes.md\)"):
        read_documents(path)


def test_unsupported_extension_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unsupported file type '.xlsx'"):
        read_documents(tmp_path / "data.xlsx")
    with pytest.raises(DataError, match="file not found"):
        read_documents(tmp_path / "absent.csv")


# ---------------------------------------------------------------------------------------------------
# Labels


def test_label_list_and_filter_with_dropped_count() -> None:
    documents = [
        Document(id="1", title="", content="", tags=["a", "b"]),
        Document(id="2", title="", content="", tags=["a", "rare"]),
        Document(id="3", title="", content="", tags=["rare2"]),
        Document(id="4", title="", content="", tags=["b", "a"]),
    ]
    assert count_labels(documents)["a"] == 3
    labels = build_label_list(documents, min_label_count=2)
    assert labels == [("a", 3), ("b", 2)]
    kept, dropped = filter_labels(documents, [label for label, _ in labels])
    assert dropped == 1
    assert [document.tags for document in kept] == [["a", "b"], ["a"], ["b", "a"]]
    assert documents[1].tags == ["a", "rare"]  # the originals are untouched


def test_build_label_list_breaks_ties_by_name() -> None:
    documents = [Document(id="1", title="", content="", tags=["zeta", "alpha"])]
    assert build_label_list(documents, 1) == [("alpha", 1), ("zeta", 1)]


def test_dataset_statistics() -> None:
    documents = [
        Document(id="1", title="", content="", tags=["a", "b"]),
        Document(id="2", title="", content="", tags=["a"]),
        Document(id="3", title="", content="", tags=["c"]),
    ]
    statistics = dataset_statistics(documents, min_label_count=2)
    assert statistics == {
        "documents": 3,
        "distinct_tags": 3,
        "mean_tags_per_document": pytest.approx(4 / 3),
        "labels_kept": 1,
        "documents_without_kept_label": 1,
    }


# ---------------------------------------------------------------------------------------------------
# Splits


def ids(documents: list[Document]) -> list[int]:
    return [int(document.id) for document in documents]


def test_canonical_split_by_id_modulo_ten() -> None:
    split = split_documents(make_documents(range(1, 101)), DataConfig(split="canonical"), seed=0)
    assert ids(split.test) == list(range(10, 101, 10))
    assert ids(split.validation) == list(range(1, 101, 10))
    assert all(number % 10 not in (0, 1) for number in ids(split.train)) and len(split.train) == 80


def test_canonical_kfold_folds_are_disjoint_and_cover_the_non_test_part() -> None:
    documents = make_documents(range(1, 101))
    folds = [
        set(
            ids(
                split_documents(
                    documents, DataConfig(split="canonical", kfold=4, fold=fold), seed=3
                ).validation
            )
        )
        for fold in range(4)
    ]
    non_test = {number for number in range(1, 101) if number % 10 != 0}
    assert set().union(*folds) == non_test
    assert sum(len(fold) for fold in folds) == len(non_test)
    assert all(len(fold) in (22, 23) for fold in folds)
    split = split_documents(documents, DataConfig(split="canonical", kfold=4, fold=1), seed=3)
    assert set(ids(split.train)) == non_test - folds[1] and ids(split.test) == list(range(10, 101, 10))


def test_canonical_split_needs_integer_ids() -> None:
    documents = [Document(id="q-1", title="", content="", tags=["a"], line=2)]
    with pytest.raises(DataError, match="split random"):
        split_documents(documents, DataConfig(split="canonical"), seed=0)


def test_random_split_sizes_and_determinism() -> None:
    documents = make_documents(range(1, 201))
    config = DataConfig(split="random", test_fraction=0.1, validation_fraction=0.2)
    first = split_documents(documents, config, seed=7)
    again = split_documents(documents, config, seed=7)
    other = split_documents(documents, config, seed=8)
    assert (len(first.test), len(first.validation), len(first.train)) == (20, 40, 140)
    assert first == again
    assert ids(first.test) != ids(other.test)
    assert set(ids(first.train + first.validation + first.test)) == set(range(1, 201))


def test_random_split_allows_an_empty_test_part_and_kfold() -> None:
    documents = make_documents(range(1, 31))
    split = split_documents(documents, DataConfig(test_fraction=0.0, kfold=3, fold=2), seed=1)
    assert split.test == [] and len(split.validation) == 10 and len(split.train) == 20


def test_split_is_independent_of_python_hash_seed() -> None:
    program = (
        "from jman_core.config import DataConfig\n"
        "from jman_core.data import Document, split_documents, fingerprint\n"
        "documents = [Document(id=str(i), title='t', content='c', tags=['a']) for i in range(1, 60)]\n"
        "split = split_documents(documents, DataConfig(kfold=3, fold=1), seed=5)\n"
        "print(fingerprint(split.train), fingerprint(split.validation), fingerprint(split.test))\n"
    )
    outputs = set()
    for hash_seed in ("1", "2"):
        environment = dict(os.environ, PYTHONHASHSEED=hash_seed)
        result = subprocess.run(
            [sys.executable, "-c", program],
            cwd=REPOSITORY_ROOT,
            env=environment,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
        outputs.add(result.stdout)
    assert len(outputs) == 1


@pytest.mark.parametrize(
    "config, message",
    [
        (DataConfig(split="stratified"), "random, canonical, predefined"),
        (DataConfig(kfold=3, fold=3), "out of range"),
        (DataConfig(kfold=1), "at least 2"),
        (DataConfig(test_fraction=0.6, validation_fraction=0.5), "fractions"),
    ],
)
def test_split_configuration_errors(config: DataConfig, message: str) -> None:
    with pytest.raises(DataError, match=message):
        split_documents(make_documents(range(1, 51)), config, seed=0)


def test_too_few_documents_for_a_validation_part() -> None:
    with pytest.raises(DataError, match="2 documents give"):
        split_documents(make_documents(range(1, 3)), DataConfig(validation_fraction=0.1), seed=0)
    with pytest.raises(DataError, match="--split random"):
        split_documents(make_documents(range(2, 10)), DataConfig(split="canonical"), seed=0)


# ---------------------------------------------------------------------------------------------------
# Fingerprint and the real data


def test_fingerprint_is_stable_and_sensitive() -> None:
    documents = make_documents(range(1, 5))
    assert fingerprint(documents) == fingerprint(make_documents(range(1, 5)))
    assert len(fingerprint(documents)) == 16
    changed = make_documents(range(1, 5))
    changed[2].tags = ["b"]
    assert fingerprint(changed) != fingerprint(documents)
    assert fingerprint(documents[::-1]) != fingerprint(documents)


def test_stack_exchange_cooking() -> None:
    if not COOKING_ZIP.exists():
        pytest.skip(f"{COOKING_ZIP} is absent (the shared datasets are not checked out)")
    documents = read_documents(COOKING_ZIP)
    assert len(documents) == 15_404
    assert all(document.tags for document in documents)
    split = split_documents(documents, DataConfig(split="canonical"), seed=0)
    assert abs(len(split.test) / len(documents) - 0.1) < 0.01
    assert len(split.train) + len(split.validation) + len(split.test) == len(documents)


# ---------------------------------------------------------------------------------------------------
# Reuters-21578


REUTERS_SAMPLE = b"""<!DOCTYPE lewis SYSTEM "lewis.dtd">
<REUTERS TOPICS="YES" LEWISSPLIT="TRAIN" CGISPLIT="TRAINING-SET" OLDID="1" NEWID="1">
<TOPICS><D>cocoa</D><D>grain</D></TOPICS>
<TEXT>&#2;
<TITLE>BAHIA COCOA &lt;REVIEW&gt;</TITLE>
<BODY>Showers continued throughout
the week in the cocoa zone.
    The dry period means the crop will be late caf\xe9.
 Reuter
&#3;</BODY></TEXT>
</REUTERS>
<REUTERS TOPICS="YES" LEWISSPLIT="TEST" CGISPLIT="TRAINING-SET" OLDID="2" NEWID="2">
<TOPICS><D>grain</D></TOPICS>
<TEXT><TITLE>GRAIN SHIPS</TITLE><BODY>Ships are waiting.</BODY></TEXT>
</REUTERS>
<REUTERS TOPICS="NO" LEWISSPLIT="TRAIN" CGISPLIT="TRAINING-SET" OLDID="3" NEWID="3">
<TOPICS></TOPICS><TEXT><TITLE>NO TOPICS</TITLE><BODY>Skipped.</BODY></TEXT>
</REUTERS>
<REUTERS TOPICS="YES" LEWISSPLIT="NOT-USED" CGISPLIT="TRAINING-SET" OLDID="4" NEWID="4">
<TOPICS><D>earn</D></TOPICS><TEXT><TITLE>UNUSED</TITLE><BODY>Skipped.</BODY></TEXT>
</REUTERS>
"""


def test_reuters_reader_keeps_modapte_documents(tmp_path):
    from jman_core.data import read_reuters

    (tmp_path / "reut2-000.sgm").write_bytes(REUTERS_SAMPLE)
    documents = read_reuters(tmp_path)
    assert [document.id for document in documents] == ["1", "2"]
    first = documents[0]
    assert first.title == "BAHIA COCOA <REVIEW>"
    assert first.tags == ["cocoa", "grain"] and first.part == "train" and documents[1].part == "test"
    # wrapped lines joined, the indented line starts a new paragraph, the latin-1 byte decoded
    assert first.content.split("\n")[0] == "Showers continued throughout the week in the cocoa zone."
    assert "caf\u00e9" in first.content and "&#" not in first.content
    assert read_documents(tmp_path)[0].title == first.title  # a Reuters folder is read by read_documents too


def test_predefined_split_uses_the_source_test_part(tmp_path):
    documents = [
        Document(str(i), "t", "c", ["x"], part="test" if i % 4 == 0 else "train") for i in range(1, 41)
    ]
    split = split_documents(documents, DataConfig(split="predefined", validation_fraction=0.25), seed=3)
    assert {d.id for d in split.test} == {str(i) for i in range(4, 41, 4)}
    assert len(split.validation) == round(0.25 * 30) and len(split.train) == 30 - len(split.validation)
    with pytest.raises(DataError, match="marked as test"):
        split_documents([replace(d, part="train") for d in documents], DataConfig(split="predefined"), seed=3)


def test_real_reuters_modapte_counts():
    from jman_core.data import read_reuters

    folder = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "reuters21578"
    if not folder.exists():
        pytest.skip("../shared/datasets/reuters21578 is not available on this machine")
    documents = read_reuters(folder)
    assert sum(d.part == "train" for d in documents) == 7775
    assert sum(d.part == "test" for d in documents) == 3019


@pytest.mark.parametrize(
    "value, expected",
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcell", "'\tcell"),
        ("\rcell", "'\rcell"),
        ("baking", "baking"),
        ("", ""),
        ("a=b", "a=b"),
    ],
)
def test_spreadsheet_safe_neutralises_formula_starts(value, expected):
    from jman_core.data import spreadsheet_safe

    assert spreadsheet_safe(value) == expected
