"""Tests for jman_core.model: shapes, variations, the GRU paths, embeddings, and what each score head adds.

Masked attention, padding invariance and batch independence of every network with every head are checked
by the battery in test_components.py."""

from __future__ import annotations

import pytest
import torch

from jman_core.config import NETWORKS, VARIATIONS, ModelConfig, TextConfig
from jman_core.errors import ConfigError
from jman_core.model import (
    HEADS,
    JMAN,
    JMANOutput,
    LabelMentions,
    _packed_bidirectional_gru,
    _padded_bidirectional_gru,
    build_model,
    masked_softmax,
    reverse_within_length,
)
from jman_core.text import TextPipeline

VOCABULARY_SIZE = 30
NUM_LABELS = 7

# A vocabulary of 30 (28 words, <pad> and <unk>) for the heads that read tag names.
PIPELINE = TextPipeline.build(
    [" ".join(f"w{number}" for number in range(28))], TextConfig(min_word_frequency=1)
)
assert PIPELINE.vocabulary_size == VOCABULARY_SIZE


def word(index: int) -> str:
    return PIPELINE.id_to_word[index]


# Tag names for the tag-name head, and the word ids it keeps of each (0 pads): 0 = word 2 (a title word),
# 1 = words 10 and 12 (the content of document 0), 2 = words 5 and 10 (never read in one place), 3 = a word
# outside the vocabulary (never named), 4 = five words (more than the four kept: never named), 5 = word 22,
# 6 = word 29.
LABELS = [
    word(2),
    f"{word(10)}-{word(12)}",
    f"{word(5)}-{word(10)}",
    "unheard",
    "-".join(word(index) for index in (8, 9, 2, 3, 4)),
    word(22),
    word(29),
]
NAME_IDS = torch.tensor(
    [[2, 0, 0, 0], [10, 12, 0, 0], [5, 10, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [22, 0, 0, 0], [29, 0, 0, 0]]
)

# (title ids, sentence ids) with ids in 2..29; title words 2..9 and content words 10..29 never overlap,
# so the embedding gradients show which part of the document a variation reads.
DOCUMENTS = [
    ([2, 3, 4], [[10, 11, 12], [13, 14], [15, 16, 17, 18]]),
    ([], [[19, 20], [21]]),  # empty title
    ([5, 6], []),  # empty content
    ([7], [[22]]),
    ([8, 9, 2, 3, 4], [[23, 24, 25, 26, 27], [28], [29, 10], [11, 12, 13]]),
]


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    # Tiny tensors: a thread pool only adds contention (a forward pass took 0.7 s instead of 3 ms on a busy
    # CPU).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_config(variation: str = "JMAN") -> ModelConfig:
    return ModelConfig(
        variation=variation,
        vocabulary_size=VOCABULARY_SIZE,
        num_labels=NUM_LABELS,
        hidden_size=8,
        embedding_dim=6,
    )


def make_model(variation: str = "JMAN", seed: int = 0) -> JMAN:
    torch.manual_seed(seed)
    return build_model(make_config(variation)).eval()


def pad_inputs(documents, title_length=None, sentences=None, words=None):
    """Right-pads [(title ids, sentence ids)] into (B, T), (B, T), (B, S, W), (B, S, W) tensors."""
    title_length = title_length or max([1, *(len(title) for title, _ in documents)])
    sentences = sentences or max([1, *(len(content) for _, content in documents)])
    words = words or max([1, *(len(ids) for _, content in documents for ids in content)])
    title_ids = torch.zeros(len(documents), title_length, dtype=torch.long)
    sentence_ids = torch.zeros(len(documents), sentences, words, dtype=torch.long)
    for row, (title, content) in enumerate(documents):
        title_ids[row, : len(title)] = torch.tensor(title, dtype=torch.long)
        for index, ids in enumerate(content):
            sentence_ids[row, index, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return title_ids, title_ids != 0, sentence_ids, sentence_ids != 0


def attentions(output: JMANOutput) -> dict[str, torch.Tensor | None]:
    return {
        "title_word_attention": output.title_word_attention,
        "sentence_word_attention": output.sentence_word_attention,
        "original_sentence_attention": output.original_sentence_attention,
        "title_guided_sentence_attention": output.title_guided_sentence_attention,
    }


def expected_present(variation: str) -> dict[str, bool]:
    parts = VARIATIONS[variation]
    return {
        # The title is encoded when it is a part of the document or the query of the title-guided attention.
        "title_word_attention": parts["use_title"] or parts["use_title_guided"],
        "sentence_word_attention": parts["use_title_guided"] or parts["use_original"],
        "original_sentence_attention": parts["use_original"],
        "title_guided_sentence_attention": parts["use_title_guided"],
    }


# ---- masked_softmax -----------------------------------------------------------------------------------


def test_masked_softmax_is_zero_on_padding_and_on_empty_rows():
    scores = torch.tensor([[1.0, 2.0, 3.0], [5.0, -1.0, 100.0], [0.0, 0.0, 0.0]])
    mask = torch.tensor([[True, True, False], [True, False, False], [False, False, False]])
    weights = masked_softmax(scores, mask)
    expected_first = torch.softmax(torch.tensor([1.0, 2.0]), dim=0)
    torch.testing.assert_close(weights[0, :2], expected_first)
    assert weights[0, 2] == 0 and weights[1, 0] == 1 and (weights[1, 1:] == 0).all()
    assert (weights[2] == 0).all()
    assert torch.isfinite(weights).all()


# ---- shapes and presence of each attention ------------------------------------------------------------


def test_reverse_within_length_reverses_the_real_steps_and_leaves_the_padding():
    sequence = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0], [6, 0, 0, 0]])
    reversed_rows = reverse_within_length(sequence, torch.tensor([3, 2, 1]))
    assert reversed_rows.tolist() == [[3, 2, 1, 0], [5, 4, 0, 0], [6, 0, 0, 0]]
    assert torch.equal(reverse_within_length(reversed_rows, torch.tensor([3, 2, 1])), sequence)


