"""The curation store, the same tests against SQLite and a real PostgreSQL server started here."""

from __future__ import annotations

import csv
import io
import json
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, event, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import make_rows  # noqa: E402
from postgres_server import PostgresServer, postgres_binaries  # noqa: E402

from jman_core.data import read_documents, read_documents_from_bytes  # noqa: E402
from jman_core.domain import DomainCheck  # noqa: E402
from jman_core.errors import DocumentError  # noqa: E402
from jman_core.workspace import Workspace, WorkspaceError, forget_stores  # noqa: E402
from jman_core.workspace import store as store_module  # noqa: E402
from jman_core.workspace.exports import export_records, to_csv, to_jsonl  # noqa: E402
from jman_core.workspace.learning import compare_models, reviewed_documents, split_reviewed, training_file  # noqa: E402
from jman_core.workspace.queue import bulk_candidates, proposals, queue, unlike_training  # noqa: E402
from jman_core.workspace.scoring import (  # noqa: E402
    check_documents,
    import_file,
    model_fingerprint,
    register_predictor,
    score_collection,
)

FILE = (
    b"id,title,content,tags\n"
    b"q7,Bread is flat,My loaf does not rise,bread\n"
    b"q3,Rice in the fridge,How long is cooked rice safe,food-safety\n"
    b"q9,Cloudy stock,Why is my stock cloudy,stock\n"
)
LABELS = ["bread", "food-safety", "stock", "knives"]


@pytest.fixture(scope="module")
def postgres():
    if postgres_binaries() is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql; .ci/run does it)")
    # not under pytest's temporary folder: as root that is closed to the `postgres` user the server runs as
    folder = Path(tempfile.mkdtemp(prefix="jman-postgres-"))
    server = PostgresServer(folder)
    server.start()
    yield server
    forget_stores()
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'workspace.sqlite'}"
    return request.getfixturevalue("postgres").create_database(f"test_{uuid.uuid4().hex[:10]}")


@pytest.fixture
def workspace(url) -> Workspace:
    yield Workspace.open(url)
    forget_stores()


def a_collection(workspace: Workspace, data: bytes = FILE, name: str = "questions.csv"):
    collection = import_file(workspace, name, data)
    documents = workspace.documents(collection.id)
    model = workspace.scoring_model("tiny", "f" * 16, LABELS)
    rows = [[0.9, 0.2, 0.1, 0.05], [0.3, 0.55, 0.1, 0.2], [0.1, 0.1, 0.48, 0.52]]
    workspace.store_scores(model, {document.id: np.array(row) for document, row in zip(documents, rows)}, 0.5)
    return collection, documents, model


def test_a_file_becomes_a_collection_with_its_ids_in_file_order(workspace):
    collection, documents, _ = a_collection(workspace)
    assert collection.documents == 3 and collection.kind == "file"
    assert [document.source_id for document in documents] == ["q7", "q3", "q9"]
    assert documents[1].gold_tags == ["food-safety"]
    without_ids = import_file(workspace, "plain.csv", b"title,content\nA,one\nB,two\n")
    assert [document.source_id for document in workspace.documents(without_ids.id)] == ["line-2", "line-3"]
    again = import_file(workspace, "questions.csv", FILE)
    assert again.name == "questions.csv (2)", "a second upload of one file gets its own collection"


def test_duplicate_ids_are_reported_by_line_and_nothing_is_written(workspace):
    data = b"id,title,content\n1,A,a\n2,B,b\n1,C,c\n2,D,d\n3,E,e\n"
    with pytest.raises(WorkspaceError, match=r"id '1' on lines 2, 4; id '2' on lines 3, 5"):
        import_file(workspace, "dupes.csv", data)
    assert workspace.collections() == []


def test_every_decision_is_history_the_latest_counts_and_undo_takes_back_the_last(workspace):
    collection, documents, _ = a_collection(workspace)
    first = documents[0].id
    workspace.decide(first, "ann", "bread", "accept", 0.9)
    workspace.decide(first, "ann", "bread", "reject", 0.9)
    workspace.decide(first, "ann", "baking", "add")
    review = workspace.review(first, "ann")
    assert review.verdicts == {"bread": "reject", "baking": "add"} and review.final_tags == ["baking"]
    assert review.status == "pending", "deciding tags never marks a document reviewed"
    assert workspace.undo(collection.id, "ann") == "add baking"
    assert workspace.undo(collection.id, "ann") == "reject bread"
    assert workspace.review(first, "ann").verdicts == {"bread": "accept"}
    with workspace.store.session() as session:
        assert session.execute(text("SELECT count(*) FROM decisions")).scalar() == 3, "undo deletes nothing"


