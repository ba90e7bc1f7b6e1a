"""A battery of bad inputs and faults (issue 17): each gets one clear line, in bounded time and memory, and
nothing is written, lost or executed. Library, command line and app cases, one table each."""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import sys
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
if str(REPOSITORY_ROOT) not in sys.path:
    sys.path.insert(0, str(REPOSITORY_ROOT))

from jman_core.cli import main  # noqa: E402
from jman_core.errors import JmanError  # noqa: E402

SHIPPED_COOKING = REPOSITORY_ROOT / "checkpoints" / "stackexchange-cooking"
HEADER = "id,title,content,tags\n"


class Planted:
    """A pickle whose loading would create `marker`: proof that a file was unpickled."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@dataclass
class Case:
    """`prepare(folder, context)` writes the bad input under `folder` and returns the call to make."""

    name: str
    prepare: Callable
    expect: str  # a piece of the one-line message; "" when the call must succeed
    seconds: float | None = None  # generous bounds, where being bounded is the point
    megabytes: float | None = None


@dataclass
class Context:
    checkpoint: Path
    data_csv: Path
    cache_dir: Path


def snapshot(folder: Path) -> dict[str, int]:
    """Every file under `folder` with its size (links not followed): to show nothing was written or lost."""
    return {
        str(path.relative_to(folder)): (
            path.lstat().st_size if not path.is_dir() or path.is_symlink() else -1
        )
        for path in sorted(folder.rglob("*"))
        if not path.name.endswith(".lock")
    }  # locks hold no data


def assert_one_clean_line(message: str, expect: str) -> None:
    assert message.strip(), "no message"
    assert "\n" not in message.strip(), f"more than one line: {message!r}"
    assert "Traceback" not in message
    assert expect.lower() in message.lower(), f"{expect!r} not in {message!r}"


# ---- building bad inputs ----------------------------------------------------------------------------


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def lying_zip(size: int) -> bytes:
    """A zip whose directory says its member is 10 bytes while it unpacks to `size`."""
    data = bytearray(zip_bytes({"data.csv": (HEADER + "1,t,c,a\n").encode() + b"x" * size}))
    real = len(HEADER) + 8 + size
    data = data.replace(real.to_bytes(4, "little"), (10).to_bytes(4, "little"))
    return bytes(data)


def copy_checkpoint(folder: Path, context: Context) -> Path:
    return Path(shutil.copytree(context.checkpoint, folder / "model"))


def edit_metadata(folder: Path, context: Context, **changes) -> Path:
    target = copy_checkpoint(folder, context)
    document = json.loads((target / "checkpoint.json").read_text(encoding="utf-8"))
    for key, value in changes.items():
        section, _, name = key.partition("__")
        if name:
            document[section][name] = value
        else:
            document[key] = value
    (target / "checkpoint.json").write_text(json.dumps(document), encoding="utf-8")
    return target


def loading(target: Path) -> Callable:
    from jman_core.predict import Predictor

    return lambda: Predictor.from_checkpoint(target).predict("Bread oven", "Knead the dough.")


def reading(path: Path) -> Callable:
    from jman_core.data import read_documents

    return lambda: read_documents(path)


def from_bytes(name: str, data: bytes) -> Callable:
    from jman_core.data import read_documents_from_bytes

    return lambda: read_documents_from_bytes(name, data)


def write(folder: Path, name: str, data: bytes | str) -> Path:
    path = folder / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def link(folder: Path, name: str, target: str) -> Path:
    (folder / name).symlink_to(target)
    return folder / name


def replace_file(
    folder: Path, context: Context, name: str, make: Callable[[Path], None], forget_checksum: bool = False
) -> Callable:
    target = copy_checkpoint(folder, context)
    (target / name).unlink()
    make(target / name)
    if forget_checksum:
        document = json.loads((target / "checkpoint.json").read_text(encoding="utf-8"))
        document.pop("weights_sha256", None)
        document.pop("tokenizer_sha256", None)
        (target / "checkpoint.json").write_text(json.dumps(document), encoding="utf-8")
    return loading(target)


def with_limit(name: str, value: int, make: Callable) -> Callable:
    """Calls `make` with the environment variable JMAN_<name> set (restored afterwards)."""

    def call():
        variable = f"JMAN_{name.upper()}"
        previous = os.environ.get(variable)
        os.environ[variable] = str(value)
        try:
            return make()
        finally:
            os.environ.pop(variable) if previous is None else os.environ.__setitem__(variable, previous)

    return call


def resume_fit(resume: Path, context: Context) -> Callable:
    from jman_core.training import _load_resume

    def call():
        from jman_core.predict import Predictor

        model = Predictor.from_checkpoint(context.checkpoint).model
        optimizer = torch.optim.Adam(model.parameters())
        return _load_resume(path=resume, model=model, optimizer=optimizer, identity="this-run")

    return call


def embeddings(path: Path) -> Callable:
    from jman_core.embeddings import load_word2vec_file

    return lambda: load_word2vec_file(path)


def cached_word2vec(folder: Path) -> Callable:
    """Plants a pickle where the word2vec cache of these
    sentences lives; training must rebuild it, not load it."""
    from jman_core.embeddings import train_word2vec, word2vec_fingerprint

    sentences = [["bread", "oven"], ["dough", "yeast"]] * 3
    (folder / "cache").mkdir()
    planted = folder / "cache" / f"word2vec-{word2vec_fingerprint(sentences, 8, 1, 1)}.npz"
    planted.write_bytes(pickle.dumps(Planted(folder / "MARKER")))
    return lambda: train_word2vec(sentences, 8, 1, 1, cache_dir=folder / "cache")


# ---- the library's table ------------------------------------------------------------------------------


def _cases_data() -> list[Case]:
    big_csv = (HEADER + "1,t,c,a\n").encode() + b"x" * 3_000_000
    return [
        Case(
            "zip unpacking past the limit",
            lambda f, c: with_limit(
                "max_upload_uncompressed_bytes",
                1_000_000,
                from_bytes("bomb.zip", zip_bytes({"data.csv": big_csv})),
            ),
            "over the limit",
            megabytes=6,
        ),
        Case(
            "zip whose header understates its size",
            lambda f, c: with_limit(
                "max_upload_uncompressed_bytes", 1_000_000, from_bytes("liar.zip", lying_zip(3_000_000))
            ),
            "zip",
            megabytes=6,
        ),
        Case(
            "zip with too many entries",
            lambda f, c: with_limit(
                "max_archive_members",
                5,
                from_bytes(
                    "many.zip",
                    zip_bytes({f"n{index}.md": b"x" for index in range(9)} | {"data.csv": b"id,title\n"}),
                ),
            ),
            "entries",
        ),
        Case(
            "zip without a data file",
            lambda f, c: from_bytes("none.zip", zip_bytes({"readme.md": b"x"})),
            "no data file",
        ),
        Case(
            "zip with two data files",
            lambda f, c: from_bytes("two.zip", zip_bytes({"a.csv": b"x", "b.csv": b"y"})),
            "2 data files",
        ),
        Case("not a zip at all", lambda f, c: from_bytes("fake.zip", b"hello"), "not a readable zip"),
        Case(
            "CSV field past the field limit",
            lambda f, c: with_limit(
                "max_field_characters",
                1000,
                from_bytes("big.csv", (HEADER + '1,t,"' + "x" * 5000 + '",a\n').encode()),
            ),
            "line 2",
        ),
        Case(
            "CSV document past the document limit",
            lambda f, c: with_limit(
                "max_document_characters",
                100,
                from_bytes("doc.csv", (HEADER + "1," + "t" * 60 + "," + "c" * 60 + ",a\n").encode()),
            ),
            "the document",
        ),
        Case(
            "JSON lines field past the limit",
            lambda f, c: with_limit(
                "max_field_characters",
                1000,
                from_bytes(
                    "big.jsonl", json.dumps({"title": "t", "content": "x" * 5000, "tags": ["a"]}).encode()
                ),
            ),
            "line 1",
        ),
        Case(
            "JMAN text line past the limit",
            lambda f, c: with_limit(
                "max_document_characters",
                100,
                from_bytes("big.txt", ("t __abstract__ " + "word " * 50 + "__label__ a\n").encode()),
            ),
            "line 1",
        ),
        Case(
            "file in another encoding",
            lambda f, c: from_bytes("latin.csv", (HEADER + "1,caf\xe9,c,a\n").encode("latin-1")),
            "UTF-8",
        ),
        Case(
            "CSV without a tags column",
            lambda f, c: from_bytes("cols.csv", b"id,title,content\n1,t,c\n"),
            "tags",
        ),
        Case("JSON line that is a list", lambda f, c: from_bytes("list.jsonl", b'["a"]\n'), "not an object"),
        Case(
            "JSON line that is not JSON",
            lambda f, c: from_bytes("bad.jsonl", b'{"title": \n'),
            "not valid JSON",
        ),
        Case("unsupported extension", lambda f, c: from_bytes("data.xlsx", b"x"), "unsupported"),
        Case("empty file", lambda f, c: from_bytes("empty.csv", b""), "no documents"),
        Case(
            "a pickle named data.csv",
            lambda f, c: reading(write(f, "data.csv", pickle.dumps(Planted(f / "MARKER")))),
            "UTF-8",
        ),
        Case(
            "data file linked to /dev/zero",
            lambda f, c: reading(link(f, "zero.csv", "/dev/zero")),
            "not a regular file",
            seconds=10,
        ),
        Case(
            "a folder named like a data file",
            lambda f, c: reading(Path(os.makedirs(f / "dir.csv") or f / "dir.csv")),
            "not a regular file",
        ),
        Case(
            "bad limit in the environment",
            lambda f, c: with_limit(
                "max_field_characters",
                "many",
                from_bytes(  # type: ignore[arg-type]
                    "ok.csv", (HEADER + "1,t,c,a\n").encode()
                ),
            ),
            "JMAN_MAX_FIELD_CHARACTERS",
        ),
        Case("lone surrogate in JSON is read as U+FFFD", lambda f, c: _surrogate_read(), ""),
    ]


def _surrogate_read() -> Callable:
    def call():
        from jman_core.data import read_documents_from_bytes

        documents = read_documents_from_bytes(
            "s.jsonl", b'{"title": "a \\udfff b", "content": "c", "tags": ["x\\udfff"]}\n'
        )
        assert documents[0].title == "a \ufffd b" and documents[0].tags == ["x\ufffd"]
        documents[0].title.encode("utf-8")  # what the tokenizer needs

    return call


def _upload_problem(name: str, data: bytes) -> Callable:
    from jman_core.upload import inspect_upload

    def call():
        problems = inspect_upload(name, data).problems
        assert problems, "the upload check found no problem"
        raise JmanError(problems[0])  # the page shows it: checked as one clean line

    return call


def _cases_upload() -> list[Case]:
    return [
        Case(
            "upload check: CSV field past the limit",
            lambda f, c: with_limit(
                "max_field_characters",
                1000,
                _upload_problem("big.csv", (HEADER + '1,t,"' + "x" * 5000 + '",a\n').encode()),
            ),
            "line 2",
        ),
        Case(
            "upload check: zip past the limit",
            lambda f, c: with_limit(
                "max_upload_uncompressed_bytes",
                1000,
                _upload_problem("bomb.zip", zip_bytes({"data.csv": b"x" * 5000})),
            ),
            "over the limit",
        ),
        Case(
            "upload check: not UTF-8",
            lambda f, c: _upload_problem("latin.csv", (HEADER + "1,caf\xe9,c,a\n").encode("latin-1")),
            "UTF-8",
        ),
    ]


def _cases_embeddings() -> list[Case]:
    return [
        Case(
            "--embeddings given a pickle (gensim's native format)",
            lambda f, c: embeddings(write(f, "vectors.kv", pickle.dumps(Planted(f / "MARKER")))),
            "not a word2vec file",
        ),
        Case(
            "--embeddings whose header claims a billion vectors",
            lambda f, c: embeddings(write(f, "vectors.txt", "1000000000 100\nword 0.1\n")),
            "more than its",
            seconds=10,
            megabytes=20,
        ),
        Case(
            "--embeddings linked to /dev/zero",
            lambda f, c: embeddings(link(f, "zero.txt", "/dev/zero")),
            "not a regular file",
            seconds=10,
        ),
        Case("--embeddings missing", lambda f, c: embeddings(f / "absent.txt"), "does not exist"),
        Case(
            "word2vec cache replaced by a pickle is rebuilt, never loaded",
            lambda f, c: cached_word2vec(f),
            "",
        ),
    ]


def _cases_checkpoint() -> list[Case]:
    def fifo(path: Path) -> None:
        os.mkfifo(path)

    return [
        Case(
            "tokenizer linked to /dev/zero",
            lambda f, c: replace_file(f, c, "tokenizer.json", lambda p: p.symlink_to("/dev/zero")),
            "symbolic link",
            seconds=10,
        ),
        Case(
            "weights linked elsewhere",
            lambda f, c: replace_file(
                f, c, "model.safetensors", lambda p: p.symlink_to(c.checkpoint / "model.safetensors")
            ),
            "symbolic link",
        ),
        Case(
            "metadata linked to /dev/zero",
            lambda f, c: replace_file(f, c, "checkpoint.json", lambda p: p.symlink_to("/dev/zero")),
            "symbolic link",
            seconds=10,
        ),
        Case(
            "weights file is a pipe",
            lambda f, c: replace_file(f, c, "model.safetensors", fifo),
            "not a regular file",
            seconds=10,
        ),
        Case(
            "weights file over the size limit",
            lambda f, c: with_limit("max_checkpoint_file_bytes", 1000, loading(copy_checkpoint(f, c))),
            "over the limit",
        ),
        Case(
            "weights replaced by a pickle",
            lambda f, c: replace_file(
                f,
                c,
                "model.safetensors",
                lambda p: p.write_bytes(pickle.dumps(Planted(f / "MARKER"))),
                forget_checksum=True,
            ),
            "could not be loaded",
        ),
        Case(
            "weights truncated",
            lambda f, c: replace_file(
                f,
                c,
                "model.safetensors",
                lambda p: p.write_bytes((c.checkpoint / "model.safetensors").read_bytes()[:1000]),
            ),
            "corrupt or truncated",
        ),
        Case(
            "threshold written as a string",
            lambda f, c: loading(edit_metadata(f, c, threshold="0.5")),
            "threshold",
        ),
        Case("threshold out of range", lambda f, c: loading(edit_metadata(f, c, threshold=7)), "threshold"),
        Case(
            "labels that are not a list",
            lambda f, c: loading(edit_metadata(f, c, labels="cooking astronomy")),
            "labels",
        ),
        Case(
            "label list shorter than the model's outputs",
            lambda f, c: loading(edit_metadata(f, c, labels=["cooking"], label_counts=[1])),
            "tags but the model scores",
        ),
        Case("labels renamed (fingerprint)", lambda f, c: loading(_renamed_labels(f, c)), "fingerprint"),
        Case(
            "text limits that read without bound",
            lambda f, c: loading(edit_metadata(f, c, text_config__max_sentences=10**6)),
            "max_words_read",
        ),
        Case(
            "tokenizer of another model",
            lambda f, c: replace_file(
                f,
                c,
                "tokenizer.json",
                lambda p: p.write_bytes((SHIPPED_COOKING / "tokenizer.json").read_bytes()),
                forget_checksum=True,
            ),
            "from another model",
        ),
        Case(
            "tokenizer edited (checksum)",
            lambda f, c: replace_file(
                f,
                c,
                "tokenizer.json",
                lambda p: p.write_text((c.checkpoint / "tokenizer.json").read_text() + " "),
            ),
            "not the tokenizer this model was saved with",
        ),
        Case(
            "metadata truncated",
            lambda f, c: replace_file(
                f,
                c,
                "checkpoint.json",
                lambda p: p.write_text((c.checkpoint / "checkpoint.json").read_text()[:200]),
            ),
            "corrupt or truncated",
        ),
        Case(
            "metadata of another program",
            lambda f, c: replace_file(f, c, "checkpoint.json", lambda p: p.write_text("[1, 2]")),
            "not written by jman_core",
        ),
        Case(
            "metadata from a newer format",
            lambda f, c: loading(edit_metadata(f, c, format_version=99)),
            "newer",
        ),
        Case("no checkpoint at the path", lambda f, c: loading(f / "absent"), "No checkpoint"),
    ]


def _renamed_labels(folder: Path, context: Context) -> Path:
    target = copy_checkpoint(folder, context)
    document = json.loads((target / "checkpoint.json").read_text(encoding="utf-8"))
    document["labels"] = list(reversed(document["labels"]))
    (target / "checkpoint.json").write_text(json.dumps(document), encoding="utf-8")
    return target


def _cases_resume() -> list[Case]:
    def planted(folder: Path) -> Path:
        torch.save(Planted(folder / "MARKER"), folder / "run.resume.pt")
        return folder / "run.resume.pt"

    def other_run(folder: Path, context: Context) -> Path:
        from jman_core.predict import Predictor
        from jman_core.training import _save_resume, _State

        model = Predictor.from_checkpoint(context.checkpoint).model
        optimizer = torch.optim.Adam(model.parameters())
        _save_resume(
            path=folder / "run.resume.pt",
            model=model,
            optimizer=optimizer,
            state=_State(),
            identity="another-run",
        )
        return folder / "run.resume.pt"

    return [
        Case(
            "resume file holding a planted object",
            lambda f, c: resume_fit(planted(f), c),
            "not a JMAN resume file",
        ),
        Case(
            "resume file truncated",
            lambda f, c: resume_fit(write(f, "run.resume.pt", b"PK\x03\x04 half"), c),
            "truncated",
        ),
        Case("resume file of another run", lambda f, c: resume_fit(other_run(f, c), c), "another run"),
        Case(
            "resume file that is a folder",
            lambda f, c: resume_fit(Path(os.makedirs(f / "r.pt") or f / "r.pt"), c),
            "not a regular file",
        ),
    ]


def _cases_predictor() -> list[Case]:
    def predictor(context: Context):
        from jman_core.predict import Predictor

        return Predictor.from_checkpoint(context.checkpoint)

    def each(context: Context) -> Callable:
        def call():
            results = predictor(context).predict_each(
                [("Bread oven", "Knead."), ("", "  "), ("Star", "\udfff moon")]
            )
            assert [type(result).__name__ for result in results] == [
                "Prediction",
                "DocumentError",
                "Prediction",
            ]

        return call

    def html_text() -> Callable:
        from jman_core.text import to_plain_text

        return lambda: to_plain_text("<p>" + "<a " * 33_334)  # 210 s in html.parser before

    return [
        Case("empty document", lambda f, c: lambda: predictor(c).predict("", "   "), "empty"),
        Case("title that is not text", lambda f, c: lambda: predictor(c).predict(42, "x"), "must be text"),
        Case(
            "evidence for a tag the model lacks",
            lambda f, c: lambda: predictor(c).tag_evidence("t", "c", "no-such-tag"),
            "has no tag",
        ),
        Case(
            "lone surrogate in a document is scored",
            lambda f, c: lambda: predictor(c).explain("a \udfff", "b \ud800 c"),
            "",
        ),
        Case("one empty document among good ones", lambda f, c: each(c), ""),
        Case(
            "20 MB document: only the first characters are read",
            lambda f, c: lambda: predictor(c).explain("A title", "word " * 4_000_000),
            "",
            seconds=30,
            megabytes=150,
        ),
        Case(
            "100 KB of '<a ' (quadratic in html.parser)",
            lambda f, c: html_text(),
            "",
            seconds=10,
            megabytes=30,
        ),
    ]


def _cases_jobs() -> list[Case]:
    def start(folder: Path, context: Context, name: str) -> Callable:
        from jman_core.jobs import start_job

        (folder / "checkpoints").mkdir()
        (folder / "jobs").mkdir()
        copy_checkpoint(folder / "checkpoints", context)
        return lambda: start_job(
            folder / "jobs", name, "tagged.csv", context.data_csv.read_bytes(), {}, folder / "checkpoints"
        )

    return [
        Case(
            "training over an existing model without confirmation",
            lambda f, c: start(f, c, "model"),
            "exists",
        ),
        Case(
            "model name that climbs out of the folder",
            lambda f, c: start(f, c, "../escape"),
            "cannot be a folder name",
        ),
    ]


LIBRARY_CASES = (
    _cases_data()
    + _cases_upload()
    + _cases_embeddings()
    + _cases_checkpoint()
    + _cases_resume()
    + _cases_predictor()
    + _cases_jobs()
)


@pytest.fixture
def context(checkpoint_path, data_csv, cache_dir) -> Context:
    return Context(checkpoint_path, data_csv, cache_dir)


def run_bounded(call: Callable, case: Case):
    """Runs `call` (traced when memory is bounded); returns (error or None, seconds, peak megabytes)."""
    if case.megabytes:
        tracemalloc.start()
    started = time.monotonic()
    error = None
    try:
        call()
    except JmanError as raised:
        error = raised
    finally:
        seconds = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1] / 2**20 if case.megabytes else 0.0
        if case.megabytes:
            tracemalloc.stop()
    return error, seconds, peak


@pytest.mark.parametrize("case", LIBRARY_CASES, ids=[case.name for case in LIBRARY_CASES])
def test_library(case: Case, context: Context, tmp_path: Path):
    folder = tmp_path / "case"
    folder.mkdir()
    call = case.prepare(folder, context)
    before = snapshot(folder)
    error, seconds, peak = run_bounded(call, case)  # any other exception is a crash: the test fails with it
    if case.expect:
        assert error is not None, "no error"
        assert_one_clean_line(str(error), case.expect)
    else:
        assert error is None, str(error)
    assert not (folder / "MARKER").exists(), "a pickle was executed"
    if case.expect:
        assert snapshot(folder) == before, "something was written or removed"
    if case.seconds:
        assert seconds < case.seconds, f"{seconds:.1f} s"
    if case.megabytes:
        assert peak < case.megabytes, f"{peak:.1f} MB at peak"


# ---- the command line's table ------------------------------------------------------------------------


def _cli_cases() -> list[Case]:
    def predict_input(folder: Path, context: Context, name: str, data: bytes) -> list[str]:
        return ["predict", str(context.checkpoint), "--input", str(write(folder, name, data))]

    def train(folder: Path, context: Context, *extra: str) -> list[str]:
        return [
            "train",
            "--data",
            str(context.data_csv),
            "--output",
            str(folder / "out"),
            "--min_label_count",
            "2",
            "--cache_dir",
            str(context.cache_dir),
            "--num_epochs",
            "1",
            "--hidden_size",
            "8",
            "--embedding_dim",
            "8",
            *extra,
        ]

    def foreign_resume(folder: Path) -> Path:
        torch.save({"identity": "someone else's", "model": {}}, folder / ".out.resume.pt")
        return folder

    return [
        Case(
            "predict: no checkpoint",
            lambda f, c: ["predict", str(f / "none"), "--title", "t"],
            "No checkpoint",
        ),
        Case(
            "predict: checkpoint with a string threshold",
            lambda f, c: ["predict", str(edit_metadata(f, c, threshold="high")), "--title", "t"],
            "threshold",
        ),
        Case(
            "predict: tokenizer linked to /dev/zero",
            lambda f, c: (
                replace_file(f, c, "tokenizer.json", lambda p: p.symlink_to("/dev/zero")),
                ["predict", str(f / "model"), "--title", "t"],
            )[1],
            "symbolic link",
            seconds=20,
        ),
        Case(
            "predict: empty document",
            lambda f, c: ["predict", str(c.checkpoint), "--title", "", "--content", " "],
            "empty",
        ),
        Case(
            "predict --input: zip past the limit",
            lambda f, c: predict_input(
                f,
                c,
                "bomb.zip",
                zip_bytes({"data.csv": (HEADER + "1,t,c,a\n").encode() + b"x" * (101 * 2**20)}),
            ),
            "over the limit",
            seconds=30,
        ),
        Case(
            "predict --input: CSV field past the limit",
            lambda f, c: predict_input(
                f, c, "big.csv", (HEADER + '1,t,"' + "x" * 1_100_000 + '",a\n').encode()
            ),
            "line 2",
        ),
        Case(
            "predict --input: linked to /dev/zero",
            lambda f, c: ["predict", str(c.checkpoint), "--input", str(link(f, "zero.csv", "/dev/zero"))],
            "not a regular file",
            seconds=10,
        ),
        Case(
            "predict --input: a pickle",
            lambda f, c: predict_input(f, c, "evil.csv", pickle.dumps(Planted(f / "MARKER"))),
            "UTF-8",
        ),
        Case(
            "train: --embeddings is a pickle",
            lambda f, c: train(
                f, c, "--embeddings", str(write(f, "v.kv", pickle.dumps(Planted(f / "MARKER"))))
            ),
            "not a word2vec file",
        ),
        Case(
            "train: --resume with another run's file",
            lambda f, c: train(foreign_resume(f), c, "--resume"),
            "another run",
        ),
        Case(
            "info: metadata with labels that are not a list",
            lambda f, c: ["info", str(edit_metadata(f, c, labels=7))],
            "labels",
        ),
        Case(
            "evaluate: weights truncated",
            lambda f, c: (
                replace_file(f, c, "model.safetensors", lambda p: p.write_bytes(b"x")),
                ["evaluate", str(f / "model"), "--data", str(c.data_csv)],
            )[1],
            "corrupt",
        ),
    ]


CLI_CASES = _cli_cases()


@pytest.mark.parametrize("case", CLI_CASES, ids=[case.name for case in CLI_CASES])
def test_command_line(case: Case, context: Context, tmp_path: Path, capsys):
    folder = tmp_path / "case"
    folder.mkdir()
    arguments = case.prepare(folder, context)
    before = snapshot(folder)
    capsys.readouterr()
    started = time.monotonic()
    code = main(arguments)
    seconds = time.monotonic() - started
    captured = capsys.readouterr()
    assert code == 2, (code, captured.err)
    assert "Traceback" not in captured.err
    errors = [line for line in captured.err.splitlines() if line.startswith("error:")]  # progress lines aside
    assert len(errors) == 1, captured.err
    assert_one_clean_line(errors[0], case.expect)
    assert not (folder / "MARKER").exists(), "a pickle was executed"
    assert snapshot(folder) == before, "something was written or removed"
    if case.seconds:
        assert seconds < case.seconds


def test_predict_input_names_each_empty_document_and_tags_the_others(
    context: Context, tmp_path: Path, capsys
):
    data = write(
        tmp_path,
        "docs.csv",
        'id,title,content\n1,Bread oven,Knead the dough.\n2,,\n3,Star,"\udfff moon"\n'.encode(
            "utf-8", "surrogatepass"
        ).replace(b"\xed\xbf\xbf", b"?"),
    )
    code = main(["predict", str(context.checkpoint), "--input", str(data)])
    captured = capsys.readouterr()
    assert code == 1
    assert [json.loads(line)["id"] for line in captured.out.splitlines()] == ["1", "3"]
    errors = captured.err.strip().splitlines()
    assert "line 3" in errors[0] and "empty" in errors[0].lower() and "1 of 3" in errors[1]
    assert "Traceback" not in captured.err


# ---- the app's table (AppTest) -------------------------------------------------------------------------


@pytest.fixture
def app_places(tmp_path, monkeypatch, checkpoint_path):
    from streamlit.testing.v1 import AppTest  # noqa: F401 - fail here if Streamlit is missing

    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    shutil.copytree(checkpoint_path, checkpoints / "questions")
    monkeypatch.setenv("JMAN_CHECKPOINTS_DIR", str(checkpoints))
    monkeypatch.setenv("JMAN_JOBS_DIR", str(tmp_path / "jobs"))
    monkeypatch.setenv("JMAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("JMAN_WORKSPACE_DB", str(tmp_path / "workspace.db"))
    return checkpoints, tmp_path / "jobs"


def _app_with(name: str, data: bytes):
    from streamlit.testing.v1 import AppTest

    from app import state

    app = AppTest.from_file(str(REPOSITORY_ROOT / "app" / "streamlit_app.py"), default_timeout=60)
    app.run()
    app.file_uploader(key=state.TRAIN_FILE).set_value((name, data, "text/csv")).run()
    return app


def _messages(app) -> list[str]:
    return [str(element.value) for kind in ("error", "warning") for element in getattr(app, kind)]


SPACE_ROWS = (
    HEADER
    + "".join(f"{n},Title {n},Content {n},bread baking\n" for n in range(1, 51))
    + "51,t,c,bread;baking\n"
)
APP_CASES = [
    (
        "zip past the limit",
        "bomb.zip",
        zip_bytes({"data.csv": (HEADER + "1,t,c,a\n").encode() + b"x" * (101 * 2**20)}),
        "over the limit",
    ),
    (
        "CSV field past the limit",
        "big.csv",
        (HEADER + '1,t,"' + "x" * 1_100_000 + '",a\n').encode(),
        "line 2",
    ),
    (
        "a file named like a Markdown image",
        "![x](http://127.0.0.1:9/x.png).csv",
        b"id,title\n1,t\n",
        "content",
    ),
    (
        "lone surrogate in JSON lines",
        "s.jsonl",
        b'{"title": "a \\udfff", "content": "c", "tags": ["x"]}\n',
        "",
    ),
]


@pytest.mark.parametrize("name, file_name, data, expect", APP_CASES, ids=[case[0] for case in APP_CASES])
def test_app(app_places, name, file_name, data, expect):
    app = _app_with(file_name, data)
    assert not app.exception, app.exception
    messages = _messages(app)
    markdown = "\n".join(
        str(element.value)
        for kind in ("markdown", "subheader", "error", "warning", "caption")
        for element in getattr(app, kind)
    )
    assert "![" not in markdown and "](http" not in markdown, "user text reached Markdown unescaped"
    if expect:
        assert any(expect in message.replace("\\", "") for message in messages), messages
        assert all("Traceback" not in message and "\n" not in message.strip() for message in messages)
    assert not list(app_places[1].glob("*/spec.json")), "a training was started"


def test_app_guesses_the_separator_from_all_rows_and_asks_before_replacing_a_model(app_places):
    from app import state

    app = _app_with("questions.csv", SPACE_ROWS.encode())
    assert not app.exception, app.exception
    assert app.selectbox(key=state.TRAIN_SEPARATOR).value == " "  # one ';' among 51 rows does not win
    assert app.text_input(key=state.TRAIN_NAME).value == "questions"  # the name of the existing model
    assert app.button(key=state.TRAIN_START).disabled
    app.checkbox(key=state.TRAIN_REPLACE).check().run()
    assert not app.button(key=state.TRAIN_START).disabled


def test_battery_has_at_least_sixty_cases():
    assert len(LIBRARY_CASES) + len(CLI_CASES) + len(APP_CASES) + 2 >= 60