def test_padded_bidirectional_gru_matches_the_packed_one_in_values_and_gradients():
    """The CPU path (padded, each direction on its own) computes what cuDNN's packed path computes."""
    torch.manual_seed(0)
    gru = torch.nn.GRU(6, 5, batch_first=True, bidirectional=True)
    inputs = torch.randn(7, 9, 6)
    lengths = torch.tensor([9, 1, 4, 7, 2, 9, 5])  # a full row, a one-word row and everything between
    results = []
    for run in (_packed_bidirectional_gru, _padded_bidirectional_gru):
        gru.zero_grad()
        leaf = inputs.clone().requires_grad_(True)
        hidden, last = run(gru=gru, inputs=leaf, lengths=lengths)
        mask = torch.arange(9).unsqueeze(0) < lengths.unsqueeze(1)
        hidden = hidden * mask.unsqueeze(-1)
        (hidden.pow(2).sum() + last.sin().sum()).backward()
        results.append((hidden, last, leaf.grad, [p.grad.clone() for p in gru.parameters()]))
    (packed_hidden, packed_last, packed_input_grad, packed_grads), (hidden, last, input_grad, grads) = results
    assert torch.allclose(hidden, packed_hidden, atol=1e-6) and torch.allclose(last, packed_last, atol=1e-6)
    assert torch.allclose(input_grad, packed_input_grad, atol=1e-5)
    assert all(torch.allclose(grad, packed, atol=1e-5) for grad, packed in zip(grads, packed_grads))
    # the backward direction's last state is its state at the first word, after reading the whole row
    assert torch.allclose(last[1], hidden[:, 0, 5:], atol=1e-6)


@pytest.mark.parametrize("variation", list(VARIATIONS))
def test_output_shapes_and_missing_parts(variation):
    model = make_model(variation)
    inputs = pad_inputs(DOCUMENTS)
    batch, title_length = inputs[0].shape
    _, sentences, words = inputs[2].shape
    with torch.no_grad():
        output = model(*inputs)
    assert output.logits.shape == (batch, NUM_LABELS)
    shapes = {
        "title_word_attention": (batch, title_length),
        "sentence_word_attention": (batch, sentences, words),
        "original_sentence_attention": (batch, sentences),
        "title_guided_sentence_attention": (batch, sentences),
    }
    present = expected_present(variation)
    for name, weights in attentions(output).items():
        if present[name]:
            assert weights is not None, name
            assert weights.shape == shapes[name], name
        else:
            assert weights is None, name


