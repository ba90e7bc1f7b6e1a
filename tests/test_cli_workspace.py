"""`jman workspace`: import a file as a collection (scored
by a model), list, export, train on reviewed documents."""

from __future__ import annotations

import csv
import json
import re

import pytest

from jman_core.cli import main
from jman_core.data import read_documents
from jman_core.workspace import Workspace, forget_stores


@pytest.fixture
def database(tmp_path) -> str:
    yield f"sqlite:///{tmp_path / 'cli.sqlite'}"
    forget_stores()


def review_every_document(database: str, name: str, curator: str = "ann") -> None:
    """Accepts each document's gold tags and marks it reviewed, as a curator would in the queue."""
    workspace = Workspace.open(database)
    collection = workspace.find_collection(name)
    for document in workspace.documents(collection.id):
        workspace.decide_many(
            document.id, curator, [(tag, "accept", None) for tag in document.gold_tags], status="reviewed"
        )


def test_import_scores_list_and_export_round_trip(database, data_csv, checkpoint_path, tmp_path, capsys):
    assert (
        main(
            [
                "workspace",
                "import",
                str(data_csv),
                "--name",
                "synthetic",
                "--model",
                str(checkpoint_path),
                "--database",
                database,
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "Collection 'synthetic'" in out and "240 documents" in out and "Scored by" in out
    # how many read unlike the training documents, as the stored checks count them
    unlike = re.search(r"(\d+) of (\d+) scored document\(s\) read unlike", out)
    assert unlike, out
    store = Workspace.open(database)
    collection = store.find_collection("synthetic")
    [model] = store.models_for(collection.id)
    checks = store.domain_checks(collection.id, model)
    assert (int(unlike[1]), int(unlike[2])) == (sum(check.unusual for check in checks.values()), len(checks))
    assert len(checks) == 240
    review_every_document(database, "synthetic")
    assert main(["workspace", "list", "--database", database]) == 0
    assert "| synthetic | 240 | 240 | ann |" in capsys.readouterr().out
    exported = tmp_path / "reviews.csv"
    assert (
        main(
            [
                "workspace",
                "export",
                "synthetic",
                "--format",
                "csv",
                "--output",
                str(exported),
                "--database",
                database,
            ]
        )
        == 0
    )
    documents = read_documents(exported)
    source = read_documents(data_csv)
    assert [(document.id, document.tags) for document in documents] == [
        (document.id, document.tags) for document in source
    ], "the CSV trains as it is, its unlike_training column aside"
    with exported.open(encoding="utf-8", newline="") as handle:
        flags = [row["unlike_training"] for row in csv.DictReader(handle)]
    assert set(flags) <= {"yes", "no"} and flags.count("no") > 0.9 * len(flags), (
        "import stored each document's domain check; the model's own documents read like its training"
    )
    assert main(["workspace", "export", "synthetic", "--curator", "ann", "--database", database]) == 0
    first = json.loads(capsys.readouterr().out.splitlines()[0])
    assert first["status"] == "reviewed" and first["curator"] == "ann" and first["suggested_tags"]
    assert first["unlike_training"] in (True, False)


def test_train_on_reviewed_documents_compares_with_the_old_model_on_held_out_ones(
    database, data_csv, checkpoint_path, tmp_path, capsys
):
    main(["workspace", "import", str(data_csv), "--name", "synthetic", "--database", database])
    review_every_document(database, "synthetic")
    output = tmp_path / "retrained"
    code = main(
        [
            "workspace",
            "train",
            "synthetic",
            "--output",
            str(output),
            "--compare",
            str(checkpoint_path),
            "--holdout",
            "0.25",
            "--num_epochs",
            "1",
            "--hidden_size",
            "8",
            "--embedding_dim",
            "8",
            "--embeddings",
            "random",
            "--min_label_count",
            "2",
            "--min_word_frequency",
            "1",
            "--quiet",
            "--device",
            "cpu",
            "--database",
            database,
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert (output / "checkpoint.json").exists()
    assert "held out" in captured.err
    assert "| linear SVM baseline |" in captured.out  # the summary of `jman train`, the baseline beside
    table = captured.out.split("held-out reviewed document(s):")[1]
    assert "| new model |" in table and f"| {checkpoint_path.name} |" in table


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["workspace", "export", "missing"], "No collection 'missing'"),
        (["workspace", "import", "nothing-here.csv"], "file not found"),
        (["workspace", "train", "missing", "--output", "x"], "No collection 'missing'"),
    ],
)
def test_mistakes_give_one_line_and_exit_2(database, arguments, message, capsys):
    assert main([*arguments, "--database", database]) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error and len(error.strip().splitlines()) == 1


def test_too_few_reviewed_documents_are_refused_before_training(database, data_csv, tmp_path, capsys):
    main(["workspace", "import", str(data_csv), "--name", "synthetic", "--database", database])
    assert (
        main(["workspace", "train", "synthetic", "--output", str(tmp_path / "m"), "--database", database])
        == 2
    )
    assert "review at least" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_an_unreachable_database_is_one_line(capsys):
    assert main(["workspace", "list", "--database", "postgresql+psycopg://nobody:pw@127.0.0.1:1/none"]) == 2
    error = capsys.readouterr().err
    assert "Cannot reach the workspace database" in error and "pw" not in error
