"""Tests for jman_core.predict: ranked tags, thresholds, explanations aligned with tokens, odd inputs,
threads, per-tag evidence of each component. They run on the dummy checkpoint (random weights, every head,
the SVM and a blend: conftest.build_dummy_checkpoint); only the last needs a trained model's behaviour."""

from __future__ import annotations

import unicodedata
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from jman_core.blend import LINEAR, NETWORK
from jman_core.errors import DocumentError
from jman_core.experiment import encode_dataset
from jman_core.text import to_plain_text
from jman_core.training import predict_logits

TITLE = "Bread dough in the oven"
CONTENT = "<p>Knead the yeast and butter. Bake with salt.</p><p>Roast the garlic in a pan.</p>"

ODD_DOCUMENTS = {
    "one word": ("bread", ""),
    "one word content": ("", "telescope"),
    "html": (
        "How to <b>bake</b> bread?",
        "<div><p>Knead the <i>dough</i> &amp; bake.</p><script>alert('x')</script>"
        "<ul><li>flour</li></ul></div>",
    ),
    "maths": (
        "Prove that ∑ x_i² ≥ 0 for a < b",
        "Let $f(x) = x^2$, then f'(x) = 2x. If a < b and b > 0 then 1/2 < 1.",
    ),
    "chinese": ("如何 学习 编程", "机器学习 是 什么。 我 想 学习 python。"),
    "greek": ("Η αστρονομία", "Ο ήλιος είναι ένα αστέρι. Η σελήνη γυρίζει γύρω από τη γη."),
    "punctuation only": ("???", "!!! ..."),
    "unknown words only": ("zzyzx qwerty", "Lorem ipsum dolor sit amet."),
    "long title": (" ".join(["star"] * 200), "Observe the sky."),
    "many sentences": ("Match report", " ".join(f"The striker scored goal {n}." for n in range(60))),
    "no punctuation": ("Python", " ".join(["code debug loop"] * 100)),
    "control characters": ("bread\x00\x07 oven", "knead\x1b the dough\r\n\tbake"),
}


def assert_distribution(weights, length, name):
    assert weights is not None, f"{name} is None"
    assert len(weights) == length, f"{name} has {len(weights)} entries for {length} tokens"
    if length:
        assert all(weight >= 0 for weight in weights), name
        assert sum(weights) == pytest.approx(1.0, abs=1e-5), name


def read_tokens(segment):
    return [token for token in segment.tokens if token.read]


# ----------------------------------------------------------------------------------------------------
# Predictions


def test_prediction_ranks_every_label_by_score(dummy_predictor):
    scores = dummy_predictor.predict_proba(TITLE, CONTENT)
    prediction = dummy_predictor.predict(TITLE, CONTENT)
    assert scores.shape == (len(dummy_predictor.labels),)
    assert np.all((scores >= 0) & (scores <= 1))
    assert sorted(tag.label for tag in prediction.tags) == sorted(dummy_predictor.labels)
    ranked = [tag.score for tag in prediction.tags]
    assert ranked == sorted(ranked, reverse=True)
    by_label = dict(zip(dummy_predictor.labels, scores))
    for tag in prediction.tags:
        assert tag.score == pytest.approx(float(by_label[tag.label]), abs=1e-7)


def test_default_threshold_is_the_tuned_one(dummy_predictor):
    assert dummy_predictor.threshold == dummy_predictor.metadata.threshold
    prediction = dummy_predictor.predict(TITLE, CONTENT)
    assert prediction.threshold == dummy_predictor.metadata.threshold
    for tag in prediction.tags:
        assert tag.selected == (tag.score >= dummy_predictor.threshold)
    assert prediction.selected == [
        tag.label for tag in prediction.tags if tag.score >= dummy_predictor.threshold
    ]


def test_explicit_threshold_partitions_scores(dummy_predictor):
    everything = dummy_predictor.predict(TITLE, CONTENT, threshold=0.0)
    nothing = dummy_predictor.predict(TITLE, CONTENT, threshold=1.01)
    assert everything.selected == [tag.label for tag in everything.tags]
    assert nothing.selected == []
    middle = float(np.median([tag.score for tag in everything.tags]))
    prediction = dummy_predictor.predict(TITLE, CONTENT, threshold=middle)
    assert all(tag.selected == (tag.score >= middle) for tag in prediction.tags)