def test_variations_leave_out_the_expected_parts():
    # Spelled out for the two variations the paper's ablation talks about most.
    with torch.no_grad():
        title_only = make_model("JMAN-s+t-only")(*pad_inputs(DOCUMENTS))
        original_only = make_model("JMAN-s+att-only")(*pad_inputs(DOCUMENTS))
    assert title_only.title_word_attention is not None
    assert title_only.sentence_word_attention is None
    assert title_only.original_sentence_attention is None
    assert title_only.title_guided_sentence_attention is None
    assert original_only.title_word_attention is None
    assert original_only.title_guided_sentence_attention is None
    assert original_only.original_sentence_attention is not None
    assert original_only.sentence_word_attention is not None


@pytest.mark.parametrize("variation", list(VARIATIONS))
def test_classifier_reads_one_block_per_used_part(variation):
    parts = VARIATIONS[variation]
    used = parts["use_title"] + parts["use_title_guided"] + parts["use_original"]
    assert make_model(variation).heads["classifier"].output.in_features == used * 2 * 8


# ---- empty parts ---------------------------------------------------------------------------------------


def test_empty_title_and_empty_content_rows():
    model = make_model("JMAN")
    inputs = pad_inputs(DOCUMENTS)
    with torch.no_grad():
        output = model(*inputs)
    assert (output.title_word_attention[1] == 0).all()  # document 1 has no title
    for weights in (output.original_sentence_attention, output.title_guided_sentence_attention):
        assert (weights[2] == 0).all()  # document 2 has no content
        torch.testing.assert_close(weights[1].sum(), torch.tensor(1.0))
    assert (output.sentence_word_attention[2] == 0).all()
    # With no title the query c_t is zero, so the title-guided attention is uniform over real sentences.
    torch.testing.assert_close(output.title_guided_sentence_attention[1, :2], torch.tensor([0.5, 0.5]))


@pytest.mark.parametrize("with_heads", [False, True], ids=["classifier", "every head"])
@pytest.mark.parametrize("variation", list(NETWORKS))
def test_every_parameter_gets_a_finite_gradient_with_empty_parts(variation, with_heads):
    from dataclasses import replace

    heads = [name for name, head in HEADS.items() if head.encoders is None or variation in head.encoders]
    config = replace(make_config(variation), heads={name: {} for name in heads} if with_heads else {})
    torch.manual_seed(0)
    model = build_model(config, labels=LABELS, pipeline=PIPELINE).train()
    output = model(*pad_inputs(DOCUMENTS, title_length=6, sentences=5, words=6))
    output.logits.sum().backward()
    for name, parameter in model.named_parameters():
        # Every parameter is used (an unused one would stall DistributedDataParallel) and no NaN leaks
        # out of the fully masked rows.
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all(), name


# ---- the title-guided attention ------------------------------------------------------------------------


def test_title_guided_attention_depends_on_the_title_and_original_does_not():
    model = make_model("JMAN")
    content = DOCUMENTS[4][1]
    first = pad_inputs([([2, 3], content), ([4], content)], title_length=3)
    second = pad_inputs([([5, 6, 7], content), ([8, 9], content)], title_length=3)
    with torch.no_grad():
        before, after = model(*first), model(*second)
    assert not torch.allclose(
        before.title_guided_sentence_attention, after.title_guided_sentence_attention, atol=1e-4
    )
    torch.testing.assert_close(before.original_sentence_attention, after.original_sentence_attention)
    torch.testing.assert_close(before.sentence_word_attention, after.sentence_word_attention)
    assert not torch.allclose(before.logits, after.logits)


# ---- embeddings and gradients ----------------------------------------------------------------------------


def test_build_model_copies_embedding_weights_and_zeroes_padding_row():
    torch.manual_seed(0)
    weights = torch.randn(VOCABULARY_SIZE, 6)
    original = weights.clone()
    model = build_model(make_config(), embedding_weights=weights)
    embedding = model.embedding.weight.detach()
    assert (embedding[0] == 0).all()
    torch.testing.assert_close(embedding[1:], original[1:], atol=0, rtol=0)
    torch.testing.assert_close(weights, original, atol=0, rtol=0)  # the caller's tensor is untouched
    weights.add_(1.0)
    torch.testing.assert_close(model.embedding.weight.detach()[1:], original[1:], atol=0, rtol=0)


def test_build_model_without_weights_has_zero_padding_row():
    model = make_model()
    assert (model.embedding.weight[0] == 0).all()


def used_rows(gradient: torch.Tensor) -> set[int]:
    return {int(row) for row in torch.nonzero(gradient.abs().sum(-1) > 0).flatten()}


