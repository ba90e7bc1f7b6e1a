"""Tests for jman_core.text: HTML to text, sentence spans, vocabulary, encoding with spans and limits."""

from __future__ import annotations

import math

import pytest
from tokenizers import Tokenizer
from tokenizers.models import WordLevel

from jman_core.config import TextConfig
from jman_core.errors import ConfigError
from jman_core.text import (
    PAD_ID,
    PAD_TOKEN,
    UNKNOWN_ID,
    UNKNOWN_TOKEN,
    UNREAD_SENTENCES_KEPT,
    UNREAD_TITLE_TOKENS_KEPT,
    EncodedDocument,
    TextPipeline,
    split_sentences,
    to_plain_text,
)

STACK_EXCHANGE_BODY = (
    "<p>How do I sort a list in Python &amp; keep order?</p>\n"
    "<pre><code>x = sorted(y)\nif a &lt; b:\n    pass\n</code></pre>\n"
    '<p>See <a href="https://docs.python.org">the docs</a>.</p>'
    '<script>alert("stolen")</script>'
)

TRAINING_TEXTS = [
    "How do I sort a list in Python and keep the order?",
    "Sorting a list in Python keeps the order of equal items.",
    "The cat sat on the mat. The dog sat on the mat too!",
    "Is 3.5 bigger than 3? Yes, 3.5 is bigger than 3.",
    "Привет мир. Привет всем, мир большой.",
    "你好 世界 。 你好 朋友 。 世界 很 大 。",
    "ﬁle names and file systems; a file is a file.",
    "Café au lait, CAFÉ noir, café crème.",
    "if a < b and b < c then a < c; x² + y² = z²",
]

# Documents used by the span and encode/encode_ids checks: HTML, maths, non-Latin scripts, compatibility
# characters that NFKC rewrites (ﬁ, ², fullwidth letters), emoji, very long titles and contents.
DOCUMENTS = [
    ("How do I sort a list?", STACK_EXCHANGE_BODY),
    ("Inequalities: a < b and c > d", "If a < b and b < c then a < c. Is x² + y² = z² true? 3.5 > 3!"),
    ("Привет, мир", "Привет всем. Мир большой!\nНовая строка без точки"),
    ("你好世界", "你好。世界很大。朋友！你好吗？"),
    ("ＦＵＬＬＷＩＤＴＨ ﬁle CAFÉ", "The ﬁle is on the café table 😀 with ＡＢＣ１２３. Done."),
    ("", "Content without a title. It has two sentences."),
    ("A title without content", ""),
    ("<b>Bold</b> &amp; <i>italic</i> title", "<ul><li>first item</li><li>second &lt;item&gt;</li></ul>"),
    (
        " ".join(f"title{index}" for index in range(70)),
        " ".join(f"Sentence {index} is here." for index in range(40)),
    ),
    ("Unpunctuated", " ".join(f"word{index}" for index in range(100))),
    ("Long sentence", " ".join(f"word{index}" for index in range(80)) + " end."),
    (None, None),
]


@pytest.fixture(scope="module")
def pipeline() -> TextPipeline:
    return TextPipeline.build(TRAINING_TEXTS, TextConfig(min_word_frequency=1))


@pytest.fixture(scope="module")
def small_pipeline() -> TextPipeline:
    config = TextConfig(min_word_frequency=1, max_title_tokens=3, max_sentences=2, max_sentence_tokens=4)
    return TextPipeline.build(TRAINING_TEXTS, config)


# ---- to_plain_text ------------------------------------------------------------------------------


def test_to_plain_text_stack_exchange_html():
    text = to_plain_text(STACK_EXCHANGE_BODY)
    assert text == (
        "How do I sort a list in Python & keep order?\nx = sorted(y)\nif a < b:\npass\nSee the docs."
    )
    assert "stolen" not in text and "<" not in text.replace("a < b", "")


def test_to_plain_text_drops_script_and_style_contents():
    html = "<div>kept<style>p { color: red; }</style><script>var x = '<p>';</script> too</div>"
    assert to_plain_text(html) == "kept too"


