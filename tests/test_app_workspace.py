"""The curation workspace in the app (AppTest): reviews saved at every click, statuses, undo, the queue, bulk
accept, clearing with confirmation, and exports. The browser flows are in test_browser_workspace.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from streamlit.testing.v1 import AppTest  # noqa: E402
from test_app import APP_FILE, TIMEOUT, enter, tiny_rows  # noqa: E402

from app import state  # noqa: E402
from app.components.review import tag_key  # noqa: E402
from jman_core.workspace import TYPED_COLLECTION, Workspace  # noqa: E402
from jman_core.workspace.exports import export_records  # noqa: E402

BATCH = "\n".join(
    [
        '{"id": "a1", "title": "Dull knife", '
        '"content": "The blade will not cut. Should I use a whetstone?", "tags": ["knives"]}',
        '{"id": "a2", "title": "", "content": ""}',
        '{"id": "a3", "title": "Cloudy stock", '
        '"content": "I simmer the chicken bones too hard. The soup is cloudy."}',
        '{"id": "a4", "title": "Bread did not rise", '
        '"content": "My dough with fresh yeast and flour stayed flat."}',
    ]
).encode()


def new_session(tiny_checkpoints, monkeypatch, curator: str = "ann", **parameters) -> AppTest:
    """A fresh browser session (as after a reload) on the same server files and database."""
    monkeypatch.setenv("JMAN_CHECKPOINTS_DIR", str(tiny_checkpoints))
    app = AppTest.from_file(APP_FILE, default_timeout=TIMEOUT)
    app.query_params["curator"] = curator
    for name, value in parameters.items():
        app.query_params[name] = str(value)
    return app.run()


def workspace() -> Workspace:
    return Workspace.open()


def typed_document():
    store = workspace()
    collection = store.find_collection(TYPED_COLLECTION)
    return store, collection, store.documents(collection.id)


def upload_batch(app: AppTest, data: bytes = BATCH, name: str = "batch.jsonl") -> AppTest:
    app.radio(key=state.VIEW).set_value("Batch").run()
    return app.file_uploader(key=state.BATCH_FILE).set_value((name, data, "application/json")).run()


def proposed_tags(app: AppTest, document_id: int) -> list[str]:
    """The tags with accept buttons for this document, in the order shown."""
    return [
        button.help.removeprefix("Accept ").replace("\\", "")
        for button in app.button
        if button.key and button.key.startswith(f"accept-{document_id}-")
    ]


def test_curator_comes_from_the_url_and_suggest_is_a_proposal_not_a_decision(tiny_checkpoints, monkeypatch):
    app = new_session(tiny_checkpoints, monkeypatch)
    assert app.text_input(key=state.CURATOR).value == "ann"
    app.slider(key=state.THRESHOLD).set_value(0.0).run()
    enter(app, "Why is my stock cloudy", "I simmer chicken bones in a pot. The soup is cloudy.")
    assert not app.exception
    store, collection, documents = typed_document()
    assert len(documents) == 1 and documents[0].source_id == "typed-1"
    review = store.review(documents[0].id, "ann")
    assert review.status == "pending" and review.verdicts == {}, "pressing Suggest tags decides nothing"
    records = export_records(store, collection.id, curator="ann")
    assert records[0]["status"] == "pending" and records[0]["tags"] == []
    assert len(records[0]["suggested_tags"]) > 0
    [model] = store.models_for(collection.id)  # the domain check is stored with the scores, as for a batch
    assert documents[0].id in store.domain_checks(collection.id, model)
    assert records[0]["unlike_training"] is not None


def test_one_document_review_is_saved_at_each_click_and_undo_takes_the_last_back(
    tiny_checkpoints, monkeypatch
):
    app = new_session(tiny_checkpoints, monkeypatch)
    app.slider(key=state.THRESHOLD).set_value(0.0)
    app.number_input(key=state.TOP_K).set_value(3)
    enter(app, "Why is my stock cloudy", "I simmer chicken bones in a pot. The soup is cloudy.")
    document_id = app.session_state[state.RESULT].document_id
    first, second, _ = proposed_tags(app, document_id)
    app.button(key=tag_key("accept", document_id, first)).click().run()
    app.button(key=tag_key("reject", document_id, second)).click().run()
    app.multiselect(key=state.VOCABULARY_TAGS).select("equipment")
    app.text_input(key=state.NEW_TAGS).input("Brand New Tag, sourdough_starter")
    app.button(key=f"add-{document_id}").click().run()
    assert not app.exception
    assert any(
        "never seen brand-new-tag, sourdough-starter" in info.value.replace("\\", "") for info in app.info
    )
    store = workspace()
    assert store.review(document_id, "ann").verdicts == {
        first: "accept",
        second: "reject",
        "equipment": "add",
        "brand-new-tag": "add",
        "sourdough-starter": "add",
    }
    app.button(key="undo").click().run()
    assert set(store.review(document_id, "ann").verdicts) == {first, second}, (
        "one undo takes back one click (the add)"
    )
    app.button(key="mark-reviewed").click().run()
    assert store.review(document_id, "ann").status == "reviewed"
    # a reload: a new session, same database
    reloaded = new_session(tiny_checkpoints, monkeypatch, view="Batch")
    reloaded.selectbox(key=state.COLLECTION).set_value(store.find_collection(TYPED_COLLECTION).id).run()
    assert "1 of 1 reviewed by ann" in str(reloaded.get("progress")[0].proto)
    assert [
        button.proto.type for button in reloaded.button if button.key == tag_key("accept", document_id, first)
    ] == ["primary"]


def test_editing_the_boxes_keeps_one_document_with_its_history(tiny_checkpoints, monkeypatch):
    app = new_session(tiny_checkpoints, monkeypatch)
    app.slider(key=state.THRESHOLD).set_value(0.0).run()
    enter(app, "Dull knife", "The blade is dull.")
    document_id = app.session_state[state.RESULT].document_id
    tag = proposed_tags(app, document_id)[0]
    app.button(key=tag_key("accept", document_id, tag)).click().run()
    enter(app, "Dull chef knife", "The blade is dull and chipped.")
    assert app.session_state[state.RESULT].document_id == document_id
    store, _, documents = typed_document()
    assert len(documents) == 1 and documents[0].title == "Dull chef knife"
    assert store.revisions(document_id)[0][0] == "Dull knife"
    assert store.review(document_id, "ann").verdicts == {tag: "accept"}, (
        "the decisions stay with the document"
    )
    app.button(key="new-document").click().run()
    enter(app, "Cloudy stock", "The soup is cloudy.")
    assert len(typed_document()[2]) == 2


def test_a_batch_becomes_a_collection_and_the_queue_reviews_it_without_a_rerun(tiny_checkpoints, monkeypatch):
    app = new_session(tiny_checkpoints, monkeypatch)
    app.slider(key=state.THRESHOLD).set_value(0.0)
    app.number_input(key=state.TOP_K).set_value(2)
    upload_batch(app)
    assert not app.exception
    assert any("id a2" in warning.value.replace("\\", "") for warning in app.warning), (
        "the empty document is named by its id"
    )
    store = workspace()
    collection = store.find_collection("batch.jsonl")
    documents = store.documents(collection.id)
    assert [document.source_id for document in documents] == ["a1", "a2", "a3", "a4"]
    assert app.session_state[state.QUEUE_DOCUMENT] == documents[0].id
    tag = proposed_tags(app, documents[0].id)[0]
    app.button(key=tag_key("reject", documents[0].id, tag)).click().run()
    app.button(key="accept-all").click().run()  # the other proposal accepted, reviewed, and on to the next
    review = store.review(documents[0].id, "ann")
    assert review.status == "reviewed" and review.verdicts[tag] == "reject" and len(review.final_tags) == 1
    assert app.session_state[state.QUEUE_DOCUMENT] == documents[1].id
    app.button(key="mark-skipped").click().run()
    assert store.review(documents[1].id, "ann").status == "skipped"
    app.button(key="queue-previous").click().run()
    app.button(key="queue-previous").click().run()
    assert app.session_state[state.QUEUE_DOCUMENT] == documents[0].id
    app.selectbox(key=state.QUEUE_FILTER).set_value("pending").run()
    assert app.session_state[state.QUEUE_DOCUMENT] in {documents[2].id, documents[3].id}
    app.number_input(key=state.QUEUE_JUMP).set_value(2).run()
    assert app.session_state[state.QUEUE_DOCUMENT] == documents[3].id
    assert not app.exception


def test_moving_the_threshold_changes_proposals_never_decisions(tiny_checkpoints, monkeypatch):
    app = new_session(tiny_checkpoints, monkeypatch)
    app.slider(key=state.THRESHOLD).set_value(0.0)
    upload_batch(app)
    store = workspace()
    first = store.documents(store.find_collection("batch.jsonl").id)[0]
    tag = proposed_tags(app, first.id)[0]
    app.button(key=tag_key("accept", first.id, tag)).click().run()
    app.slider(key=state.THRESHOLD).set_value(1.0).run()
    assert proposed_tags(app, first.id) == [tag], "a decided tag stays listed when it is no longer proposed"
    assert store.review(first.id, "ann").verdicts == {tag: "accept"}


def test_bulk_accept_needs_confirmation_and_one_undo_takes_it_back(tiny_checkpoints, monkeypatch):
    app = new_session(tiny_checkpoints, monkeypatch)
    upload_batch(app)
    store = workspace()
    collection = store.find_collection("batch.jsonl")
    app.slider(key=state.BULK_MINIMUM).set_value(0.0).run()
    assert app.button(key="bulk-accept").disabled, "bulk accept waits for the confirmation"
    app.checkbox(key=state.BULK_CONFIRM).check().run()
    app.button(key="bulk-accept").click().run()
    assert not app.exception
    reviews = store.reviews(collection.id, "ann")
    assert len(reviews) == 3 and all(review.status == "pending" for review in reviews.values())
    assert all(review.verdicts and set(review.verdicts.values()) == {"accept"} for review in reviews.values())
    app.button(key="undo").click().run()
    assert store.reviews(collection.id, "ann") == {}


def test_clearing_asks_for_confirmation_and_undo_brings_everything_back(tiny_checkpoints, monkeypatch):
    app = new_session(tiny_checkpoints, monkeypatch)
    app.slider(key=state.THRESHOLD).set_value(0.0)
    upload_batch(app)
    app.button(key="accept-all").click().run()
    store = workspace()
    collection = store.find_collection("batch.jsonl")
    assert app.button(key="clear-decisions").disabled
    app.checkbox(key=state.CLEAR_CONFIRM).check().run()
    app.button(key="clear-decisions").click().run()
    assert store.reviews(collection.id, "ann") == {}
    app.button(key="undo").click().run()
    assert [review.status for review in store.reviews(collection.id, "ann").values()] == ["reviewed"]


def test_two_curators_in_two_sessions_keep_their_own_decisions(tiny_checkpoints, monkeypatch):
    ann = new_session(tiny_checkpoints, monkeypatch, "ann")
    ann.slider(key=state.THRESHOLD).set_value(0.0)
    upload_batch(ann)
    store = workspace()
    collection = store.find_collection("batch.jsonl")
    first = store.documents(collection.id)[0]
    tag = proposed_tags(ann, first.id)[0]
    bob = new_session(tiny_checkpoints, monkeypatch, "bob", view="Batch", collection=collection.id)
    bob.slider(key=state.THRESHOLD).set_value(0.0).run()
    ann.button(key=tag_key("accept", first.id, tag)).click().run()
    bob.button(key=tag_key("reject", first.id, tag)).click().run()
    assert store.review(first.id, "ann").verdicts == {tag: "accept"}
    assert store.review(first.id, "bob").verdicts == {tag: "reject"}
    assert {record["curator"] for record in export_records(store, collection.id) if record["id"] == "a1"} == {
        "ann",
        "bob",
    }


def test_exports_are_offered_and_carry_statuses(tiny_checkpoints, monkeypatch):
    app = new_session(tiny_checkpoints, monkeypatch)
    app.slider(key=state.THRESHOLD).set_value(0.0)
    upload_batch(app)
    app.button(key="accept-all").click().run()
    labels = {button.label for button in app.get("download_button")}
    assert {"Export as JSONL", "Export as CSV"} <= labels
    store = workspace()
    records = export_records(store, store.find_collection("batch.jsonl").id, curator="ann")
    assert [record["status"] for record in records] == ["reviewed", "pending", "pending", "pending"]
    assert json.dumps(records)  # plain data


def test_without_a_name_the_page_asks_for_one_and_saves_nothing(tiny_checkpoints, monkeypatch):
    app = new_session(tiny_checkpoints, monkeypatch, curator="")
    upload_batch(app)
    assert not app.exception
    assert any("Type your name" in info.value for info in app.info)
    store = workspace()
    assert store.reviews(store.find_collection("batch.jsonl").id, None) == {}


@pytest.mark.parametrize(
    "data, expected",
    [
        (b'{"title": "ok", "content": "fine"}\n{"title": broken\n', "line 2"),
        (
            b'{"id": "x", "title": "a", "content": "b"}\n{"id": "x", "title": "c", "content": "d"}\n',
            "id 'x' on lines 1, 2",
        ),
    ],
)
def test_a_bad_file_gives_a_message_and_makes_no_collection(tiny_checkpoints, monkeypatch, data, expected):
    app = new_session(tiny_checkpoints, monkeypatch)
    upload_batch(app, data, "bad.jsonl")
    assert not app.exception
    assert any(expected in error.value.replace("\\", "") for error in app.error)
    assert workspace().find_collection("bad.jsonl") is None


def test_training_on_reviewed_documents_starts_a_job_with_a_held_out_share(
    tiny_checkpoints, monkeypatch, tmp_path
):
    import csv
    import io
    import shutil

    from test_app import tiny_rows

    from jman_core.jobs import cancel_job, read_status
    from jman_core.workspace.learning import read_held_out

    checkpoints = Path(shutil.copytree(tiny_checkpoints, tmp_path / "checkpoints"))
    monkeypatch.setenv("JMAN_JOBS_DIR", str(tmp_path / "jobs"))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["id", "title", "content", "tags"])
    writer.writeheader()
    writer.writerows(tiny_rows(40))
    app = new_session(checkpoints, monkeypatch)
    upload_batch(app, buffer.getvalue().encode(), "forty.csv")
    store = workspace()
    collection = store.find_collection("forty.csv")
    for document in store.documents(collection.id):
        store.decide_many(
            document.id, "ann", [(tag, "accept", None) for tag in document.gold_tags], status="reviewed"
        )
    app.run()
    assert "40 document(s) reviewed with tags by ann" in " ".join(caption.value for caption in app.caption)
    app.text_input(key=state.LEARN_NAME).input("tiny").run()
    assert app.button(key="learn-start").disabled, "an existing model is replaced only after a confirmation"
    app.text_input(key=state.LEARN_NAME).input("tiny-reviewed").run()
    app.button(key="learn-start").click().run()
    assert not app.exception
    folder = app.session_state[state.TRAIN_JOB]
    try:
        assert app.radio(key=state.VIEW).value == "Train", "the page follows the training it started"
        held_out = read_held_out(folder)
        assert held_out.collection_id == collection.id and held_out.curator == "ann" and held_out.documents
        assert read_status(folder).name == "tiny-reviewed"
    finally:
        cancel_job(folder)


def test_a_hostile_tag_name_is_shown_as_text(tiny_checkpoints, monkeypatch):
    app = new_session(tiny_checkpoints, monkeypatch)
    upload_batch(app)
    app.text_input(key=state.NEW_TAGS).input(
        "![x](http://example.invalid/x.png), [link](http://example.invalid)"
    )
    document_id = app.session_state[state.QUEUE_DOCUMENT]
    app.button(key=f"add-{document_id}").click().run()
    assert not app.exception
    shown = " ".join(element.value for element in [*app.markdown, *app.info])
    assert "![x](" not in shown and "[link](" not in shown, "a tag name was rendered as Markdown"
    assert "example.invalid" in shown.replace("\\", ""), "the tag is still shown, as text"


def test_the_comparison_table_puts_both_models_side_by_side(tiny_checkpoints):
    from app.components.queue import comparison_table
    from jman_core.data import read_documents_from_bytes
    from jman_core.workspace.learning import HeldOut

    held_out = HeldOut(
        1,
        "ann",
        str(tiny_checkpoints / "tiny"),
        read_documents_from_bytes(
            "h.csv",
            b"id,title,content,tags\n"
            b"1,Dull knife,The blade is dull,knives\n"
            b"2,Cloudy stock,Simmer bones,stock\n",
        ),
    )
    table = comparison_table("job", str(tiny_checkpoints / "tiny"), str(tiny_checkpoints / "tiny"), held_out)
    assert list(table.columns) == ["model in use when training started", "new model"]
    assert list(table.index) == ["P@1", "P@3", "nDCG@3", "P", "R", "F1"]
    assert table.iloc[:, 0].tolist() == table.iloc[:, 1].tolist(), "the same model scores the same"


def mixed_batch() -> bytes:
    """Three documents like the tiny model's training documents (cooking questions) and two unlike them."""
    import csv
    import io

    kitchen = tiny_rows(3, seed=11)
    rows = [
        {"id": "in1", "title": kitchen[0]["title"], "content": kitchen[0]["content"]},
        {"id": "off1", "title": "Offside rule", "content": "The striker was offside; a referee gave a kick."},
        {"id": "in2", "title": kitchen[1]["title"], "content": kitchen[1]["content"]},
        {"id": "off2", "title": "Python loop", "content": "My function returns None in a loop: an error."},
        {"id": "in3", "title": kitchen[2]["title"], "content": kitchen[2]["content"]},
    ]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["id", "title", "content"])
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