def test_two_curators_never_overwrite_each_other(workspace):
    collection, documents, _ = a_collection(workspace)
    first = documents[0].id
    workspace.decide(first, "ann", "bread", "accept")
    workspace.decide(first, "bob", "bread", "reject")
    workspace.set_status(first, "bob", "reviewed")
    workspace.undo(collection.id, "ann")  # ann's undo takes back ann's click only
    assert workspace.review(first, "ann").verdicts == {}
    assert workspace.review(first, "bob").verdicts == {"bread": "reject"}
    assert workspace.review(first, "bob").status == "reviewed"
    assert workspace.curators(collection.id) == ["ann", "bob"]


def test_clear_asks_nothing_of_the_store_but_one_undo_brings_everything_back(workspace):
    collection, documents, _ = a_collection(workspace)
    for document in documents:
        workspace.decide_many(document.id, "ann", [("bread", "accept", None)], status="reviewed")
    workspace.decide(documents[0].id, "bob", "stock", "add")
    workspace.clear(collection.id, "ann")
    assert workspace.reviews(collection.id, "ann") == {}
    assert workspace.review(documents[0].id, "bob").verdicts == {"stock": "add"}, "clearing is per curator"
    assert workspace.undo(collection.id, "ann") == "cleared every decision"
    assert {review.status for review in workspace.reviews(collection.id, "ann").values()} == {"reviewed"}


def test_moving_the_threshold_changes_proposals_never_decisions(workspace):
    collection, documents, model = a_collection(workspace)
    scores = workspace.scores(collection.id, model)
    workspace.decide(documents[1].id, "ann", "food-safety", "accept", 0.55)
    high = [item.tag for item in proposals(scores[documents[1].id], model.labels, 0.5)]
    low = [item.tag for item in proposals(scores[documents[1].id], model.labels, 0.15)]
    assert high == ["food-safety"] and low == ["food-safety", "bread", "knives"]
    assert workspace.review(documents[1].id, "ann").final_tags == ["food-safety"]


def test_queue_filters_by_status_and_orders_by_uncertainty_and_top_score(workspace):
    collection, documents, model = a_collection(workspace)
    scores = workspace.scores(collection.id, model)
    workspace.set_status(documents[0].id, "ann", "reviewed")
    workspace.set_status(documents[2].id, "ann", "skipped")
    reviews = workspace.reviews(collection.id, "ann")
    ids = [document.id for document in documents]
    assert queue(documents, reviews, scores, 0.5, "pending") == [ids[1]]
    assert queue(documents, reviews, scores, 0.5, "all", "file") == ids
    # nearest a tag to 0.5: q9 (0.48 / 0.52), then q3 (0.55), then q7 (0.9 / 0.2: 0.3 away)
    assert queue(documents, reviews, scores, 0.5, "all", "uncertainty") == [ids[2], ids[1], ids[0]]
    assert queue(documents, reviews, scores, 0.5, "all", "lowest-top") == [ids[2], ids[1], ids[0]]


def test_bulk_accept_is_one_action_that_one_undo_takes_back(workspace):
    collection, documents, model = a_collection(workspace)
    scores = workspace.scores(collection.id, model)
    workspace.decide(documents[0].id, "ann", "bread", "reject")
    reviews = workspace.reviews(collection.id, "ann")
    chosen = bulk_candidates([document.id for document in documents], scores, model.labels, 0.5, reviews)
    assert chosen == {
        documents[1].id: [("food-safety", pytest.approx(0.55))],
        documents[2].id: [("knives", pytest.approx(0.52))],
    }, "decided tags are left alone"
    workspace.bulk_accept(collection.id, "ann", chosen)
    assert workspace.review(documents[2].id, "ann").final_tags == ["knives"]
    assert workspace.undo(collection.id, "ann").startswith("accepted 2 suggestion(s) on 2 document(s)")
    assert workspace.review(documents[2].id, "ann").verdicts == {}
    assert workspace.review(documents[0].id, "ann").verdicts == {"bread": "reject"}


