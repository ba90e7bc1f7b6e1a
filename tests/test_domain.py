"""The domain check (jman_core.domain): fitted at training time, stored in the checkpoint, used by the
Predictor; the samples' models; the CiteULike-a reader."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import numpy as np
import pytest
from conftest import TOPICS, make_rows, tiny_config, write_csv

from app.components.document_input import sample_label
from app.documents import SAMPLE_DIRECTORY, read_samples, samples_for_model
from jman_core.checkpoint import load_checkpoint
from jman_core.cli import main
from jman_core.data import (
    bibtex_text,
    data_note,
    plural_tag_merges,
    read_citeulike,
    read_documents,
    split_documents,
)
from jman_core.domain import DOMAIN_FILE, document_ids
from jman_core.errors import CheckpointError, DataError
from jman_core.experiment import train_documents
from jman_core.predict import DOMAIN_WARNING_START, Predictor
from jman_core.text import to_plain_text

IN_TOPIC = ("cooking", "astronomy")


def topic_rows(topics: tuple[str, ...], count: int, seed: int) -> list[dict[str, str]]:
    return [row for row in make_rows(count, seed) if row["tags"].split()[0] in topics]


@pytest.fixture(scope="module")
def two_topic_model(tmp_path_factory):
    """A tiny model trained on cooking and astronomy documents only: (checkpoint folder, data file)."""
    folder = tmp_path_factory.mktemp("domain")
    data = write_csv(folder / "two-topics.csv", topic_rows(IN_TOPIC, 480, 7))
    config = tiny_config(folder / "cache")
    result = train_documents(
        read_documents(data, config.data), config, folder / "model", data_source=data.name
    )
    assert result.checkpoint is not None
    return result.checkpoint, data


def pairs(rows: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(row["title"], row["content"]) for row in rows]


# ---- samples belong to a model ------------------------------------------------------------------
def test_samples_of_the_model_come_first_and_the_others_say_whose(tmp_path):
    for name, models in (
        ("a-cooking", ["stackexchange-cooking"]),
        ("b-paper", ["citeulike-a"]),
        ("c-none", []),
    ):
        (tmp_path / f"{name}.json").write_text(
            json.dumps({"title": name, "content": "text", "models": models})
        )
    samples = read_samples(tmp_path)
    ordered = samples_for_model(samples, "/somewhere/checkpoints/citeulike-a")
    assert [sample.name for sample in ordered] == ["b-paper", "a-cooking", "c-none"]
    by_name = {sample.name: sample for sample in ordered}
    assert sample_label("b-paper", by_name, "citeulike-a") == "b-paper"
    assert (
        sample_label("a-cooking", by_name, "citeulike-a")
        == "a-cooking  (for another model: stackexchange-cooking)"
    )
    assert "none of the shipped models" in sample_label("c-none", by_name, "citeulike-a")


def test_every_shipped_sample_names_models_and_the_academic_model_has_abstracts():
    samples = read_samples(SAMPLE_DIRECTORY)
    checkpoints = {path.name for path in (SAMPLE_DIRECTORY.parent / "checkpoints").iterdir()}
    assert all(set(sample.models) <= checkpoints for sample in samples)
    assert sum("citeulike-a" in sample.models for sample in samples) >= 3
    assert samples_for_model(samples, "stackexchange-cooking")[0].models == ["stackexchange-cooking"]


# ---- the warning -------------------------------------------------------------------------------
def test_in_topic_documents_pass_and_off_topic_ones_warn(two_topic_model):
    predictor = Predictor.from_checkpoint(two_topic_model[0])
    inside = predictor.domain_checks(pairs(topic_rows(IN_TOPIC, 160, 99)))
    outside = predictor.domain_checks(pairs(topic_rows(("football", "programming"), 160, 99)))
    assert sum(check.unusual for check in inside) <= 0.1 * len(inside)
    assert all(check.unusual for check in outside)
    assert min(check.score for check in outside) > max(check.score for check in inside)


def plain_pairs(rows: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(to_plain_text(title), to_plain_text(content)) for title, content in pairs(rows)]


def test_a_document_the_model_has_nothing_to_say_about_is_unusual_too(two_topic_model):
    """The confidence signal: the best tag's score against the validation documents' best; scores the
    caller has spare a run of the model, and the statistic asks for them. A model certain of every
    validation document (all its best scores at the ceiling, as this tiny one is) gets no such signal."""
    from jman_core.domain import DomainEstimator

    predictor = Predictor.from_checkpoint(two_topic_model[0])
    assert set(predictor.domain.validation_) == {"similarity", "vocabulary"}  # fitted: all at 0.999
    train, validation = plain_pairs(topic_rows(IN_TOPIC, 300, 11)), plain_pairs(topic_rows(IN_TOPIC, 120, 12))
    spread = np.linspace(0.3, 0.999, len(validation))
    domain = DomainEstimator().fit(predictor.pipeline, train, validation, spread)
    assert set(domain.validation_) == {"similarity", "vocabulary", "confidence"}
    certain = np.full(len(validation), 0.999)
    assert not DomainEstimator().fit(predictor.pipeline, train, validation, certain).uses_confidence
    predictor.domain = domain
    inside = pairs(topic_rows(IN_TOPIC, 40, 7))
    scores = predictor.predict_proba_batch(inside)
    checks = predictor.domain_checks(inside)
    assert checks == predictor.domain_checks(inside, scores)  # scores spare a run
    assert all(check.best_score == pytest.approx(row.max(), abs=1e-6) for check, row in zip(checks, scores))
    plain = plain_pairs(topic_rows(IN_TOPIC, 40, 7))
    hopeless = domain.checks(predictor.pipeline, plain, np.zeros(len(plain)))
    assert sum(check.unusual for check in hopeless) > sum(check.unusual for check in checks)
    assert all(check.typical_share["confidence"] > 0.99 for check in hopeless)
    assert all("its best tag scores only 0.00" in check.reason for check in hopeless if check.unusual)
    assert all(
        hopeless_check.score > check.score for hopeless_check, check in zip(hopeless, checks)
    )  # the same words, a worse best tag: more unusual
    with pytest.raises(ValueError, match="best tag score"):
        domain.checks(predictor.pipeline, plain)


def test_words_typical_of_the_training_part_count_for_it_and_common_english_ones_not_at_all(two_topic_model):
    """The vocabulary signal's words: frequent in training and rare in English weigh for the domain, words
    the training part never had (unknown) against it, and common English words are not counted."""
    from jman_core.text import UNKNOWN_ID

    predictor = Predictor.from_checkpoint(two_topic_model[0])
    domain, vocabulary = predictor.domain, predictor.pipeline.vocabulary
    for word in ("yeast", "telescope", "nebula"):
        assert domain.counted_[vocabulary[word]] and domain.word_evidence_[vocabulary[word]] > 1.0
    assert domain.word_evidence_[UNKNOWN_ID] == pytest.approx(np.log(0.5))
    common = [word for word in ("the", "and", "of", "is") if word in vocabulary]
    assert common and not any(domain.counted_[vocabulary[word]] for word in common)
    words = TOPICS["football"]
    football = " ".join(words["title"] + words["content"])
    cooking = " ".join(TOPICS["cooking"]["title"] + TOPICS["cooking"]["content"])
    values = domain.vocabulary_values(
        [document_ids(predictor.pipeline, text, "") for text in (football, cooking, "the and of is")]
    )
    assert values[0] < 0 < values[1] and values[2] == 0.0  # only common words: neither way


def test_a_statistic_saved_before_the_vocabulary_signal_checks_the_similarity_as_it_did(two_topic_model):
    """Domain format 1 (the TF-IDF arrays alone): still read; the similarity against its own threshold,
    and the blend's floor on the best tag, as before."""
    import dataclasses

    from jman_core.domain import DomainEstimator

    predictor = Predictor.from_checkpoint(two_topic_model[0])
    tensors = {
        name: array
        for name, array in predictor.domain.to_tensors().items()
        if name in ("idf", "offsets", "columns", "values", "neighbours")
    }
    threshold = float(np.quantile(predictor.domain.validation_["similarity"], 0.975))
    tensors["threshold"] = np.asarray([threshold], np.float32)
    predictor.domain = DomainEstimator.from_tensors(tensors, predictor.pipeline.vocabulary_size)
    assert predictor.domain.word_evidence_ is None and not predictor.domain.uses_confidence
    inside = pairs(topic_rows(IN_TOPIC, 40, 7))
    scores = predictor.predict_proba_batch(inside)
    predictor.blend = dataclasses.replace(predictor.blend, confidence_floor=None)
    plain = predictor.domain_checks(inside)
    assert [check.unusual for check in plain] == [check.score > threshold for check in plain]
    assert all(not check.signals for check in plain)
    predictor.blend = dataclasses.replace(predictor.blend, confidence_floor=float(scores.max()) + 0.01)
    raised = predictor.domain_checks(inside)
    assert all(check.unusual for check in raised) and not all(check.unusual for check in plain)
    assert all("its best tag scores only" in check.reason for check in raised)