def test_top_k_limits_the_selection_to_the_best(dummy_predictor):
    prediction = dummy_predictor.predict(TITLE, CONTENT, threshold=0.0, top_k=2)
    assert prediction.selected == [tag.label for tag in prediction.tags[:2]]
    assert prediction.top_k == 2
    strict = dummy_predictor.predict(TITLE, CONTENT, threshold=1.01, top_k=3)
    assert strict.selected == []  # top_k never selects below the threshold


def test_rank_repartitions_without_running_the_model(dummy_predictor, monkeypatch):
    scores = dummy_predictor.predict_proba(TITLE, CONTENT)

    class NoComponent:
        def __getattr__(self, name):
            raise AssertionError(f"rank() used a component ({name})")

        def __call__(self, *arguments, **keywords):
            raise AssertionError("rank() ran the network")

    monkeypatch.setattr(dummy_predictor, "model", NoComponent())
    monkeypatch.setattr(dummy_predictor, "linear", NoComponent())
    ranked = dummy_predictor.rank(scores, threshold=0.0, top_k=1)
    assert len(ranked.selected) == 1
    assert ranked.selected[0] == dummy_predictor.labels[int(np.argmax(scores))]
    assert dummy_predictor.rank(scores).selected == [
        label
        for label, score in sorted(zip(dummy_predictor.labels, scores), key=lambda pair: -pair[1])
        if score >= dummy_predictor.threshold
    ]
    synthetic = np.linspace(0.0, 1.0, len(dummy_predictor.labels))
    ranked = dummy_predictor.rank(synthetic, threshold=0.5)
    assert [tag.score for tag in ranked.tags] == pytest.approx(sorted(synthetic, reverse=True))
    assert len(ranked.selected) == int(np.sum(synthetic >= 0.5))
    at_threshold = np.full(len(dummy_predictor.labels), 0.25)
    at_threshold[-1] = 0.5
    assert dummy_predictor.rank(at_threshold, threshold=0.5).selected == [
        dummy_predictor.labels[-1]
    ]  # score == threshold


def test_html_content_scores_like_its_plain_text(dummy_predictor):
    html_scores = dummy_predictor.predict_proba(TITLE, CONTENT)
    plain_scores = dummy_predictor.predict_proba(TITLE, to_plain_text(CONTENT))
    np.testing.assert_allclose(html_scores, plain_scores, atol=1e-6)


def test_predictor_matches_the_training_encoding(dummy_predictor, documents):
    """The scores at inference equal those of the training path (encode_ids + padding + batches, the
    network's logits and the SVM's margins blended), including documents past the title, sentence and
    word limits and past the SVM's content words."""
    from jman_core.data import Document

    extra = [
        Document("x1", " ".join(["galaxy"] * 45), " ".join(f"The comet {n} orbits." for n in range(25)), []),
        Document("x2", "python", " ".join(["code debug loop"] * 80), []),
        Document("x3", "", "Knead the dough.", []),
        Document("x4", "Referee", "", []),
    ]
    chosen = list(documents[:12]) + extra
    plain = [Document(d.id, to_plain_text(d.title), to_plain_text(d.content), []) for d in chosen]
    predictor = dummy_predictor
    assert predictor.linear is not None and predictor.linear.options.content_words > 0
    dataset = encode_dataset(
        predictor.pipeline, plain, predictor.labels, predictor.linear.options.content_words
    )
    assert (
        dataset.content_ids.shape[1] > predictor.pipeline.config.max_sentence_tokens
    )  # x2 reads past a sentence
    raw = {
        NETWORK: predict_logits(predictor.model, dataset, 5, torch.device("cpu"))[0],
        LINEAR: predictor.linear.scores(dataset, batch_size=5),
    }
    training_scores = predictor.blend.probabilities(raw)
    np.testing.assert_allclose(
        predictor.component_scores([(d.title, d.content) for d in chosen])[LINEAR], raw[LINEAR], atol=1e-5
    )
    inference_scores = dummy_predictor.predict_proba_batch([(d.title, d.content) for d in chosen])
    np.testing.assert_allclose(inference_scores, training_scores, atol=1e-5)