def test_to_plain_text_leaves_plain_maths_alone():
    assert to_plain_text("a < b and c > d") == "a < b and c > d"
    assert to_plain_text("if x<3 then y > 2") == "if x<3 then y > 2"
    assert to_plain_text("AT&T and R&D") == "AT&T and R&D"


def test_to_plain_text_decodes_entities_in_plain_text():
    assert to_plain_text("x &lt; y &amp;&amp; y &gt; z") == "x < y && y > z"


def test_to_plain_text_removes_control_characters_and_collapses_blanks():
    assert to_plain_text("a\x00b\x07c\td\x0be\x1bf\x7fg") == "a b c d e f g"
    assert to_plain_text("  one   two \r\n\n\n  three\u00a0 four  ") == "one two\nthree four"


@pytest.mark.parametrize("empty", [None, "", "   ", "\n\n", "<p></p>", "<script>only()</script>"])
def test_to_plain_text_empty(empty):
    assert to_plain_text(empty) == ""


# ---- split_sentences ----------------------------------------------------------------------------


def sentence_texts(text: str) -> list[str]:
    return [text[start:end] for start, end in split_sentences(text)]


def test_split_sentences_on_punctuation_and_newlines():
    text = "Pi is about 3.14 and e is 2.7. Really? Yes! ok\nnew line here"
    assert sentence_texts(text) == [
        "Pi is about 3.14 and e is 2.7.",
        "Really?",
        "Yes!",
        "ok",
        "new line here",
    ]


def test_split_sentences_keeps_decimals_and_versions_together():
    assert sentence_texts("Python 3.5 and v1.2.3 are versions.") == ["Python 3.5 and v1.2.3 are versions."]


def test_split_sentences_cjk_full_stop_without_space():
    assert sentence_texts("你好。世界很大！朋友？最后") == ["你好。", "世界很大！", "朋友？", "最后"]


def test_split_sentences_spans_are_ordered_and_stripped_of_separators():
    text = "First one.   Second one!\n\n  Third?\nFourth"
    spans = split_sentences(text)
    assert all(start < end for start, end in spans)
    assert all(previous[1] <= current[0] for previous, current in zip(spans, spans[1:]))
    assert [text[start:end].strip() for start, end in spans] == [
        "First one.",
        "Second one!",
        "Third?",
        "Fourth",
    ]
    assert all("\n" not in text[start:end] for start, end in spans)


@pytest.mark.parametrize("empty", ["", "\n", "  \n \n"])
def test_split_sentences_empty(empty):
    assert split_sentences(empty) == []


# ---- vocabulary -----------------------------------------------------------------------------------


def test_build_vocabulary_special_ids_and_min_frequency():
    texts = ["Hello hello HELLO world", "world ﬁle file rare"]
    pipeline = TextPipeline.build(texts, TextConfig(min_word_frequency=2))
    vocabulary = pipeline.vocabulary
    assert vocabulary[PAD_TOKEN] == PAD_ID == 0
    assert vocabulary[UNKNOWN_TOKEN] == UNKNOWN_ID == 1
    # "hello" (3 times after lowercasing), "world" (2), "file" (2 after NFKC turns "ﬁ" into "fi").
    assert set(vocabulary) == {PAD_TOKEN, UNKNOWN_TOKEN, "hello", "world", "file"}
    assert "rare" not in vocabulary and "ﬁle" not in vocabulary
    assert sorted(vocabulary.values()) == list(range(len(vocabulary)))
    assert pipeline.vocabulary_size == 5
    assert pipeline.id_to_word[vocabulary["hello"]] == "hello"


def test_build_vocabulary_min_frequency_one_keeps_rare_words():
    pipeline = TextPipeline.build(["Hello hello world", "rare"], TextConfig(min_word_frequency=1))
    assert {"hello", "world", "rare"} <= set(pipeline.vocabulary)


def test_build_vocabulary_without_lowercasing_keeps_case():
    pipeline = TextPipeline.build(
        ["Hello hello Hello hello"], TextConfig(min_word_frequency=2, lowercase=False)
    )
    assert {"Hello", "hello"} <= set(pipeline.vocabulary)
    assert pipeline.encode_ids("Hello", "")[0] != pipeline.encode_ids("hello", "")[0]