def usual(score: float) -> DomainCheck:
    return DomainCheck(score, 0.6, False, "")


def unusual(score: float) -> DomainCheck:
    return DomainCheck(score, 0.6, True, "its similarity to the closest training documents is low")


def test_domain_checks_are_stored_with_the_scores_and_a_rescore_replaces_them(workspace):
    collection, documents, model = a_collection(workspace)
    assert workspace.domain_checks(collection.id, model) == {}, "scores stored without checks have none"
    first, second, third = (document.id for document in documents)
    scores = workspace.scores(collection.id, model)
    workspace.store_scores(model, scores, 0.5, {first: usual(0.2), second: unusual(0.9), third: None})
    stored = workspace.domain_checks(collection.id, model)
    assert set(stored) == {first, second}, "a document checked as None (no statistic) stores no check"
    assert stored[first].score == pytest.approx(0.2) and not stored[first].unusual
    assert stored[second].score == pytest.approx(0.9) and stored[second].unusual
    other = workspace.scoring_model("other", "e" * 16, LABELS)
    workspace.store_scores(other, {first: scores[first]}, 0.5, {first: unusual(0.95)})
    assert workspace.domain_checks(collection.id, model)[first].unusual is False, "checks are per model"
    workspace.store_scores(model, {second: scores[second]}, 0.5)
    assert set(workspace.domain_checks(collection.id, model)) == {first}, (
        "a rescore without a check keeps no check of the older text"
    )


def test_queue_filters_to_documents_unlike_the_training_documents(workspace):
    collection, documents, model = a_collection(workspace)
    ids = [document.id for document in documents]
    scores = workspace.scores(collection.id, model)
    checks = {ids[0]: unusual(0.9), ids[1]: usual(0.1), ids[2]: unusual(0.8)}
    workspace.store_scores(model, scores, 0.5, checks)
    domain = workspace.domain_checks(collection.id, model)
    assert unlike_training(documents, domain) == [ids[0], ids[2]]
    workspace.set_status(ids[2], "ann", "reviewed")
    reviews = workspace.reviews(collection.id, "ann")
    assert queue(documents, reviews, scores, 0.5, "all", "file", domain, only_unlike_training=True) == [
        ids[0],
        ids[2],
    ]
    assert queue(documents, reviews, scores, 0.5, "pending", "lowest-top", domain, True) == [ids[0]]
    assert queue(documents, reviews, scores, 0.5, "all", "file", domain) == ids, "the filter is asked for"
    assert queue(documents, reviews, scores, 0.5, "all", "file", {}, True) == [], "unchecked: not unlike"


def test_editing_a_typed_document_keeps_one_document_with_its_history(workspace):
    typed = workspace.add_typed_document("Flat bread", "My loaf is flat", ["bread"])
    workspace.decide_many(typed.id, "ann", [("bread", "accept", 0.8)], status="reviewed")
    edited = workspace.edit_document(typed.id, "Flat sourdough bread", "My loaf is flat and sour")
    assert edited.id == typed.id and edited.source_id == "typed-1"
    assert workspace.collection(typed.collection_id).documents == 1
    assert workspace.revisions(typed.id)[0][:2] == ("Flat bread", "My loaf is flat")
    assert workspace.review(typed.id, "ann").final_tags == ["bread"], (
        "decisions stay with the edited document"
    )
    assert workspace.add_typed_document("Another", "text").source_id == "typed-2"