def test_predict_batch_equals_single_predictions(dummy_predictor):
    pairs = [value for value in ODD_DOCUMENTS.values()] + [(TITLE, CONTENT)]
    batch = dummy_predictor.predict_batch(pairs, batch_size=4)
    scores = dummy_predictor.predict_proba_batch(pairs, batch_size=3)
    assert len(batch) == len(pairs) == len(scores)
    for (title, content), prediction, row in zip(pairs, batch, scores):
        single = dummy_predictor.predict(title, content)
        assert [tag.label for tag in prediction.tags] == [tag.label for tag in single.tags]
        np.testing.assert_allclose(
            [tag.score for tag in prediction.tags], [tag.score for tag in single.tags], atol=1e-6
        )
        np.testing.assert_allclose(row, dummy_predictor.predict_proba(title, content), atol=1e-6)
        assert prediction.selected == single.selected


def test_empty_batch_gives_empty_scores(dummy_predictor):
    assert dummy_predictor.predict_proba_batch([]).shape == (0, len(dummy_predictor.labels))
    assert dummy_predictor.predict_batch([]) == []


def test_threads_give_the_single_threaded_results(dummy_predictor):
    pairs = [
        (TITLE, CONTENT),
        ODD_DOCUMENTS["html"],
        ODD_DOCUMENTS["chinese"],
        ODD_DOCUMENTS["many sentences"],
        ("", "Observe the nebula."),
        ("Penalty", ""),
    ]
    expected = [dummy_predictor.predict_proba(title, content) for title, content in pairs]

    def work(thread: int) -> list[tuple[int, np.ndarray]]:
        results = []
        for call in range(10):
            index = (thread + call) % len(pairs)
            results.append((index, dummy_predictor.predict_proba(*pairs[index])))
        return results

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(work, range(4)))
    assert sum(len(results) for results in outcomes) == 40
    for results in outcomes:
        for index, scores in results:
            np.testing.assert_array_equal(scores, expected[index])


# ----------------------------------------------------------------------------------------------------
# Explanations


def check_explanation(dummy_predictor, explanation):
    """Every attention is aligned with the read tokens and sentences and is a distribution over them."""
    document = explanation.document
    for segment, text in [(document.title, document.title_text)] + [
        (s, document.content_text) for s in document.sentences
    ]:
        for token in segment.tokens:
            assert text[token.start : token.end] == token.text
            assert token.text.strip() == token.text and token.text
            if token.known:
                word = dummy_predictor.pipeline.id_to_word[token.token_id]
                assert word == unicodedata.normalize("NFKC", token.text).lower()
        assert segment.start <= (segment.tokens[0].start if segment.tokens else segment.start)
    title_read = read_tokens(document.title)
    if title_read:
        assert_distribution(explanation.title_word_attention, len(title_read), "title_word_attention")
    else:
        assert explanation.title_word_attention is None or not any(explanation.title_word_attention)
    sentences = document.read_sentences
    assert len(explanation.sentence_word_attention) == len(sentences)
    for row, sentence in zip(explanation.sentence_word_attention, sentences):
        assert_distribution(row, len(read_tokens(sentence)), "sentence_word_attention row")
    assert_distribution(
        explanation.original_sentence_attention, len(sentences), "original_sentence_attention"
    )
    assert_distribution(
        explanation.title_guided_sentence_attention, len(sentences), "title_guided_sentence_attention"
    )