@pytest.mark.parametrize("variation", list(VARIATIONS))
def test_gradients_reach_the_embedding_of_the_words_read(variation):
    model = make_model(variation).train()
    inputs = pad_inputs(DOCUMENTS, title_length=6)
    model(*inputs).logits.sum().backward()
    gradient = model.embedding.weight.grad
    assert gradient is not None
    assert (gradient[0] == 0).all()  # padding_idx
    title_words = {word for title, _ in DOCUMENTS for word in title}
    content_words = {word for _, content in DOCUMENTS for ids in content for word in ids}
    # A title that only guides the sentence attention matters only where there are two sentences or more
    # to weigh (a softmax over one sentence is 1 whatever the query).
    guiding_title_words = {word for title, content in DOCUMENTS if len(content) >= 2 for word in title}
    parts = VARIATIONS[variation]
    expected = set()
    if parts["use_title"]:
        expected |= title_words
    elif parts["use_title_guided"]:
        expected |= guiding_title_words
    if parts["use_title_guided"] or parts["use_original"]:
        expected |= content_words
    assert used_rows(gradient) == expected


@pytest.mark.parametrize("variation", ["JMAN", "HAN", "BiGRU"])
def test_embedding_dropout_is_active_in_training_only_and_keeps_attention_masked(variation):
    from dataclasses import replace

    torch.manual_seed(0)
    model = build_model(replace(make_config(variation), embedding_dropout=0.5))
    inputs = pad_inputs(DOCUMENTS)
    model.train()
    first, second = model(*inputs), model(*inputs)
    assert not torch.allclose(first.logits, second.logits)  # a fresh dropout mask each pass
    if first.title_word_attention is not None:
        title_mask = inputs[1]
        assert torch.all(first.title_word_attention[~title_mask] == 0)
    model.eval()
    assert torch.equal(model(*inputs).logits, model(*inputs).logits)
    without = build_model(make_config(variation)).eval()
    without.load_state_dict(model.state_dict())  # dropout has no weights: same network, same outputs in eval
    assert torch.allclose(without(*inputs).logits, model(*inputs).logits)


@pytest.mark.parametrize("variation", ["JMAN", "JMAN-s+att-only", "HAN", "BiGRU"])
def test_label_frequencies_set_the_output_bias_to_their_log_odds(variation):
    frequencies = torch.tensor([0.5, 0.1, 0.01, 0.9, 0.0, 1.0, 0.25])
    model = build_model(make_config(variation), label_frequencies=frequencies).eval()
    bias = model.heads["classifier"].output.bias.detach()
    assert torch.isfinite(bias).all()  # a label never (or always) seen still gets a finite bias
    torch.testing.assert_close(torch.sigmoid(bias[:4]), frequencies[:4])
    assert bias[4] < -9 and bias[5] > 9
    # the network's scores start near each label's frequency, not at 0.5
    scores = torch.sigmoid(model(*pad_inputs(DOCUMENTS)).logits)
    assert scores[:, 2].max() < 0.1 and scores[:, 3].min() > 0.7


def test_without_label_frequencies_the_output_bias_is_not_the_prior():
    torch.manual_seed(0)
    model = build_model(make_config())
    assert (
        model.heads["classifier"].output.bias.detach().abs().max() < 1
    )  # nn.Linear's own small uniform initialisation


def plain_and_with_part(variation: str, part: str, options: dict | None = None):
    """(the plain model, the same model with the zero-started head `part`), sharing every other weight;
    checks that the fresh head changes no logit."""
    from dataclasses import replace

    plain = make_model(variation)
    assert part not in plain.heads
    torch.manual_seed(0)
    config = replace(make_config(variation), heads={part: options or {}})
    model = build_model(config, labels=LABELS, pipeline=PIPELINE).eval()
    own = f"heads.{part}."
    plain.load_state_dict(
        {key: value for key, value in model.state_dict().items() if not key.startswith(own)}
    )
    inputs = pad_inputs(DOCUMENTS)
    assert torch.equal(model(*inputs).logits, plain(*inputs).logits)
    return plain, model


