"""One battery over every network and score head, and estimator checks of the parts beside the network.

Every encoder (the seven JMAN variations, HAN, BiGRU) with every combination of heads it can feed (none,
each alone, all together): heads summed into the logits, padding masked, a document independent of its
batch, the checkpoint round trip. The heads start at zero in training; here their weights are random, so
a head that reads padding changes the scores and fails. Then the word-and-pair SVM, the calibrators and
the blend, checked as scikit-learn checks its estimators.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from jman_core.batching import EncodedDataset, iterate_batches, make_batch, pad_documents, pad_rows
from jman_core.blend import LINEAR, NETWORK, Blend
from jman_core.calibration import IsotonicCalibrator, PlattCalibrator, calibrator_from_json
from jman_core.checkpoint import CheckpointMetadata, load_checkpoint, save_checkpoint
from jman_core.config import NETWORKS, VARIATIONS, LinearConfig, ModelConfig, TextConfig
from jman_core.errors import CheckpointError, ConfigError
from jman_core.linear import STATE_NAMES, WordPairSVM
from jman_core.metrics import expected_calibration_error
from jman_core.model import HEADS, LexicalPath, build_model
from jman_core.predict import Predictor
from jman_core.text import TextPipeline

TEXT_CONFIG = TextConfig(min_word_frequency=1, max_title_tokens=8, max_sentences=6, max_sentence_tokens=8)
# 48 words and <pad>, <unk>: a vocabulary of 50
PIPELINE = TextPipeline.build([" ".join(f"w{number}" for number in range(48))], TEXT_CONFIG)
VOCABULARY_SIZE = PIPELINE.vocabulary_size


def word(index: int) -> str:
    return PIPELINE.id_to_word[index]


# Tag names: a title word of documents 0 and 4, two words of one sentence of document 0, a content word of
# document 3, a name outside the vocabulary (never named) and a word of document 4's last sentence.
LABELS = [word(2), f"{word(10)}-{word(12)}", word(22), "never-named", word(47)]

# (title ids, sentence ids): lengths vary on every axis; an empty title, an empty content, a long sentence.
DOCUMENTS = [
    ([2, 3, 4], [[10, 11, 12], [13, 14], [15, 16, 17, 18]]),
    ([], [[19, 20], [21]]),
    ([5, 6], []),
    ([7], [[22]]),
    ([8, 9, 2, 3, 4, 40, 41], [[23, 24, 25, 26, 27], [28], [29, 10], [11, 12, 13], [45, 46, 47, 48, 49]]),
    ([30, 31, 32], [[33, 34, 35, 36, 37, 38, 39]]),
]

ENCODER_ATTENTIONS = (
    "title_word_attention",
    "sentence_word_attention",
    "original_sentence_attention",
    "title_guided_sentence_attention",
)


def allowed_heads(network: str) -> list[str]:
    return [name for name, head in HEADS.items() if head.encoders is None or network in head.encoders]


def head_combinations(network: str) -> list[tuple[str, ...]]:
    """Each head alone beside the paper's classifier (which every network has), and all of them together."""
    allowed = allowed_heads(network)
    return [*((name,) for name in allowed), tuple(allowed)]


CASES = [
    pytest.param(network, heads, id=f"{network}:{'+'.join(heads)}")
    for network in NETWORKS
    for heads in head_combinations(network)
]
# The last case of each network holds all the heads it can feed.
ALL_HEADS = [pytest.param(network, tuple(allowed_heads(network)), id=network) for network in NETWORKS]


def make_network(network: str, heads: tuple[str, ...], seed: int = 0):
    """A tiny network with random weights everywhere, its heads included (they start at zero in training)."""
    config = ModelConfig(
        variation=network,
        vocabulary_size=VOCABULARY_SIZE,
        num_labels=len(LABELS),
        hidden_size=4,
        embedding_dim=4,
        heads={name: {} for name in heads},
    )
    torch.manual_seed(seed)
    model = build_model(config, labels=LABELS, pipeline=PIPELINE).eval()
    with torch.no_grad():
        for parameter in model.heads.parameters():
            parameter.normal_()
    return model