def test_build_vocabulary_respects_max_size():
    pipeline = TextPipeline.build(["a a a b b c d"], TextConfig(min_word_frequency=1, max_vocabulary_size=4))
    assert set(pipeline.vocabulary) == {PAD_TOKEN, UNKNOWN_TOKEN, "a", "b"}


def test_words_are_normalised(pipeline):
    assert pipeline.words("CAFÉ ﬁle ＡＢＣ x²") == ["café", "file", "abc", "x2"]


def test_pipeline_rejects_tokenizer_without_special_ids():
    tokenizer = Tokenizer(WordLevel({"hello": 0, PAD_TOKEN: 1, UNKNOWN_TOKEN: 2}, unk_token=UNKNOWN_TOKEN))
    with pytest.raises(ConfigError, match="<pad>"):
        TextPipeline(tokenizer, TextConfig())


# ---- encode: spans, known/unknown, read/unread -------------------------------------------------------


def all_segments(document: EncodedDocument):
    yield document.title_text, document.title
    for sentence in document.sentences:
        yield document.content_text, sentence


@pytest.mark.parametrize("title, content", DOCUMENTS)
def test_encode_spans_slice_back_to_token_text(pipeline, title, content):
    document = pipeline.encode(title, content)
    assert document.title_text == to_plain_text(title)
    assert document.content_text == to_plain_text(content)
    for text, segment in all_segments(document):
        assert 0 <= segment.start <= segment.end <= len(text)
        previous_end = segment.start
        for token in segment.tokens:
            assert text[token.start : token.end] == token.text
            assert token.text and token.text == token.text.strip()
            assert previous_end <= token.start < token.end <= segment.end
            previous_end = token.end
            # The id is the vocabulary entry of the normalised span, or <unk> when that word is unknown.
            (word,) = pipeline.words(token.text)
            if token.known:
                assert pipeline.id_to_word[token.token_id] == word
            else:
                assert token.token_id == UNKNOWN_ID and word not in pipeline.vocabulary


@pytest.mark.parametrize("title, content", DOCUMENTS[:8])
def test_encode_sentences_cover_every_content_token_in_order(pipeline, title, content):
    document = pipeline.encode(title, content)
    tokens = [token for sentence in document.sentences for token in sentence.tokens]
    words = [
        word
        for sentence in split_sentences(document.content_text)
        for word in pipeline.words(document.content_text[slice(*sentence)])
    ]
    assert [pipeline.words(token.text)[0] for token in tokens] == words
    assert all(later.start >= earlier.end for earlier, later in zip(tokens, tokens[1:]))


def test_encode_flags_unknown_words(pipeline):
    document = pipeline.encode("sort zzyzx", "The qwertyuiop sat.")
    assert [(token.text, token.known) for token in document.title.tokens] == [
        ("sort", True),
        ("zzyzx", False),
    ]
    flags = {token.text: (token.known, token.token_id) for token in document.sentences[0].tokens}
    assert flags["qwertyuiop"] == (False, UNKNOWN_ID)
    assert flags["sat"][0] is True and flags["sat"][1] > UNKNOWN_ID


def test_encode_marks_title_tokens_beyond_limit_unread(small_pipeline):
    document = small_pipeline.encode("one two three four five six", "")
    assert [token.read for token in document.title.tokens] == [True] * 3 + [False] * 3
    assert len(document.title_ids()) == 3
    assert document.sentences == [] and document.sentence_ids() == []


def test_encode_keeps_a_bounded_number_of_unread_title_tokens(small_pipeline):
    document = small_pipeline.encode(" ".join(["word"] * 200), "")
    assert len(document.title.tokens) == 3 + UNREAD_TITLE_TOKENS_KEPT
    assert sum(token.read for token in document.title.tokens) == 3