@pytest.mark.parametrize("variation", ["JMAN", "HAN", "BiGRU"])
def test_lexical_path_starts_at_zero_and_adds_each_read_word_over_sqrt_words(variation):
    inputs = pad_inputs(DOCUMENTS)
    plain, model = plain_and_with_part(variation, "lexical_path")
    with torch.no_grad():
        model.heads["lexical_path"].word_scores.weight[10, 3] = 2.0  # word 10 votes for label 3
        model.heads["lexical_path"].word_scores.weight[0] = 5.0  # the padding id must never count
    output = model(*inputs)
    difference = output.logits - plain(*inputs).logits  # (B, L)
    _, title_mask, _, word_mask = inputs
    words_read = (title_mask.sum(1) + word_mask.sum((1, 2))).float()  # (B,)
    occurrences = torch.tensor(
        [sum(ids.count(10) for ids in [title, *content]) for title, content in DOCUMENTS]
    )
    expected = torch.zeros_like(difference)
    expected[:, 3] = 2.0 * occurrences / words_read.sqrt()
    assert torch.allclose(difference, expected, atol=1e-5)
    assert torch.allclose(output.head_logits["lexical_path"], expected, atol=1e-6)  # the head's own logits
    assert occurrences.sum() == 2 and expected[:, 3].count_nonzero() == 2  # the case does test something


def test_lexical_path_trains_only_the_words_read():
    from dataclasses import replace

    torch.manual_seed(0)
    model = build_model(replace(make_config("JMAN"), heads={"lexical_path": {}}))
    inputs = pad_inputs(DOCUMENTS)
    model(*inputs).logits.sum().backward()
    gradient = model.heads["lexical_path"].word_scores.weight.grad  # (V, L)
    read = {int(i) for i in torch.cat([inputs[0][inputs[1]], inputs[2][inputs[3]]])}
    assert {int(row) for row in gradient.abs().sum(1).nonzero()} == read  # only the words read, never padding


@pytest.mark.parametrize("variation", ["JMAN", "JMAN-s+t-only", "JMAN-s+att-only"])
def test_label_attention_starts_at_zero_and_each_label_attends_only_to_words_read(variation):
    inputs = pad_inputs(DOCUMENTS)
    plain, model = plain_and_with_part(variation, "label_attention")
    assert plain(*inputs).label_word_attention is None and plain(*inputs).head_attentions == {}

    title_ids, title_mask, sentence_ids, word_mask = inputs
    parts = make_config(variation).parts
    read_title = (
        title_mask if parts["use_title"] or parts["use_title_guided"] else torch.zeros_like(title_mask)
    )
    read_content = (
        word_mask if parts["use_title_guided"] or parts["use_original"] else torch.zeros_like(word_mask)
    )
    read = torch.cat([read_title, read_content.reshape(len(DOCUMENTS), -1)], dim=1)  # (B, T + S*W)
    output = model(*inputs)
    attention = output.label_word_attention  # (B, L, T + S*W)
    assert attention is output.head_attentions["label_attention"]
    assert attention.shape == (len(DOCUMENTS), NUM_LABELS, read.shape[1])
    assert torch.all(attention[~read.unsqueeze(1).expand_as(attention)] == 0)
    has_words = read.any(1)
    assert torch.allclose(attention.sum(-1)[has_words], torch.ones(int(has_words.sum()), NUM_LABELS))
    assert torch.all(attention.sum(-1)[~has_words] == 0)


def test_label_attention_scores_a_label_from_the_words_it_attends_to():
    from dataclasses import replace

    torch.manual_seed(0)
    model = build_model(replace(make_config("JMAN-s"), heads={"label_attention": {}})).eval()
    head = model.heads["label_attention"]
    inputs = pad_inputs(DOCUMENTS)
    base = model(*inputs).logits
    with torch.no_grad():
        head.output_weights[4] = 1.0  # only label 4 reads its attention
    output = model(*inputs)
    changed = (output.logits - base).abs() > 1e-6  # (B, L)
    assert changed[:, 4].all() and not changed[:, [0, 1, 2, 3, 5, 6]].any()

    output.logits[:, 4].sum().backward()  # gradients reach the queries and the words of every part read
    assert head.queries.grad[4].abs().sum() > 0
    assert head.queries.grad[[0, 1, 2, 3, 5, 6]].abs().sum() == 0
    embedding_gradient = model.embedding.weight.grad.abs().sum(1)  # (V,)
    assert embedding_gradient[2:10].sum() > 0 and embedding_gradient[10:].sum() > 0  # title and content words
    assert embedding_gradient[0] == 0  # never the padding id