def test_a_blend_floor_out_of_range_is_refused(two_topic_model):
    from jman_core.blend import Blend

    predictor = Predictor.from_checkpoint(two_topic_model[0])
    for bad in (-0.1, 1.5, True, "0.2"):
        with pytest.raises(ValueError, match="confidence floor"):
            Blend.from_json({**predictor.blend.to_json(), "confidence_floor": bad})


def test_the_explanation_puts_the_domain_warning_first(two_topic_model):
    predictor = Predictor.from_checkpoint(two_topic_model[0])
    words = TOPICS["football"]
    explanation = predictor.explain(" ".join(words["title"]), " ".join(words["content"]) + ".")
    assert explanation.domain is not None and explanation.domain.unusual
    assert explanation.warnings[0].startswith(DOMAIN_WARNING_START + ": ")
    quiet = predictor.explain(*pairs(topic_rows(("cooking",), 8, 3))[0])
    assert not quiet.domain.unusual and not any(DOMAIN_WARNING_START in text for text in quiet.warnings)


# ---- storage -----------------------------------------------------------------------------------
def test_the_statistic_survives_a_round_trip(two_topic_model, tmp_path):
    loaded = load_checkpoint(two_topic_model[0])
    documents = pairs(topic_rows(("cooking", "football"), 40, 5))
    best = np.linspace(0.0, 1.0, len(documents))
    before = loaded.domain.checks(loaded.pipeline, documents, best)
    statistics = json.loads((two_topic_model[0] / "checkpoint.json").read_text())["statistics"][
        "domain_check"
    ]
    assert statistics["threshold"] == pytest.approx(loaded.domain.threshold_)
    # add-domain-check rebuilds it from the same data, in a copy: the same statistic, the same weights
    copy = tmp_path / "copy"
    assert (
        main(
            [
                "add-domain-check",
                str(two_topic_model[0]),
                "--data",
                str(two_topic_model[1]),
                "--output",
                str(copy),
            ]
        )
        == 0
    )
    again = load_checkpoint(copy)
    after = again.domain.checks(again.pipeline, documents, best)
    assert [check.score for check in after] == pytest.approx([check.score for check in before], abs=1e-6)
    assert [check.signals for check in after] == [check.signals for check in before]
    assert again.domain.threshold_ == pytest.approx(loaded.domain.threshold_)
    weights = [
        hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
        for folder in (two_topic_model[0], copy)
    ]
    assert weights[0] == weights[1]
    assert "Domain check:" in (copy / "MODEL_CARD.md").read_text()
    # the blended SVM travels with it (a copy without it would not load)
    assert loaded.linear is not None and again.linear is not None
    assert (again.linear.label_weights_ == loaded.linear.label_weights_).all()