def test_encode_marks_sentences_and_words_beyond_limits_unread(small_pipeline):
    content = "A b c d e f. Second one here. Third. Fourth! Fifth?"
    document = small_pipeline.encode("", content)
    assert [sentence.read for sentence in document.sentences] == [True, True, False, False, False]
    first = document.sentences[0]
    assert [token.read for token in first.tokens] == [True] * 4 + [False] * 3  # six words and the period
    assert all(not token.read for sentence in document.sentences[2:] for token in sentence.tokens)
    assert len(document.sentence_ids()) == 2
    assert [len(ids) for ids in document.sentence_ids()] == [4, 4]
    assert len(document.read_sentences) == 2
    assert document.omitted_sentences == 0


def test_encode_counts_omitted_sentences(small_pipeline):
    content = " ".join(f"Sentence {index}." for index in range(100))
    document = small_pipeline.encode("t", content)
    kept = 2 + UNREAD_SENTENCES_KEPT
    assert len(document.sentences) == kept
    assert document.omitted_sentences == 100 - kept
    assert sum(sentence.read for sentence in document.sentences) == 2


def test_encode_megabyte_content_marks_nearly_everything_unread(pipeline):
    # About 1 MB of prose: 40,000 short sentences, so about 360,000 tokens.
    content = " ".join(f"The cat {index} sat on the mat." for index in range(40_000))
    assert len(content) > 1_000_000
    document = pipeline.encode("A very long document", content)
    config = pipeline.config
    assert len(document.sentences) == config.max_sentences + UNREAD_SENTENCES_KEPT
    # only the first max_text_characters are read at all: the sentences past them are not even counted
    assert document.characters_cut == len(content) - 100_000
    assert document.omitted_sentences == len(split_sentences(content[:100_000])) - len(document.sentences)
    read_tokens = sum(len(ids) for ids in document.sentence_ids())
    assert read_tokens <= config.max_sentences * config.max_sentence_tokens
    assert read_tokens / 360_000 < 0.001
    assert len(document.read_sentences) == config.max_sentences


class _CountingEncoding:
    """Wraps a tokenizers Encoding and counts reads of its (whole-list) offsets and ids."""

    def __init__(self, encoding, counter: dict[str, int]):
        self._encoding = encoding
        self._counter = counter

    @property
    def offsets(self):
        self._counter["reads"] += 1
        return self._encoding.offsets

    @property
    def ids(self):
        self._counter["reads"] += 1
        return self._encoding.ids


class _CountingTokenizer:
    def __init__(self, tokenizer, counter: dict[str, int]):
        self._tokenizer = tokenizer
        self._counter = counter

    def encode(self, *args, **kwargs):
        return _CountingEncoding(self._tokenizer.encode(*args, **kwargs), self._counter)

    def __getattr__(self, name):
        return getattr(self._tokenizer, name)


def test_encode_does_not_convert_the_whole_encoding_once_per_token(pipeline):
    # Each `Encoding.offsets` / `.ids` read builds a Python list of every token of the document, so
    # reading them once per kept token makes encode quadratic (a 1 MB post took ~10 s). The number of
    # reads must not grow with the number of tokens per sentence.
    def reads(words_per_sentence: int) -> int:
        counter = {"reads": 0}
        counting = TextPipeline(pipeline.tokenizer, pipeline.config)
        counting.tokenizer = _CountingTokenizer(pipeline.tokenizer, counter)
        sentence = " ".join(["cat"] * words_per_sentence) + "."
        counting.encode("the cat", " ".join([sentence] * 40))
        return counter["reads"]

    assert reads(20) == reads(2)


def test_unpunctuated_line_is_cut_into_chunks(pipeline):
    content = " ".join(f"word{index}" for index in range(100))
    document = pipeline.encode("title", content)
    size = pipeline.config.max_sentence_tokens
    assert len(document.sentences) == math.ceil(100 / size) == 4
    assert [len(sentence.tokens) for sentence in document.sentences] == [30, 30, 30, 10]
    assert all(token.read for sentence in document.sentences for token in sentence.tokens)
    assert document.sentences[1].tokens[0].text == "word30"


def test_unpunctuated_line_uses_chunk_tokens_when_set():
    config = TextConfig(min_word_frequency=1, chunk_tokens=25)
    pipeline = TextPipeline.build(TRAINING_TEXTS, config)
    _, sentence_ids = pipeline.encode_ids("", " ".join(["word"] * 100))
    assert [len(ids) for ids in sentence_ids] == [25, 25, 25, 25]