def test_label_attention_is_refused_for_the_baseline_networks():
    for variation in ["HAN", "BiGRU"]:
        config = ModelConfig(
            variation=variation,
            vocabulary_size=VOCABULARY_SIZE,
            num_labels=NUM_LABELS,
            heads={"label_attention": {}},
        )
        with pytest.raises(
            ConfigError, match=f"label_attention head needs a network with word states.*{variation}"
        ):
            build_model(config)


def test_label_mentions_setup_reads_each_tags_name_from_the_vocabulary():
    from dataclasses import replace

    model = build_model(
        replace(make_config("JMAN"), heads={"label_mentions": {}}), labels=LABELS, pipeline=PIPELINE
    )
    assert torch.equal(model.heads["label_mentions"].name_word_ids, NAME_IDS)
    assert model.setup_statistics == {"labels_with_readable_names": 5}
    assert LabelMentions.Options().name_words == 4
    # a longer name is kept when the option allows it
    longer = build_model(
        replace(make_config("JMAN"), heads={"label_mentions": {"name_words": 5}}),
        labels=LABELS,
        pipeline=PIPELINE,
    )
    assert longer.heads["label_mentions"].name_word_ids[4].tolist() == [8, 9, 2, 3, 4]
    title_ids, title_mask, _, _ = pad_inputs(DOCUMENTS)
    assert longer.heads["label_mentions"].named(title_ids, title_mask)[:, 4].tolist() == [0, 0, 0, 0, 1]
    without_setup = build_model(replace(make_config("JMAN"), heads={"label_mentions": {}}))
    assert without_setup.heads["label_mentions"].name_word_ids.sum() == 0  # no tag is named until set up


@pytest.mark.parametrize("variation", ["JMAN", "HAN", "BiGRU"])
def test_label_mentions_start_at_zero_and_score_tags_whose_whole_name_is_read(variation):
    inputs = pad_inputs(DOCUMENTS)
    plain, model = plain_and_with_part(variation, "label_mentions")
    head = model.heads["label_mentions"]
    with torch.no_grad():
        head.shared_weights.copy_(torch.tensor([1.0, 10.0]))  # title, content
        head.label_weights[5, 1] = 100.0
    output = model(*inputs)
    difference = output.logits - plain(*inputs).logits  # (B, L)
    expected = torch.zeros(len(DOCUMENTS), NUM_LABELS)
    expected[[0, 4], 0] = 1.0  # word 2 in the titles of documents 0 and 4
    expected[[0, 4], 1] = 10.0  # words 10 and 12 in their contents
    expected[3, 5] = 110.0  # word 22, with its own weight
    expected[4, 6] = 10.0
    assert torch.allclose(difference, expected)
    assert torch.allclose(output.head_logits["label_mentions"], expected)
    places = head.place_scores(model.encoder(*inputs))  # (B, L, 2): title, content
    assert torch.allclose(places.sum(-1), expected) and places[0, 0].tolist() == [1.0, 0.0]


def test_label_mentions_ignore_padding_unknown_words_and_words_cut_off_by_the_mask():
    from dataclasses import replace

    model = build_model(
        replace(make_config("JMAN"), heads={"label_mentions": {}}), labels=LABELS, pipeline=PIPELINE
    )
    head = model.heads["label_mentions"]
    with torch.no_grad():
        head.name_word_ids[3, 0] = 1  # a name of <unk> alone, as an edited checkpoint might hold
    title_ids, title_mask, sentence_ids, word_mask = pad_inputs(DOCUMENTS)
    word_mask = word_mask.clone()
    word_mask[4, 2, 0] = False  # word 29 of document 4 is not read
    batch = len(DOCUMENTS)
    content = head.named(sentence_ids.reshape(batch, -1), word_mask.reshape(batch, -1))  # (B, L)
    assert content[4, 6] == 0 and content[0, 1] == 1
    assert content[:, 3].sum() == 0 and content[:, 4].sum() == 0  # <unk> and a name too long are never named
    title = head.named(title_ids, title_mask)
    assert title[:, 2].sum() == 0  # word 5 is in a title but word 10 never is
    model.train()
    model(title_ids, title_mask, sentence_ids, word_mask).logits.sum().backward()
    gradient = head.label_weights.grad  # (L, 2): only where a tag is named
    assert set(map(tuple, gradient.nonzero().tolist())) == {(0, 0), (1, 1), (5, 1)}