def test_explain_aligns_attention_with_tokens(dummy_predictor):
    explanation = dummy_predictor.explain(TITLE, CONTENT)
    document = explanation.document
    assert document.title_text == TITLE
    assert document.content_text == to_plain_text(CONTENT)
    assert [token.text for token in document.title.tokens] == TITLE.split()
    assert len(document.read_sentences) == 3
    check_explanation(dummy_predictor, explanation)
    np.testing.assert_allclose(
        [tag.score for tag in explanation.prediction.tags],
        [tag.score for tag in dummy_predictor.predict(TITLE, CONTENT).tags],
        atol=1e-6,
    )
    assert explanation.warnings == []


def test_explain_marks_what_was_not_read(dummy_predictor):
    limits = dummy_predictor.pipeline.config
    title = " ".join(f"star{n % 3}" for n in range(limits.max_title_tokens + 7))
    content = " ".join(f"The comet number {n} orbits the sun." for n in range(limits.max_sentences + 40))
    explanation = dummy_predictor.explain(title, content)
    document = explanation.document
    assert len(read_tokens(document.title)) == limits.max_title_tokens
    assert len(explanation.title_word_attention) == limits.max_title_tokens
    assert len(document.read_sentences) == limits.max_sentences
    assert any(not sentence.read for sentence in document.sentences)
    assert document.omitted_sentences > 0
    assert any("sentences were read" in warning for warning in explanation.warnings)
    check_explanation(dummy_predictor, explanation)


def test_empty_title_works(dummy_predictor):
    explanation = dummy_predictor.explain("", CONTENT)
    assert explanation.document.title.tokens == []
    assert not explanation.title_word_attention  # empty (or None): nothing to attend to
    assert any("title is empty" in warning for warning in explanation.warnings)
    check_explanation(dummy_predictor, explanation)
    scores = dummy_predictor.predict_proba(None, CONTENT)
    assert np.all(np.isfinite(scores))


def test_empty_content_works(dummy_predictor):
    explanation = dummy_predictor.explain(TITLE, "")
    assert explanation.document.sentences == []
    assert explanation.sentence_word_attention == []
    assert not explanation.original_sentence_attention and not explanation.title_guided_sentence_attention
    assert any("content is empty" in warning for warning in explanation.warnings)
    check_explanation(dummy_predictor, explanation)
    assert np.all(np.isfinite(dummy_predictor.predict_proba(TITLE, None)))


@pytest.mark.parametrize(
    "title, content",
    [
        ("", ""),
        (None, None),
        ("   ", "\n\t "),
        ("<p></p>", "<br/><div> </div>"),
        ("", "<script>var x = 1;</script>"),
    ],
)
def test_empty_document_is_a_document_error(dummy_predictor, title, content):
    with pytest.raises(DocumentError, match="empty"):
        dummy_predictor.predict(title, content)
    with pytest.raises(DocumentError, match="empty"):
        dummy_predictor.explain(title, content)


def test_non_text_input_is_a_document_error(dummy_predictor):
    with pytest.raises(DocumentError, match="must be text"):
        dummy_predictor.predict(["a", "list"], "content")


@pytest.mark.parametrize("name", sorted(ODD_DOCUMENTS))
def test_odd_documents_give_predictions_and_explanations(dummy_predictor, name):
    title, content = ODD_DOCUMENTS[name]
    prediction = dummy_predictor.predict(title, content)
    assert len(prediction.tags) == len(dummy_predictor.labels)
    assert all(np.isfinite(tag.score) and 0.0 <= tag.score <= 1.0 for tag in prediction.tags)
    check_explanation(dummy_predictor, dummy_predictor.explain(title, content))


def test_html_is_read_as_text(dummy_predictor):
    explanation = dummy_predictor.explain(*ODD_DOCUMENTS["html"])
    document = explanation.document
    assert document.title_text == "How to bake bread?"
    assert "alert" not in document.content_text and "<" not in document.content_text
    assert "dough & bake" in document.content_text and "flour" in document.content_text


def test_maths_keeps_its_words(dummy_predictor):
    """Plain text holding both < and > (an inequality, not a tag) must keep every word it holds."""
    explanation = dummy_predictor.explain("Bounds", "If 0<x and x>1 then no such x exists.")
    content = explanation.document.content_text
    assert "x and x" in content, f"words vanished from the content: {content!r}"