def test_exports_carry_status_and_the_csv_trains_as_it_is(workspace, tmp_path):
    collection, documents, model = a_collection(workspace)
    workspace.decide_many(
        documents[0].id, "ann", [("bread", "accept", 0.9), ("baking", "add", None)], status="reviewed"
    )
    workspace.decide(documents[1].id, "ann", "food-safety", "accept", 0.55)  # decided but still pending
    records = export_records(workspace, collection.id, curator="ann")
    assert [record["status"] for record in records] == ["reviewed", "pending", "pending"]
    assert records[0]["tags"] == ["bread", "baking"] and records[1]["tags"] == [], (
        "only reviewed documents carry tags"
    )
    assert records[0]["model_fingerprint"] == "f" * 16 and records[0]["threshold"] == 0.5
    assert records[1]["suggested_tags"] == [{"tag": "food-safety", "score": pytest.approx(0.55)}]
    assert [json.loads(line)["id"] for line in to_jsonl(records).splitlines()] == ["q7", "q3", "q9"]
    assert [record["unlike_training"] for record in records] == [None] * 3, "no check stored: unknown"
    scores = workspace.scores(collection.id, model)
    workspace.store_scores(model, scores, 0.5, {documents[0].id: usual(0.1), documents[1].id: unusual(0.9)})
    records = export_records(workspace, collection.id, curator="ann")
    assert [record["unlike_training"] for record in records] == [False, True, None]
    assert [json.loads(line)["unlike_training"] for line in to_jsonl(records).splitlines()] == [
        False,
        True,
        None,
    ]
    rows = list(csv.DictReader(io.StringIO(to_csv(records))))
    assert [row["unlike_training"] for row in rows] == ["no", "yes", ""]
    path = tmp_path / "export.csv"
    path.write_text(to_csv(records), encoding="utf-8")
    read = read_documents(path)
    assert [(document.id, document.tags) for document in read] == [
        ("q7", ["bread", "baking"]),
        ("q3", []),
        ("q9", []),
    ]


def test_csv_export_neutralises_formulas(workspace):
    collection = import_file(workspace, "evil.csv", b'id,title,content\n1,=HYPERLINK("x"),+cmd\n')
    row = next(csv.DictReader(io.StringIO(to_csv(export_records(workspace, collection.id)))))
    assert row["title"].startswith("'=") and row["content"] == "'+cmd"


def test_reviewed_documents_train_and_are_held_out_stably(workspace):
    collection = import_file(
        workspace,
        "many.csv",
        b"id,title,content\n"
        + b"".join(f"{number},Title {number},Content {number}\n".encode() for number in range(40)),
    )
    for document in workspace.documents(collection.id):
        workspace.decide_many(document.id, "ann", [("bread", "accept", None)], status="reviewed")
    reviewed = reviewed_documents(workspace, collection.id, "ann")
    assert len(reviewed) == 40 and reviewed[0].tags == ["bread"]
    first, second = split_reviewed(reviewed, 0.25), split_reviewed(list(reversed(reviewed)), 0.25)
    assert {document.id for document in first.held_out} == {document.id for document in second.held_out}
    assert 0 < len(first.held_out) < 40
    rows = read_documents_from_bytes("train.csv", training_file(first.training, "base.csv", FILE))
    assert len(rows) == 3 + len(first.training) and rows[0].id == "base-q7"
    with pytest.raises(WorkspaceError, match="review at least"):
        split_reviewed(reviewed[:3])


def test_a_model_scores_a_collection_in_chunks_and_empty_documents_are_reported(
    workspace, predictor, checkpoint_path
):
    first, _, _, third = make_rows(4, seed=99)  # like the model's training documents (cooking, astronomy)
    rows = [
        {"id": "1", "title": first["title"], "content": first["content"]},
        {"id": "2", "title": "", "content": ""},
        {"id": "3", "title": third["title"], "content": third["content"]},
        {"id": "4", "title": "Quantum entanglement", "content": "photon lattice superconductor qubit decay"},
    ]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["id", "title", "content"])
    writer.writeheader()
    writer.writerows(rows)
    collection = import_file(workspace, "mixed.csv", buffer.getvalue().encode())
    model = register_predictor(workspace, predictor, checkpoint_path, "tiny")
    assert model.fingerprint == model_fingerprint(checkpoint_path) and len(model.fingerprint) == 16
    seen = []
    skipped = score_collection(
        workspace, collection.id, predictor, model, lambda done, total: seen.append((done, total))
    )
    assert len(skipped) == 1 and skipped[0].startswith("id 2:")
    scores = workspace.scores(collection.id, model)
    assert len(scores) == 3 and all(row.shape == (len(predictor.labels),) for row in scores.values())
    assert seen[-1] == (4, 4)
    documents = {document.source_id: document for document in workspace.documents(collection.id)}
    domain = workspace.domain_checks(collection.id, model)
    assert set(domain) == set(scores), "the empty document has no check; the others in its chunk do"
    expected = predictor.domain_checks([(documents[key].title, documents[key].content) for key in "134"])
    assert [domain[documents[key].id].score for key in "134"] == pytest.approx(
        [check.score for check in expected], abs=1e-6
    )
    assert [domain[documents[key].id].unusual for key in "134"] == [check.unusual for check in expected]
    assert expected[2].unusual and all(check.score <= check.threshold for check in expected[:2]), (
        "words the model never saw read unlike its training documents; words like them do not"
    )
    assert score_collection(workspace, collection.id, predictor, model) == [
        "id 2: " + skipped[0].split(": ", 1)[1]
    ]