def pad(documents, title_length: int = 0, sentences: int = 0, words: int = 0, garbage: bool = False):
    """(title_ids, title_mask, sentence_ids, word_mask), right-padded to at least the given sizes; with
    `garbage`, the padded slots hold random word ids instead of 0 (only the masks say what is padding)."""
    title_length = max(title_length, 1, *(len(title) for title, _ in documents))
    sentences = max(sentences, 1, *(len(content) for _, content in documents))
    words = max(words, 1, *(len(ids) for _, content in documents for ids in content))
    batch = len(documents)
    generator = torch.Generator().manual_seed(7)
    title_ids = torch.zeros(batch, title_length, dtype=torch.long)
    sentence_ids = torch.zeros(batch, sentences, words, dtype=torch.long)
    if garbage:
        title_ids = torch.randint(2, VOCABULARY_SIZE, title_ids.shape, generator=generator)
        sentence_ids = torch.randint(2, VOCABULARY_SIZE, sentence_ids.shape, generator=generator)
    title_mask = torch.zeros(batch, title_length, dtype=torch.bool)
    word_mask = torch.zeros(batch, sentences, words, dtype=torch.bool)
    for row, (title, content) in enumerate(documents):
        title_ids[row, : len(title)] = torch.tensor(title, dtype=torch.long)
        title_mask[row, : len(title)] = True
        for index, ids in enumerate(content):
            sentence_ids[row, index, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            word_mask[row, index, : len(ids)] = True
    return title_ids, title_mask, sentence_ids, word_mask


def named_outputs(output, inputs) -> dict[str, torch.Tensor]:
    """Every tensor of an output with its padded axes last: the logits, each head's logits, the encoder's
    attentions, and each head's per-tag attention split into its title (B, L, T) and content (B, L, S, W)."""
    _, _, sentence_ids, _ = inputs
    title_length = inputs[0].shape[1]
    named = {
        "logits": output.logits,
        **{f"{name} logits": value for name, value in output.head_logits.items()},
    }
    named.update(
        {name: getattr(output, name) for name in ENCODER_ATTENTIONS if getattr(output, name) is not None}
    )
    for name, attention in output.head_attentions.items():
        named[f"{name} over the title"] = attention[..., :title_length]
        named[f"{name} over the content"] = attention[..., title_length:].reshape(
            *attention.shape[:2], *sentence_ids.shape[1:]
        )
    return named


def assert_same_and_zero_beyond(padded: torch.Tensor, tight: torch.Tensor, name: str) -> None:
    """`padded` equals `tight` in tight's region and is 0 everywhere else (padding)."""
    region = tuple(slice(0, size) for size in tight.shape)
    difference = float((padded[region] - tight).abs().max()) if tight.numel() else 0.0
    assert difference <= 1e-5, f"{name} differs by {difference:.3g}"
    if padded.shape != tight.shape:
        rest = padded.clone()
        rest[region] = 0
        assert not rest.any(), f"{name} is not 0 on padding"


def run(model, inputs):
    with torch.no_grad():
        return model(*inputs)


# ----------------------------------------------------------------------------------------------------
# The checks, as functions, so that a test can also show they catch a broken head


def check_heads_sum_to_logits(model, heads) -> None:
    output = run(model, pad(DOCUMENTS))
    assert set(output.head_logits) == {"classifier", *heads}
    for name, logits in output.head_logits.items():
        assert logits.shape == (len(DOCUMENTS), len(LABELS)), name
        assert torch.isfinite(logits).all(), name
        assert logits.abs().sum() > 0, f"the {name} head adds nothing: the battery would not see it"
    torch.testing.assert_close(sum(output.head_logits.values()), output.logits, atol=1e-6, rtol=0)


def check_attentions_are_masked(model) -> None:
    """Each attention sums to 1 over the real tokens it weighs and is exactly 0 on padding."""
    inputs = pad(DOCUMENTS, title_length=9, sentences=6, words=8, garbage=True)
    _, title_mask, _, word_mask = inputs
    output = run(model, inputs)
    sentence_mask = word_mask.any(-1)
    masks = {
        "title_word_attention": title_mask,
        "sentence_word_attention": word_mask,
        "original_sentence_attention": sentence_mask,
        "title_guided_sentence_attention": sentence_mask,
    }
    reads_title, reads_content = (
        getattr(model.encoder, "reads_title", True),
        getattr(model.encoder, "reads_content", True),
    )
    read = torch.cat(
        [title_mask & reads_title, (word_mask & reads_content).flatten(1)], dim=1
    )  # (B, T + S*W)
    weighed = {
        **masks,
        **{name: read.unsqueeze(1).expand_as(weights) for name, weights in output.head_attentions.items()},
    }
    found = {**{name: getattr(output, name) for name in ENCODER_ATTENTIONS}, **output.head_attentions}
    for name, weights in found.items():
        if weights is None:
            continue
        mask = weighed[name]
        assert torch.isfinite(weights).all() and (weights >= 0).all(), name
        assert (weights[~mask] == 0).all(), f"{name} is not 0 on padding"
        sums, has_real = weights.sum(-1), mask.any(-1)
        assert (sums[~has_real] == 0).all(), f"{name}: a row with nothing to weigh is not all 0"
        if model.config.variation == "HAN" and name == "original_sentence_attention":
            # the title is HAN's first sentence: the content sentences share what it left
            assert ((sums > 0) == has_real).all() and (sums <= 1 + 1e-6).all(), name
            untitled = has_real & ~title_mask.any(-1)
            torch.testing.assert_close(sums[untitled], torch.ones_like(sums[untitled]), msg=name)
        else:
            torch.testing.assert_close(sums[has_real], torch.ones_like(sums[has_real]), msg=name)


def check_padding_is_masked(model) -> None:
    """More padding on any axis, or other ids in the padded slots, changes no logit and no attention."""
    tight_inputs = pad(DOCUMENTS)
    tight = named_outputs(run(model, tight_inputs), tight_inputs)
    for *sizes, garbage in [(0, 0, 0, True), (9, 7, 11, False), (9, 7, 11, True)]:
        inputs = pad(DOCUMENTS, *sizes, garbage=garbage)
        padded = named_outputs(run(model, inputs), inputs)
        assert set(padded) == set(tight)
        for name, values in tight.items():
            assert_same_and_zero_beyond(
                padded[name], values, f"{name} (padded to {sizes}, garbage {garbage})"
            )


def check_batch_independence(model) -> None:
    """A document scored alone equals it scored among documents of other lengths."""
    inputs = pad(DOCUMENTS)
    together = named_outputs(run(model, inputs), inputs)
    for row, document in enumerate(DOCUMENTS):
        alone_inputs = pad([document])
        alone = named_outputs(run(model, alone_inputs), alone_inputs)
        for name, values in alone.items():
            assert_same_and_zero_beyond(together[name][row : row + 1], values, f"{name} of document {row}")


# ----------------------------------------------------------------------------------------------------
# The battery


@pytest.mark.parametrize("network, heads", CASES)
def test_head_logits_sum_to_the_logits(network, heads):
    check_heads_sum_to_logits(make_network(network, heads), heads)


@pytest.mark.parametrize("network, heads", CASES)
def test_attention_sums_to_one_on_real_tokens_and_is_zero_on_padding(network, heads):
    model = make_network(network, heads)
    check_attentions_are_masked(model)
    check_attentions_are_masked(model.train())  # dropout on: still masked


@pytest.mark.parametrize("network, heads", CASES)
def test_padding_and_the_ids_under_it_change_nothing(network, heads):
    check_padding_is_masked(make_network(network, heads))


@pytest.mark.parametrize("network, heads", CASES)
def test_a_document_does_not_depend_on_the_rest_of_its_batch(network, heads):
    check_batch_independence(make_network(network, heads))


def test_the_battery_sees_a_head_that_reads_padding(monkeypatch):
    """The checks can fail: a lexical path that counts every slot, padding included, is caught."""
    model = make_network("JMAN", ("lexical_path",))
    check_padding_is_masked(model)

    def counts_padding(self, reading):
        batch = reading.title_ids.shape[0]
        ids = torch.cat([reading.title_ids, reading.sentence_ids.reshape(batch, -1)], dim=1)
        return self.word_scores(ids), None

    monkeypatch.setattr(LexicalPath, "forward", counts_padding)
    with pytest.raises(AssertionError):
        check_padding_is_masked(model)
    with pytest.raises(AssertionError):
        check_batch_independence(model)


def test_the_battery_sees_an_attention_without_its_mask(monkeypatch):
    import jman_core.model as model_module

    model = make_network("JMAN-s", ("label_attention",))
    monkeypatch.setattr(
        model_module, "masked_softmax", lambda scores, mask: torch.softmax(scores.float(), dim=-1)
    )
    with pytest.raises(AssertionError):
        check_attentions_are_masked(model)
    with pytest.raises(AssertionError):
        check_padding_is_masked(model)


# ---- the checkpoint round trip -----------------------------------------------------------------------


def synthetic_dataset(count: int, seed: int, content_words: int = 0) -> EncodedDataset:
    """`count` random documents; tag l is on when word 2 + 3l is read (so an SVM has something to learn)."""
    generator = np.random.default_rng(seed)
    documents = []
    for _ in range(count):
        title = [int(i) for i in generator.integers(2, VOCABULARY_SIZE, generator.integers(1, 6))]
        content = [
            [int(i) for i in generator.integers(2, VOCABULARY_SIZE, generator.integers(1, 8))]
            for _ in range(generator.integers(1, 5))
        ]
        documents.append((title, content))
    labels = np.array(
        [
            [float(any(2 + 3 * label in ids for ids in [title, *content])) for label in range(len(LABELS))]
            for title, content in documents
        ],
        dtype=np.float32,
    )
    titles, sentences = pad_documents(
        documents, TEXT_CONFIG.max_title_tokens, TEXT_CONFIG.max_sentences, TEXT_CONFIG.max_sentence_tokens
    )
    content = None
    if content_words:
        content = pad_rows(
            [[i for ids in sentence_ids for i in ids] for _, sentence_ids in documents], content_words
        )
    return EncodedDataset(titles, sentences, labels, content)


@pytest.fixture(scope="module")
def fitted_svm() -> tuple[WordPairSVM, EncodedDataset]:
    """A word-and-pair SVM fitted on 60 synthetic documents that read their content past the sentences."""
    dataset = synthetic_dataset(60, seed=0, content_words=40)
    options = LinearConfig(per_label=30, content_words=40)
    return WordPairSVM(options).fit(dataset, PIPELINE.id_to_word, batch_size=16, seed=0), dataset


BLEND = Blend(
    {NETWORK: PlattCalibrator(1.5, -0.2), LINEAR: IsotonicCalibrator([-1.0, 0.0, 2.0], [0.05, 0.3, 0.9])},
    {NETWORK: 0.3, LINEAR: 0.7},
)
TEXTS = [
    (f"{word(2)} {word(3)} {word(4)}", f"{word(10)} {word(12)} {word(13)}. {word(22)} {word(5)}."),
    ("", f"{word(47)} {word(46)} {word(9)}"),
    (f"{word(30)} {word(31)}", ""),
]


def save_and_load(folder, model, svm: WordPairSVM | None = None, blend: Blend | None = None):
    metadata = CheckpointMetadata(
        model_config=model.config,
        text_config=TEXT_CONFIG,
        labels=LABELS,
        label_counts=[],
        threshold=0.4,
        blend=blend.to_json() if blend else {},
        linear_config=svm.options if svm else LinearConfig(enabled=False),
    )
    return metadata, load_checkpoint(save_checkpoint(folder, model, PIPELINE, metadata, linear=svm))


def assert_same_network_outputs(loaded, model) -> None:
    inputs = pad(DOCUMENTS)
    before, after = named_outputs(run(model, inputs), inputs), named_outputs(run(loaded, inputs), inputs)
    assert set(after) == set(before)
    for name, values in before.items():
        assert torch.equal(after[name], values), name
    assert loaded.config == model.config


@pytest.mark.parametrize("network, heads", CASES)
def test_checkpoint_round_trip_gives_identical_outputs(network, heads, tmp_path):
    model = make_network(network, heads)
    _, loaded = save_and_load(tmp_path / "model", model)
    assert_same_network_outputs(loaded.model, model)
    assert loaded.linear is None and loaded.blend.to_json() == Blend().to_json()


@pytest.mark.parametrize("network, heads", ALL_HEADS)
def test_checkpoint_round_trip_with_the_svm_and_the_blend(network, heads, fitted_svm, tmp_path):
    model = make_network(network, heads)
    svm, _ = fitted_svm
    metadata, loaded = save_and_load(tmp_path / "model", model, svm, BLEND)
    assert_same_network_outputs(loaded.model, model)
    assert loaded.blend.to_json() == BLEND.to_json()
    for name in STATE_NAMES:
        assert torch.equal(getattr(loaded.linear, name), getattr(svm, name)), name
    assert loaded.linear.options == svm.options
    original = Predictor(model, PIPELINE, metadata, linear=svm, blend=BLEND)
    reloaded = Predictor(
        loaded.model, loaded.pipeline, loaded.metadata, linear=loaded.linear, blend=loaded.blend
    )
    np.testing.assert_array_equal(reloaded.predict_proba_batch(TEXTS), original.predict_proba_batch(TEXTS))


# ---- what a network cannot be built with --------------------------------------------------------------

REFUSED = [(network, name) for network in NETWORKS for name in HEADS if name not in allowed_heads(network)]


def test_some_head_is_refused_by_some_network():
    assert REFUSED, "every head fits every network: the refusal test below tests nothing"


@pytest.mark.parametrize("network, head", REFUSED)
def test_a_head_the_network_cannot_feed_is_refused(network, head):
    config = ModelConfig(
        variation=network,
        vocabulary_size=VOCABULARY_SIZE,
        num_labels=3,
        hidden_size=4,
        embedding_dim=4,
        heads={head: {}},
    )
    with pytest.raises(ConfigError, match=f"The {head} head needs .*{network}"):
        build_model(config)


@pytest.mark.parametrize(
    "heads, message",
    [
        ({"no_such_head": {}}, "Unknown head 'no_such_head'. Choose among: lexical_path"),
        (
            {"label_mentions": {"no_such_option": 1}},
            r"Unknown key\(s\) in model.heads.label_mentions: no_such_option",
        ),
        ({"label_mentions": {"name_words": "four"}}, "model.heads.label_mentions.name_words must be int"),
        ({"lexical_path": {"name_words": 4}}, r"Unknown key\(s\) in model.heads.lexical_path"),
    ],
)
def test_an_unknown_head_or_option_is_refused(heads, message):
    config = ModelConfig(variation="JMAN-s", vocabulary_size=VOCABULARY_SIZE, num_labels=3, heads=heads)
    with pytest.raises(ConfigError, match=message):
        build_model(config)


def test_head_options_that_are_not_a_mapping_are_refused():
    with pytest.raises(ConfigError, match="maps each head's name to a mapping of its options"):
        ModelConfig(heads={"lexical_path": True})


def test_every_registered_head_declares_its_options_and_words():
    for name, head in HEADS.items():
        assert head.description, name
        assert head.Options() is not None, name  # every option has a default


# ----------------------------------------------------------------------------------------------------
# The word-and-pair SVM as an estimator


def fitted_state(estimator) -> set[str]:
    return {name for name in vars(estimator) if name.endswith("_") and not name.startswith("_")}


def test_the_svm_does_nothing_until_fit_and_fit_returns_it_with_its_state(fitted_svm):
    svm, dataset = fitted_svm
    fresh = WordPairSVM(LinearConfig(per_label=30))
    assert fitted_state(fresh) == set() and fresh.options.per_label == 30
    assert fresh.fit(dataset, PIPELINE.id_to_word, seed=0) is fresh
    assert fitted_state(fresh) >= set(STATE_NAMES)
    assert fresh.label_features_.shape == fresh.label_weights_.shape == (len(LABELS), 30)


def test_the_svm_scores_have_one_column_per_tag_and_do_not_depend_on_the_batch(fitted_svm):
    svm, dataset = fitted_svm
    batch = next(iterate_batches(dataset, np.arange(7), 7, torch.device("cpu")))
    assert svm.decision_function(batch).shape == (7, len(LABELS))
    scores = svm.scores(dataset, batch_size=64)
    assert scores.shape == (len(dataset), len(LABELS)) and np.isfinite(scores).all()
    np.testing.assert_allclose(svm.scores(dataset, batch_size=1), scores, atol=1e-5)
    np.testing.assert_allclose(scores[:7], svm.decision_function(batch).numpy(), atol=1e-6)


def test_the_svm_learns_the_synthetic_tags(fitted_svm):
    svm, _ = fitted_svm
    held_out = synthetic_dataset(40, seed=1, content_words=40)
    scores = svm.scores(held_out)
    agreement = ((scores > 0) == (held_out.labels > 0)).mean(0)
    assert (agreement[held_out.labels.mean(0) > 0.1] > 0.7).all(), agreement


def test_the_same_seed_fits_the_same_svm(fitted_svm):
    svm, dataset = fitted_svm
    again = WordPairSVM(svm.options).fit(dataset, PIPELINE.id_to_word, batch_size=5, seed=0)
    for name in STATE_NAMES:
        assert torch.equal(getattr(again, name), getattr(svm, name)), name


@pytest.mark.parametrize("content_words", [0, 40], ids=["sentences", "content words"])
def test_token_effects_sum_exactly_to_the_margin_less_the_bias(content_words):
    dataset = synthetic_dataset(60, seed=0, content_words=content_words)
    svm = WordPairSVM(LinearConfig(per_label=30, content_words=content_words)).fit(
        dataset, PIPELINE.id_to_word
    )
    moved = 0
    for row in range(12):
        batch = make_batch(
            dataset.title_ids[row : row + 1],
            dataset.sentence_ids[row : row + 1],
            None,
            torch.device("cpu"),
            None if dataset.content_ids is None else dataset.content_ids[row : row + 1],
        )
        margins = svm.decision_function(batch)[0]
        for label in range(len(LABELS)):
            title, content = svm.token_effects(batch, label)
            assert title.shape == (batch.title_ids.shape[1],)
            expected_content = batch.content_ids.shape[1] if content_words else batch.sentence_ids[0].numel()
            assert content.shape == (expected_content,)
            total = float(title.sum() + content.sum() + svm.bias_[label])
            assert total == pytest.approx(float(margins[label]), abs=1e-5)
            assert (title[~batch.title_mask[0]] == 0).all()  # padding adds nothing
            moved += bool(title.abs().sum() + content.abs().sum() > 0)
    assert moved > 20


def test_the_svm_state_round_trips_through_tensors(fitted_svm):
    svm, dataset = fitted_svm
    tensors = svm.to_tensors()
    assert set(tensors) == set(STATE_NAMES) and all(tensor.is_contiguous() for tensor in tensors.values())
    copy = WordPairSVM.from_tensors(
        {name: tensor.clone() for name, tensor in tensors.items()},
        svm.options,
        VOCABULARY_SIZE,
        len(LABELS),
        "test",
    )
    np.testing.assert_array_equal(copy.scores(dataset), svm.scores(dataset))


def _swap_two_keys(tensors):
    keys = tensors["feature_keys_"].clone()
    keys[[0, 1]] = keys[[1, 0]]
    return {**tensors, "feature_keys_": keys}


DAMAGES = {
    "a missing tensor": (lambda t: {k: v for k, v in t.items() if k != "idf_"}, "lacks idf_"),
    "unsorted word keys": (_swap_two_keys, "not sorted"),
    "a tag pointing past its words": (
        lambda t: {**t, "label_features_": t["label_features_"] + len(t["idf_"])},
        "points past its words",
    ),
    "an idf of the wrong length": (lambda t: {**t, "idf_": t["idf_"][:-1]}, "wrong shape"),
    "a bias of the wrong shape": (lambda t: {**t, "bias_": t["bias_"][:-1]}, "wrong shape"),
    "a weight that is not finite": (
        lambda t: {**t, "label_weights_": t["label_weights_"] * float("nan")},
        "not finite",
    ),
    "weights of another tag count": (
        lambda t: {**t, "label_weights_": t["label_weights_"][:-1]},
        "tag weights",
    ),
    "a word list of another vocabulary": (
        lambda t: {**t, "counted_words_": t["counted_words_"][:-1]},
        "does not fit the vocabulary",
    ),
}


# Damage that an SVM would load with and then fail on (IndexError, RuntimeError) or score as NaN, refused by
# WordPairSVM._problem: integer indices, 2-D tag weights, a finite idf and bias.
MORE_DAMAGES = {
    "tag indices that are not integers": (
        lambda t: {**t, "label_features_": t["label_features_"].float()},
        None,
    ),
    "three-dimensional tag weights": (
        lambda t: {
            **t,
            "label_features_": t["label_features_"].unsqueeze(-1),
            "label_weights_": t["label_weights_"].unsqueeze(-1),
        },
        None,
    ),
    "an idf that is not finite": (lambda t: {**t, "idf_": t["idf_"] * float("nan")}, None),
    "a bias that is not finite": (lambda t: {**t, "bias_": t["bias_"] + float("inf")}, None),
}


@pytest.mark.parametrize(
    "damage",
    [
        *DAMAGES,
        *MORE_DAMAGES,
    ],
)
def test_a_damaged_svm_state_is_refused(fitted_svm, damage):
    svm, _ = fitted_svm
    change, message = {**DAMAGES, **MORE_DAMAGES}[damage]
    with pytest.raises(CheckpointError, match=message) as error:
        WordPairSVM.from_tensors(
            change(svm.to_tensors()), svm.options, VOCABULARY_SIZE, len(LABELS), "linear.st"
        )
    assert "\n" not in str(error.value) and "linear.st" in str(error.value)


# ----------------------------------------------------------------------------------------------------
# Calibrators


CALIBRATORS = {"platt": PlattCalibrator, "isotonic": IsotonicCalibrator}


def overconfident_scores(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw scores (N, 3) four times too sure and shifted, and truth drawn from the real probabilities."""
    generator = np.random.default_rng(seed)
    log_odds = generator.normal(-1.0, 1.5, (count, 3))
    truth = (generator.random((count, 3)) < 1 / (1 + np.exp(-log_odds))).astype(np.float32)
    return 4 * log_odds + 2, truth


@pytest.mark.parametrize("method", CALIBRATORS)
def test_calibration_is_monotone_and_lowers_the_calibration_error(method):
    scores, truth = overconfident_scores(3000, seed=0)
    calibrator = CALIBRATORS[method]().fit(scores, truth)
    grid = np.linspace(-20, 20, 401)
    probabilities = calibrator.transform(grid)
    assert (np.diff(probabilities) >= 0).all() and probabilities.min() >= 0 and probabilities.max() <= 1
    assert probabilities[-1] - probabilities[0] > 0.5
    held_out, held_truth = overconfident_scores(3000, seed=1)
    before = expected_calibration_error(held_truth, 1 / (1 + np.exp(-held_out)))
    after = expected_calibration_error(held_truth, calibrator.transform(held_out))
    assert after < 0.5 * before and after < 0.03, (before, after)
    log_odds = calibrator.log_odds(grid[100:300])
    np.testing.assert_allclose(1 / (1 + np.exp(-log_odds)), probabilities[100:300], atol=1e-5)
    assert calibrator.log_odds_slope(0.0) >= 0


def test_platt_scaling_finds_the_slope_and_intercept():
    scores, truth = overconfident_scores(20000, seed=2)
    calibrator = PlattCalibrator().fit(scores, truth)
    # log odds = (score - 2) / 4
    assert calibrator.slope_ == pytest.approx(0.25, abs=0.02) and calibrator.intercept_ == pytest.approx(
        -0.5, abs=0.05
    )
    assert calibrator.log_odds_slope(3.0) == calibrator.slope_


@pytest.mark.parametrize("method", CALIBRATORS)
def test_a_calibrator_round_trips_through_json(method):
    scores, truth = overconfident_scores(500, seed=3)
    calibrator = CALIBRATORS[method]().fit(scores, truth)
    copy = calibrator_from_json(json.loads(json.dumps(calibrator.to_json())))
    assert type(copy) is type(calibrator)
    grid = np.linspace(-10, 10, 101)
    np.testing.assert_array_equal(copy.transform(grid), calibrator.transform(grid))


@pytest.mark.parametrize(
    "values",
    [
        None,
        [],
        {"method": "temperature"},
        {"slope": 1.0, "intercept": 0.0},
        {"method": "platt", "slope": "1", "intercept": 0.0},
        {"method": "platt", "slope": float("nan"), "intercept": 0.0},
        {"method": "platt", "slope": 1.0},
        {"method": "isotonic", "knots": [1.0, 0.0], "values": [0.1, 0.2]},
        {"method": "isotonic", "knots": [0.0, 1.0], "values": [0.1]},
        {"method": "isotonic", "knots": [0.0, 1.0], "values": [0.1, 1.5]},
        {"method": "isotonic", "knots": [], "values": []},
        {"method": "isotonic", "knots": [0.0, float("inf")], "values": [0.1, 0.2]},
    ],
)
def test_a_calibration_that_is_not_one_is_refused(values):
    with pytest.raises(ValueError):
        calibrator_from_json(values)


# ----------------------------------------------------------------------------------------------------
# The blend


RAW = {
    NETWORK: np.array([[-2.0, 0.5, 3.0], [1.0, -1.0, 0.0]]),
    LINEAR: np.array([[0.5, -0.5, 1.5], [-3.0, 0.2, 2.5]]),
}


def test_the_components_shares_sum_to_the_final_score():
    shares = BLEND.shares(RAW)
    final = BLEND.probabilities(RAW)
    np.testing.assert_allclose(shares[NETWORK] + shares[LINEAR], final, atol=1e-6)
    calibrated = BLEND.calibrated(RAW)
    np.testing.assert_allclose(shares[LINEAR], 0.7 * calibrated[LINEAR], atol=1e-7)
    assert final.shape == (2, 3) and (final >= 0).all() and (final <= 1).all()
    assert BLEND.network_weight() == 0.3 and BLEND.components == [NETWORK, LINEAR]


def test_a_blend_round_trips_through_json():
    copy = Blend.from_json(json.loads(json.dumps(BLEND.to_json())))
    np.testing.assert_array_equal(copy.probabilities(RAW), BLEND.probabilities(RAW))
    assert Blend().network_weight() == 1.0 and Blend().components == [NETWORK]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda values: {**values, "weights": {NETWORK: 0.5, LINEAR: 0.6}}, "sum to 1"),
        (lambda values: {**values, "weights": {NETWORK: 1.5, LINEAR: -0.5}}, "from 0 to 1"),
        (lambda values: {**values, "weights": {NETWORK: "0.3", LINEAR: 0.7}}, "from 0 to 1"),
        (lambda values: {**values, "weights": {NETWORK: 0.3, "forest": 0.7}}, "must be among"),
        (
            lambda values: {**values, "calibrators": {NETWORK: values["calibrators"][NETWORK]}},
            "each with a calibrator",
        ),
        (lambda values: {**values, "weights": {}}, "needs weights and calibrators"),
        (lambda values: {"weights": values["weights"]}, "needs weights and calibrators"),
        (
            lambda values: {**values, "calibrators": {**values["calibrators"], LINEAR: {"method": "magic"}}},
            "unknown",
        ),
    ],
)
def test_a_blend_with_bad_weights_or_components_is_refused(change, message):
    with pytest.raises(ValueError, match=message):
        Blend.from_json(change(BLEND.to_json()))


def test_every_network_has_a_case():
    assert {case.values[0] for case in CASES} == set(NETWORKS) and set(VARIATIONS) < set(NETWORKS)