def test_punctuated_long_sentence_is_not_chunked(pipeline):
    content = " ".join(f"word{index}" for index in range(100)) + "."
    document = pipeline.encode("", content)
    assert len(document.sentences) == 1
    assert sum(token.read for token in document.sentences[0].tokens) == pipeline.config.max_sentence_tokens


@pytest.mark.parametrize("title, content", DOCUMENTS)
def test_encode_ids_match_encode(pipeline, small_pipeline, title, content):
    for each in (pipeline, small_pipeline):
        document = each.encode(title, content)
        title_ids, sentence_ids = each.encode_ids(to_plain_text(title), to_plain_text(content))
        assert document.title_ids() == title_ids
        assert document.sentence_ids() == sentence_ids
        assert len(title_ids) <= each.config.max_title_tokens
        assert len(sentence_ids) <= each.config.max_sentences
        assert all(0 < len(ids) <= each.config.max_sentence_tokens for ids in sentence_ids)


def test_encode_empty_document(pipeline):
    for title, content in [(None, None), ("", ""), ("  ", "<p> </p>")]:
        document = pipeline.encode(title, content)
        assert document.title.tokens == [] and document.sentences == []
        assert document.title_ids() == [] and document.sentence_ids() == []
        assert document.omitted_sentences == 0
    assert pipeline.encode_ids("", "") == ([], [])


def test_text_that_spells_a_special_token_is_not_padding(pipeline):
    # Posts about tokenizers mention "<pad>" literally (on Stack Exchange as "&lt;pad&gt;"). Such a word
    # must not become PAD_ID: padding inside a title or sentence breaks the masks (the model and
    # make_batch treat id 0 as the end of the sequence), and it was flagged as a known word.
    title_ids, sentence_ids = pipeline.encode_ids("what does <pad> mean", "The <pad> token sat.\n<pad>")
    assert PAD_ID not in title_ids
    assert all(PAD_ID not in ids for ids in sentence_ids)
    document = pipeline.encode("what does &lt;pad&gt; mean", "<p>The &lt;pad&gt; token sat.</p>")
    tokens = document.title.tokens + [token for sentence in document.sentences for token in sentence.tokens]
    assert all(token.token_id != PAD_ID for token in tokens)


# ---- saving ---------------------------------------------------------------------------------------


def test_json_round_trip_gives_identical_ids(pipeline):
    restored = TextPipeline.from_json(pipeline.to_json(), pipeline.config)
    assert restored.vocabulary == pipeline.vocabulary
    assert restored.id_to_word == pipeline.id_to_word
    for title, content in DOCUMENTS:
        plain_title, plain_content = to_plain_text(title), to_plain_text(content)
        assert restored.encode_ids(plain_title, plain_content) == pipeline.encode_ids(
            plain_title, plain_content
        )
        assert restored.encode(title, content) == pipeline.encode(title, content)


@pytest.mark.parametrize(
    "text",
    ["use List<String> here", "if a<b and c>d then", "x <y> z", "generic Map<K, V> type"],
)
def test_plain_text_with_angle_brackets_is_not_taken_for_html(text):
    assert to_plain_text(text) == text


@pytest.mark.parametrize(
    "html, expected",
    [
        ("<p>hello</p>", "hello"),
        ("line one<br>line two", "line one\nline two"),
        ("<b>bold</b> text", "bold text"),
    ],
)
def test_real_html_is_converted(html, expected):
    assert to_plain_text(html) == expected


def test_name_ids_reads_hyphens_as_spaces_and_refuses_unknown_or_long_names(pipeline):
    vocabulary = pipeline.vocabulary
    assert pipeline.name_ids("sort-list", 4) == [vocabulary["sort"], vocabulary["list"]]
    assert pipeline.name_ids("Café", 4) == [vocabulary["café"]]  # normalised as the text is
    assert pipeline.name_ids("sort-zzzunknownzzz", 4) == []  # a word the model never reads: never named
    assert pipeline.name_ids("a-b-c-sort-list", 4) == []  # too long to match
    assert pipeline.name_ids("---", 4) == []