class OneBadCheck:
    """A predictor whose domain check refuses one document that it scores (as a future check might)."""

    def domain_checks(self, documents, scores=None):
        if any(title == "bad" for title, _ in documents):
            raise DocumentError("this document cannot be checked")
        return [usual(0.1) for _ in documents]

    def domain_check(self, title, content):
        return self.domain_checks([(title, content)])[0]


def test_one_document_that_cannot_be_checked_leaves_the_others_of_its_chunk_checked(workspace):
    collection = import_file(workspace, "three.csv", b"id,title,content\n1,good,a\n2,bad,b\n3,good,c\n")
    documents = workspace.documents(collection.id)
    checks = check_documents(OneBadCheck(), documents)
    assert [checks[document.id] is None for document in documents] == [False, True, False]


def test_models_are_compared_on_the_same_held_out_documents(predictor):
    held_out = read_documents_from_bytes(
        "h.csv",
        b"id,title,content,tags\n1,Bread oven,bake knead,cooking\n2,Star planet,gravity moon,astronomy\n",
    )
    results = compare_models({"old": predictor, "new": predictor}, held_out)
    assert results["old"] == results["new"] and 0 <= results["old"]["P@1"] <= 1


# ---- migrations --------------------------------------------------------------------------------
def test_an_empty_database_upgrades_to_the_head(url):
    workspace = Workspace.open(url)
    head, known = store_module.schema_revisions()
    assert store_module.current_revision(workspace.store.engine) == head and head in known and len(known) >= 2
    forget_stores()


def test_a_database_of_the_previous_revision_upgrades_keeping_its_rows(url):
    engine = create_engine(url.replace("postgresql+psycopg", "postgresql+psycopg"))
    store_module.upgrade(engine, url, "0001")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO collections (id, name, kind, source, created) "
                "VALUES (1, 'old', 'file', 'old.csv', CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO documents (id, collection_id, source_id, position, title, content, gold_tags,"
                " created, updated)"
                " VALUES (1, 1, 'a', 0, 'T', 'C', '[]', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
    engine.dispose()
    workspace = Workspace.open(url)
    assert [document.title for document in workspace.documents(1)] == ["T"]
    workspace.edit_document(1, "T2", "C")  # the new revision's table works on the old rows
    assert workspace.revisions(1)[0][0] == "T"
    forget_stores()


def test_a_database_of_revision_0002_gains_domain_checks_keeping_its_scores(url):
    engine = create_engine(url)
    store_module.upgrade(engine, url, "0002")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO collections (id, name, kind, source, created) "
                "VALUES (1, 'old', 'file', 'old.csv', CURRENT_TIMESTAMP)"
            )
        )
        for number in (1, 2):
            connection.execute(
                text(
                    "INSERT INTO documents (id, collection_id, source_id, position, title, content,"
                    " gold_tags, created, updated)"
                    f" VALUES ({number}, 1, 'd{number}', {number}, 'T', 'C', '[]', CURRENT_TIMESTAMP,"
                    " CURRENT_TIMESTAMP)"
                )
            )
        connection.execute(
            text("INSERT INTO models (id, fingerprint, name, labels) VALUES (1, :fingerprint, 'm', :labels)"),
            {"fingerprint": "f" * 16, "labels": json.dumps(LABELS)},
        )
        connection.execute(
            text(
                "INSERT INTO suggestions (document_id, model_id, threshold, scores, top_score, created)"
                " VALUES (1, 1, 0.5, :scores, 0.9, CURRENT_TIMESTAMP)"
            ),
            {"scores": np.array([0.9, 0.1, 0.2, 0.3], "<f4").tobytes()},
        )
    engine.dispose()
    workspace = Workspace.open(url)
    assert store_module.current_revision(workspace.store.engine) == "0003"
    model = workspace.scoring_model("m", "f" * 16, LABELS)
    assert workspace.scores(1, model)[1].tolist() == pytest.approx([0.9, 0.1, 0.2, 0.3])
    assert workspace.domain_checks(1, model) == {}, "a row scored before 0003 has no check"
    assert [record["unlike_training"] for record in export_records(workspace, 1)] == [None, None]
    workspace.store_scores(model, {2: np.zeros(4)}, 0.5, {2: unusual(0.9)})
    assert workspace.domain_checks(1, model)[2].unusual
    forget_stores()