def marks(app: AppTest) -> list[str]:
    return [warning.value for warning in app.warning if "nlike the model's training" in warning.value]


def test_the_queue_counts_and_filters_the_documents_unlike_the_training_documents(
    tiny_checkpoints, monkeypatch
):
    app = new_session(tiny_checkpoints, monkeypatch)
    upload_batch(app, mixed_batch(), "mixed.csv")
    assert not app.exception
    assert any("2 of the 5 documents read unlike" in text for text in marks(app)), marks(app)
    store = workspace()
    collection = store.find_collection("mixed.csv")
    ids = {document.source_id: document.id for document in store.documents(collection.id)}
    assert app.session_state[state.QUEUE_DOCUMENT] == ids["in1"]
    assert not any(text.startswith("Unlike") for text in marks(app)), "a usual document carries no mark"
    app.toggle(key=state.QUEUE_UNLIKE_TRAINING).set_value(True).run()
    assert app.session_state[state.QUEUE_DOCUMENT] == ids["off1"]
    assert "Document 1 of 2 shown" in " ".join(caption.value for caption in app.caption)
    [mark] = [text for text in marks(app) if text.startswith("Unlike")]
    assert ", below" not in mark, "the mark reads the check stored at scoring, not a new computation"
    app.button(key="queue-next").click().run()
    assert app.session_state[state.QUEUE_DOCUMENT] == ids["off2"] and app.button(key="queue-next").disabled
    app.button(key="mark-skipped").click().run()
    app.selectbox(key=state.QUEUE_FILTER).set_value("pending").run()
    assert app.session_state[state.QUEUE_DOCUMENT] == ids["off1"], "both filters apply together"
    app.toggle(key=state.QUEUE_UNLIKE_TRAINING).set_value(False).run()
    assert "Document 2 of 4 shown" in " ".join(caption.value for caption in app.caption)
    records = export_records(store, collection.id, curator="ann")
    assert [(record["id"], record["unlike_training"]) for record in records] == [
        ("in1", False),
        ("off1", True),
        ("in2", False),
        ("off2", True),
        ("in3", False),
    ]
    assert not app.exception


def test_a_model_without_the_domain_statistic_counts_nothing_and_marks_nothing(
    tiny_checkpoints, monkeypatch, tmp_path
):
    import shutil

    from jman_core.domain import DOMAIN_FILE

    folder = Path(shutil.copytree(tiny_checkpoints / "tiny", tmp_path / "checkpoints" / "plain"))
    document = json.loads((folder / "checkpoint.json").read_text())
    del document["domain_sha256"]
    (folder / "checkpoint.json").write_text(json.dumps(document))
    (folder / DOMAIN_FILE).unlink()
    app = new_session(folder.parent, monkeypatch)
    upload_batch(app, mixed_batch(), "mixed.csv")
    assert not app.exception
    assert marks(app) == [], "no count and no mark without the statistic"
    assert all(toggle.key != state.QUEUE_UNLIKE_TRAINING for toggle in app.toggle)
    assert not any("training documents" in caption.value for caption in app.caption)
    store = workspace()
    collection = store.find_collection("mixed.csv")
    assert {record["unlike_training"] for record in export_records(store, collection.id)} == {None}