def test_chinese_and_greek_are_tokenised(dummy_predictor):
    explanation = dummy_predictor.explain(*ODD_DOCUMENTS["chinese"])
    assert len(explanation.document.read_sentences) == 2  # split at the ideographic full stop
    assert [token.text for token in explanation.document.title.tokens] == ["如何", "学习", "编程"]
    explanation = dummy_predictor.explain(*ODD_DOCUMENTS["greek"])
    assert [token.text for token in explanation.document.title.tokens] == ["Η", "αστρονομία"]
    assert any("vocabulary" in warning for warning in explanation.warnings)


def test_200_kb_of_content(dummy_predictor):
    sentence = "The striker passed to the defender and the coach watched the season unfold. "
    content = sentence * (200_000 // len(sentence) + 1)
    assert len(content) >= 200_000
    explanation = dummy_predictor.explain("Long match report", content)
    assert len(explanation.document.read_sentences) == dummy_predictor.pipeline.config.max_sentences
    assert explanation.document.omitted_sentences > 0
    assert all(np.isfinite(tag.score) for tag in explanation.prediction.tags)
    check_explanation(dummy_predictor, explanation)
    unpunctuated = "code debug loop " * (200_000 // 16 + 1)
    prediction = dummy_predictor.predict("Python", unpunctuated)
    assert all(np.isfinite(tag.score) for tag in prediction.tags)


def test_long_unpunctuated_content_is_cut_into_chunks(dummy_predictor):
    limits = dummy_predictor.pipeline.config
    explanation = dummy_predictor.explain("Python", "code debug loop " * 2_000)
    sentences = explanation.document.read_sentences
    assert len(sentences) == limits.max_sentences
    assert all(
        len(read_tokens(sentence)) == (limits.chunk_tokens or limits.max_sentence_tokens)
        for sentence in sentences
    )
    check_explanation(dummy_predictor, explanation)


def test_explanation_scores_are_in_label_order_and_rank_like_predict(dummy_predictor):
    explanation = dummy_predictor.explain("Bread oven recipe?", "Knead the dough. Bake it.")
    assert explanation.scores.shape == (len(dummy_predictor.labels),)
    by_label = {tag.label: tag.score for tag in explanation.prediction.tags}
    assert [by_label[label] for label in dummy_predictor.labels] == pytest.approx(explanation.scores.tolist())
    assert dummy_predictor.rank(explanation.scores).selected == explanation.prediction.selected


# ----------------------------------------------------------------------------------------------------
# Per-tag evidence


def test_tag_evidence_is_aligned_with_the_words_read_and_sums_by_sentence(dummy_predictor):
    explanation = dummy_predictor.explain(TITLE, CONTENT)
    label = explanation.prediction.tags[0].label
    evidence = dummy_predictor.tag_evidence(TITLE, CONTENT, label)
    assert evidence.label == label
    assert evidence.score == pytest.approx(explanation.prediction.tags[0].score, abs=1e-5)
    assert len(evidence.title_word_evidence) == len(read_tokens(explanation.document.title))
    assert [len(row) for row in evidence.sentence_word_evidence] == [
        len(read_tokens(sentence)) for sentence in explanation.document.read_sentences
    ]
    assert evidence.sentence_evidence == pytest.approx([sum(row) for row in evidence.sentence_word_evidence])
    assert any(value != 0 for row in evidence.sentence_word_evidence for value in row)  # the words do matter
    # the tag's own attention (the label attention head) over every word read, title and content together
    assert len(evidence.title_word_attention) == len(evidence.title_word_evidence)
    assert [len(row) for row in evidence.sentence_word_attention] == [
        len(row) for row in evidence.sentence_word_evidence
    ]
    total = sum(evidence.title_word_attention) + sum(map(sum, evidence.sentence_word_attention))
    assert total == pytest.approx(1.0, abs=1e-5)
    assert set(evidence.heads["label_mentions"]) == {"title", "content"}  # the tag-name head's part


def test_tag_evidence_shares_each_components_part_of_the_score(dummy_predictor):
    predictor = dummy_predictor
    raw = predictor.component_scores([(TITLE, CONTENT)])
    for label in predictor.labels[:4]:
        index = predictor.labels.index(label)
        evidence = predictor.tag_evidence(TITLE, CONTENT, label)
        assert set(evidence.components) == {NETWORK, LINEAR} and evidence.network_weight == 0.5
        assert evidence.score == pytest.approx(predictor.predict_proba(TITLE, CONTENT)[index], abs=1e-6)
        assert sum(part.share for part in evidence.components.values()) == pytest.approx(
            evidence.score, abs=1e-6
        )
        for name, part in evidence.components.items():
            calibrator = predictor.blend.calibrators[name]
            assert part.weight == predictor.blend.weights[name]
            assert part.probability == pytest.approx(
                float(calibrator.transform(raw[name][:, index])[0]), abs=1e-6
            )
            assert part.share == pytest.approx(part.weight * part.probability)
            assert len(part.title_word_evidence) == len(evidence.title_word_evidence)
            assert [len(row) for row in part.sentence_word_evidence] == [
                len(row) for row in evidence.sentence_word_evidence
            ]
        # the whole score's word evidence: each component's, times d score / d its calibrated log odds
        expected = sum(
            part.weight * part.probability * (1 - part.probability) * np.asarray(part.title_word_evidence)
            for part in evidence.components.values()
        )
        np.testing.assert_allclose(evidence.title_word_evidence, expected, atol=1e-9)


def test_the_svms_word_evidence_is_its_margin_less_the_bias(dummy_predictor):
    """Every word of this short document is drawn, so the SVM's word evidence accounts for its whole margin
    but the bias: what is left outside is the calibrated log odds of the bias alone."""
    predictor = dummy_predictor
    margins = predictor.component_scores([(TITLE, CONTENT)])[LINEAR][0]
    slope, intercept = (
        predictor.blend.calibrators[LINEAR].slope_,
        predictor.blend.calibrators[LINEAR].intercept_,
    )
    moved = 0
    for index, label in enumerate(predictor.labels[:6]):
        part = predictor.tag_evidence(TITLE, CONTENT, label).components[LINEAR]
        words = sum(part.title_word_evidence) + sum(map(sum, part.sentence_word_evidence))
        bias = float(predictor.linear.bias_[index])
        assert words == pytest.approx(slope * (margins[index] - bias), abs=1e-4)
        assert part.outside == pytest.approx(slope * bias + intercept, abs=1e-4)
        moved += abs(words) > 1e-3
    assert moved >= 2  # the document's words do move several tags' margins


def test_the_svms_strongest_terms_are_words_of_the_document(dummy_predictor):
    evidence = dummy_predictor.tag_evidence(TITLE, CONTENT, "cooking")
    terms = evidence.components[LINEAR].terms
    assert terms, "no word moved the SVM's score for cooking"
    read = {word.lower().strip(".") for word in (TITLE + " " + to_plain_text(CONTENT)).split()}
    for text, _ in terms:
        assert set(text.removesuffix(" (in the title)").split()) <= read, text
    sizes = [abs(value) for _, value in terms]
    assert sizes == sorted(sizes, reverse=True)


def test_tag_evidence_of_an_unknown_tag_names_the_problem(dummy_predictor):
    with pytest.raises(DocumentError, match="has no tag 'no-such-tag'"):
        dummy_predictor.tag_evidence(TITLE, CONTENT, "no-such-tag")


# ----------------------------------------------------------------------------------------------------
# A trained model's behaviour


def test_the_trained_model_suggests_each_topics_tag_first(predictor):
    samples = {
        "cooking": ("Bread dough in the oven", "<p>Knead the yeast and butter. Bake with salt.</p>"),
        "astronomy": ("Telescope for a comet", "Observe the nebula in the sky. The lens gathers light."),
        "football": ("Striker scores a penalty", "The defender made a tackle. The coach was angry."),
        "programming": ("Python loop bug", "Debug the syntax error in the module."),
    }
    for topic, (title, content) in samples.items():
        assert predictor.predict(title, content).tags[0].label == topic