def test_a_newer_schema_is_refused_with_a_clear_message(url):
    Workspace.open(url)
    forget_stores()
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(WorkspaceError, match="schema revision 9999, newer than this version of jman knows"):
        Workspace.open(url)


# ---- faults ------------------------------------------------------------------------------------
def test_a_corrupt_file_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "corrupt.sqlite"
    path.write_bytes(b"this is not a database at all" * 100)
    before = path.read_bytes()
    with pytest.raises(WorkspaceError, match="not a workspace database, or it is corrupt"):
        Workspace.open(f"sqlite:///{path}")
    assert path.read_bytes() == before


def test_a_foreign_database_is_refused(tmp_path):
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE invoices (id INTEGER)")
    with pytest.raises(WorkspaceError, match="not a jman workspace"):
        Workspace.open(f"sqlite:///{path}")


def test_a_read_only_database_still_shows_decisions_and_refuses_new_ones_clearly(tmp_path):
    path = tmp_path / "workspace.sqlite"
    url = f"sqlite:///{path}"
    workspace = Workspace.open(url)
    collection, documents, _ = a_collection(workspace)
    workspace.decide(documents[0].id, "ann", "bread", "accept")
    forget_stores()
    read_only = f"sqlite:///file:{path}?mode=ro&uri=true"
    workspace = Workspace.open(read_only)
    assert workspace.review(documents[0].id, "ann").verdicts == {"bread": "accept"}
    with pytest.raises(WorkspaceError, match="read-only"):
        workspace.decide(documents[0].id, "ann", "stock", "add")
    forget_stores()


def test_a_database_locked_by_another_process_gives_a_message_and_loses_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_MILLISECONDS", 200)
    path = tmp_path / "workspace.sqlite"
    workspace = Workspace.open(f"sqlite:///{path}")
    collection, documents, _ = a_collection(workspace)
    workspace.decide(documents[0].id, "ann", "bread", "accept")
    other = sqlite3.connect(path, timeout=0.1)
    other.execute("BEGIN EXCLUSIVE")
    started = time.monotonic()
    try:
        with pytest.raises(WorkspaceError, match="locked by another program"):
            workspace.decide(documents[0].id, "ann", "stock", "add")
    finally:
        other.rollback()
        other.close()
    assert time.monotonic() - started < 30
    assert workspace.review(documents[0].id, "ann").verdicts == {"bread": "accept"}
    forget_stores()


def test_a_full_disk_gives_a_message_and_loses_nothing(tmp_path):
    path = tmp_path / "workspace.sqlite"
    workspace = Workspace.open(f"sqlite:///{path}")
    collection, documents, _ = a_collection(workspace)
    workspace.decide(documents[0].id, "ann", "bread", "accept")

    def no_room(connection, _record):  # SQLite's own "database or disk is full" at the current size
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        connection.execute(f"PRAGMA max_page_count={pages}")

    forget_stores()
    workspace = Workspace.open(f"sqlite:///{path}")
    event.listen(workspace.store.engine, "connect", no_room)
    workspace.store.engine.dispose()
    with pytest.raises(WorkspaceError, match="is full"):
        workspace.bulk_accept(
            collection.id, "ann", {documents[1].id: [(f"tag-{n}" + "x" * 150, 0.5) for n in range(3000)]}
        )
    assert workspace.review(documents[0].id, "ann").verdicts == {"bread": "accept"}
    assert workspace.review(documents[1].id, "ann").verdicts == {}, (
        "the failed action left nothing half-written"
    )
    forget_stores()