def test_add_domain_check_refuses_other_data(two_topic_model, tmp_path, capsys):
    other = write_csv(tmp_path / "other.csv", topic_rows(IN_TOPIC, 480, 8))
    assert (
        main(
            [
                "add-domain-check",
                str(two_topic_model[0]),
                "--data",
                str(other),
                "--output",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
    assert "not the data this model was trained on" in capsys.readouterr().err


def copy_checkpoint(source: Path, target: Path) -> Path:
    target.mkdir()
    for file in source.iterdir():
        (target / file.name).write_bytes(file.read_bytes())
    return target


def test_a_checkpoint_without_the_statistic_still_loads(two_topic_model, tmp_path):
    folder = copy_checkpoint(two_topic_model[0], tmp_path / "old")
    document = json.loads((folder / "checkpoint.json").read_text())
    del document["domain_sha256"]
    (folder / "checkpoint.json").write_text(json.dumps(document))
    (folder / DOMAIN_FILE).unlink()
    predictor = Predictor.from_checkpoint(folder)
    words = TOPICS["football"]
    assert predictor.domain_check(" ".join(words["title"]), "") is None
    assert predictor.explain(" ".join(words["title"]), "").domain is None


def test_a_damaged_domain_file_is_refused_in_one_line(two_topic_model, tmp_path):
    folder = copy_checkpoint(two_topic_model[0], tmp_path / "damaged")
    data = bytearray((folder / DOMAIN_FILE).read_bytes())
    data[-3] ^= 0xFF
    (folder / DOMAIN_FILE).write_bytes(bytes(data))
    with pytest.raises(CheckpointError) as refused:
        load_checkpoint(folder)
    assert "domain.safetensors" in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("name", "edit", "message"),
    [
        ("values", lambda array: np.full_like(array, np.nan), "between 0 and 1"),
        ("word_evidence", lambda array: np.full_like(array, np.inf), "word evidence that is not finite"),
        ("counted", lambda array: array[:-1], "counted-word flags"),
        ("validation_vocabulary", lambda array: array[::-1].copy(), "not sorted|unequal"),
        ("validation_confidence", lambda array: array.astype(np.float64), "float32 array"),
    ],
)
def test_domain_arrays_out_of_range_are_refused_even_with_a_matching_checksum(
    two_topic_model, tmp_path, name, edit, message
):
    from safetensors.numpy import load_file, save_file

    folder = copy_checkpoint(two_topic_model[0], tmp_path / "edited")
    arrays = load_file(str(folder / DOMAIN_FILE))
    arrays[name] = edit(arrays[name])
    save_file(arrays, str(folder / DOMAIN_FILE))
    document = json.loads((folder / "checkpoint.json").read_text())
    document["domain_sha256"] = hashlib.sha256((folder / DOMAIN_FILE).read_bytes()).hexdigest()
    (folder / "checkpoint.json").write_text(json.dumps(document))
    with pytest.raises(CheckpointError, match=f"damaged .*({message})"):
        load_checkpoint(folder)


# ---- the CiteULike-a reader --------------------------------------------------------------------
def test_bibtex_text_and_plural_merges():
    assert (
        bibtex_text(r"{T}he {\'e}t{\'e} of Barab\{\'a\}si \& {R}{\textless}5 \mu{}m")
        == "The ete of Barabasi & R<5 mum"
    )
    merges = plural_tag_merges(
        [
            "Networks",
            "network",
            "genomics",
            "genomic",
            "analysis",
            "18S",
            "18",
            "gene_networks",
            "gene-network",
        ]
    )
    assert merges == {"networks": "network", "gene-networks": "gene-network"}


def write_citeulike(folder: Path, count: int = 30) -> Path:
    (folder / "partial-topicmodelsvb-titles").mkdir(parents=True)
    (folder / "partial-hebatef-citeulike-CDL").mkdir()
    titles = [
        f"Paper number {index} on {random.Random(index).choice(['genes', 'graphs'])}"
        for index in range(count)
    ]
    (folder / "partial-topicmodelsvb-titles/citeutitles.txt").write_text("\n".join(titles) + "\n")
    (folder / "tags.dat").write_text("Networks\nnetwork\nGene_Expression\nreview")
    (folder / "item-tag.dat").write_text(
        "".join(f"2 {index % 2} {2 + index % 2}\n" for index in range(count))
    )
    (folder / "test-articles.txt").write_text("0\n5\n")
    (folder / "partial-hebatef-citeulike-CDL/raw-data.csv").write_text(
        '"doc.id","title","citeulike.id","raw.title","raw.abstract"\n'
        f'0,"x",1,"{titles[3]}","An {{A}}bstract \\& more."\n',
        encoding="utf-8",
    )
    return folder


def test_read_citeulike_marks_the_canonical_parts(tmp_path):
    documents = read_documents(write_citeulike(tmp_path / "citeulike-a"))
    assert documents == read_citeulike(tmp_path / "citeulike-a")
    assert [document.part for document in documents[:12]] == [
        "test",
        "validation",
        "train",
        "train",
        "train",
        "test",
        "train",
        "train",
        "train",
        "train",
        "train",
        "validation",
    ]
    assert documents[3].content == "An Abstract & more." and documents[4].content == ""
    assert documents[0].tags == ["network", "gene-expression"] and documents[1].tags == ["network", "review"]
    split = split_documents(documents, tiny_config("unused").data.__class__(split="predefined"), seed=1)
    assert [document.id for document in split.test] == ["0", "5"]
    assert {document.id for document in split.validation} == {"1", "11", "21"}


def test_the_model_card_says_what_the_reader_merged(tmp_path):
    folder = write_citeulike(tmp_path / "citeulike-a")
    assert "1 plural tags were merged" in data_note(folder)
    assert data_note(write_csv(tmp_path / "plain.csv", make_rows(8))) == ""


def test_read_citeulike_names_a_missing_file(tmp_path):
    folder = write_citeulike(tmp_path / "citeulike-a")
    (folder / "test-articles.txt").unlink()
    with pytest.raises(DataError, match="cannot read the CiteULike-a folder"):
        read_citeulike(folder)


# ---- the app -----------------------------------------------------------------------------------
def test_the_page_shows_the_domain_warning_above_the_tags(two_topic_model, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from app import state

    checkpoints = two_topic_model[0].parent / "checkpoints"
    if not checkpoints.exists():
        checkpoints.mkdir()
        copy_checkpoint(two_topic_model[0], checkpoints / "two-topics")
    monkeypatch.setenv("JMAN_CHECKPOINTS_DIR", str(checkpoints))
    page = AppTest.from_file(
        str(SAMPLE_DIRECTORY.parent / "app" / "streamlit_app.py"), default_timeout=30
    ).run()
    words = TOPICS["football"]
    page.text_input(key=state.TITLE).input(" ".join(words["title"]))
    page.text_area(key=state.CONTENT).input(" ".join(words["content"]) + ".")
    page = page.button(key=state.PREDICT).click().run()
    assert not page.exception
    assert page.warning[0].value.startswith(f"**{DOMAIN_WARNING_START}: ")
    assert sum(DOMAIN_WARNING_START in str(element.value) for element in page.warning) == 1


def queue_mark_page(folder: str, title: str, content: str) -> None:
    from app.components.domain import render_domain_mark
    from jman_core.predict import Predictor

    render_domain_mark(Predictor.from_checkpoint(folder), title, content)


def test_the_review_queue_marks_only_an_unusual_document(two_topic_model):
    from streamlit.testing.v1 import AppTest

    football = TOPICS["football"]
    for (title, content), marked in (
        ((" ".join(football["title"]), " ".join(football["content"]) + "."), True),
        (pairs(topic_rows(("cooking",), 8, 3))[0], False),
        (("", ""), False),
    ):
        page = AppTest.from_function(
            queue_mark_page, args=(str(two_topic_model[0]), title, content), default_timeout=30
        ).run()
        assert not page.exception
        assert [
            element.value.startswith("Unlike the model's training documents") for element in page.warning
        ] == ([True] if marked else [])