def test_an_unreachable_postgresql_gives_a_clear_message_quickly():
    started = time.monotonic()
    with pytest.raises(WorkspaceError, match="Cannot reach the workspace database"):
        Workspace.open("postgresql+psycopg://nobody:secret@127.0.0.1:1/none")
    assert time.monotonic() - started < 20


def test_a_bad_url_and_an_unknown_database_kind_give_clear_messages():
    with pytest.raises(WorkspaceError, match="not a database URL"):
        Workspace.open("not a url")
    with pytest.raises(WorkspaceError, match="SQLite and PostgreSQL"):
        Workspace.open("mysql://root@localhost/x")


def test_a_password_never_appears_in_a_message():
    with pytest.raises(WorkspaceError) as caught:
        Workspace.open("postgresql+psycopg://nobody:hunter2@127.0.0.1:1/none")
    assert "hunter2" not in str(caught.value)


def test_a_document_put_twice_by_id_is_one_document_with_its_history(workspace):
    collection = workspace.ensure_collection("API feedback")
    assert workspace.ensure_collection("API feedback").id == collection.id
    first = workspace.put_document(collection.id, "ext-1", "Title", "Body", ["bread"])
    second = workspace.put_document(collection.id, "ext-1", "Title 2", "Body", ["bread"])
    assert first.id == second.id and second.title == "Title 2"
    assert workspace.revisions(first.id)[0][0] == "Title"
    assert workspace.put_document(collection.id, "ext-2", "Other", "Body").position == 2
    with pytest.raises(WorkspaceError, match="document id has 1 to 200"):
        workspace.put_document(collection.id, " ", "x", "y")


def test_a_training_job_on_reviewed_documents_is_compared_on_its_held_out_share(
    tmp_path, data_csv, cache_dir, checkpoint_path, monkeypatch
):
    from jman_core.jobs import read_status
    from jman_core.predict import Predictor
    from jman_core.workspace.learning import finished_comparisons, read_held_out, start_training

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    workspace = Workspace.open(f"sqlite:///{tmp_path / 'learn.sqlite'}")
    collection = import_file(workspace, "tagged.csv", data_csv.read_bytes())
    for document in workspace.documents(collection.id)[:120]:
        workspace.decide_many(
            document.id, "ann", [(tag, "accept", None) for tag in document.gold_tags], status="reviewed"
        )
    overrides = {
        "data": {"min_label_count": 2},
        "text": {"min_word_frequency": 1},
        "model": {"hidden_size": 8, "embedding_dim": 8},
        "training": {
            "num_epochs": 1,
            "batch_size": 16,
            "word2vec_epochs": 1,
            "cache_dir": str(cache_dir),
            "device": "cpu",
        },
    }
    status = start_training(
        workspace,
        collection.id,
        "ann",
        tmp_path / "jobs",
        tmp_path / "checkpoints",
        "learned",
        overrides,
        0.25,
        base_model=str(checkpoint_path),
    )
    held_out = read_held_out(status.folder)
    assert held_out.collection_id == collection.id and held_out.base_model == str(checkpoint_path)
    assert 10 < len(held_out.documents) < 60
    deadline = time.monotonic() + 180
    while read_status(status.folder).active and time.monotonic() < deadline:
        time.sleep(0.3)
    assert read_status(status.folder).state == "finished", (Path(status.folder) / "log.txt").read_text()[
        -1500:
    ]
    [(finished, kept)] = finished_comparisons(tmp_path / "jobs", collection.id)
    results = compare_models(
        {
            "old": Predictor.from_checkpoint(kept.base_model),
            "new": Predictor.from_checkpoint(finished.checkpoint),
        },
        kept.documents,
    )
    assert set(results) == {"old", "new"} and all(0 <= result["F1"] <= 1 for result in results.values())
    assert finished_comparisons(tmp_path / "jobs", collection.id + 1) == []
    forget_stores()
