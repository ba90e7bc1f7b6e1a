"""Text pipeline: HTML to plain text, sentence splitting, word-level tokenisation with character spans."""

from __future__ import annotations

import html
import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from tokenizers import Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import WordLevel
from tokenizers.trainers import WordLevelTrainer

from .config import TextConfig
from .errors import ConfigError

PAD_TOKEN = "<pad>"
UNKNOWN_TOKEN = "<unk>"
PAD_ID = 0
UNKNOWN_ID = 1
# Sentences past max_sentences are unread; this many are still returned (to show them as unread),
# the rest of a very long text is only counted.
UNREAD_SENTENCES_KEPT = 20
UNREAD_TITLE_TOKENS_KEPT = 50

_BLOCK_TAGS = {
    "p",
    "br",
    "div",
    "li",
    "ul",
    "ol",
    "pre",
    "blockquote",
    "hr",
    "tr",
    "table",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "section",
    "article",
    "dd",
    "dt",
}
_SKIPPED_TAGS = {"script", "style", "head", "title"}
# Text counts as HTML only with a closing tag or a void element of real HTML, so that plain text such as
# `List<String>` or `a<b and c>d` is not mistaken for markup.
_HTML_NAMES = (
    "p|div|span|a|b|i|u|em|strong|code|pre|blockquote|ul|ol|li|h[1-6]|table|thead|tbody|tr|td|th|sup|sub"
    "|html|body|head|section|article|dl|dd|dt|strike|s|del|kbd|script|style|title"
)
_HTML_TAG = re.compile(rf"</({_HTML_NAMES})\s*>|<(br|hr|img|p)(\s[^<>]*)?/?>", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])")
_SENTENCE_PUNCTUATION = re.compile(r"[.!?。！？]")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


# Markup is found with regular expressions that cannot run past the next "<", so stripping is linear in the
# text's length (html.parser took 54 s on 100 KB of "<a": it rescans the rest of the text at each one).
_MARKUP = re.compile(
    r"<!--.*?(?:-->|\Z)"  # a comment (an unclosed one runs to the end, as in a browser)
    r"|<[!?][^<>]*>"  # a declaration or processing instruction
    r"|<(/?)([a-zA-Z][a-zA-Z0-9:-]*)(?:[^<>\"']|\"[^\"<]*\"|'[^'<]*')*>",  # a start or end tag
    re.DOTALL,
)
_RAW_TEXT_TAGS = {"script", "style"}  # their content is not markup: skipped up to the closing tag
_SURROGATES = re.compile(r"[\ud800-\udfff]")


def readable_text(text: str) -> str:
    """`text` with what the tokenizer cannot encode (lone surrogates, e.g. from JSON's "\\udfff") as U+FFFD.

    The one normalisation at reading time: data readers, the Predictor's input and the app use it.
    """
    return _SURROGATES.sub("\ufffd", text)


_MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation mark, as CommonMark allows


def markdown_literal(text: str) -> str:
    """`text` to show as itself inside Markdown: every punctuation mark escaped, line breaks as spaces, so a
    tag or file name such as "![x](http://host/x.png)" is never an image, a link, a :badge[] or $maths$."""
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", " ".join(str(text).splitlines()))


def bounded_text(text: str) -> str:
    """The first `max_text_characters` characters: more than the model and the display read, so the rest
    of a 20 MB document is never parsed, tokenised or drawn."""
    from .limits import current_limits

    limit = current_limits().max_text_characters
    return text if len(text) <= limit else text[:limit]


def _raw_text_end(text: str, name: str, start: int) -> int:
    """Where the content of a <script> or <style> opened at `start` ends (after its closing tag)."""
    closing = re.compile(rf"</{name}\s*>", re.IGNORECASE).search(text, start)
    return closing.end() if closing else len(text)


def _html_to_text(text: str) -> str:
    """The text of an HTML fragment, with a line break at every block element; entities decoded."""
    parts: list[str] = []
    position, skip_depth = 0, 0
    while (match := _MARKUP.search(text, position)) is not None:
        if not skip_depth:
            parts.append(html.unescape(text[position : match.start()]))
        position = match.end()
        closing, name = match.group(1) == "/", (match.group(2) or "").lower()
        if name in _RAW_TEXT_TAGS and not closing:
            position = _raw_text_end(text, name, position)
        elif name in _SKIPPED_TAGS:
            skip_depth = max(0, skip_depth - 1) if closing else skip_depth + 1
        elif name in _BLOCK_TAGS and not skip_depth:
            parts.append("\n")
    if not skip_depth:
        parts.append(html.unescape(text[position:]))
    return "".join(parts)


def looks_like_html(text: str) -> bool:
    return bool(_HTML_TAG.search(text))


def to_plain_text(text: str | None) -> str:
    """HTML (or plain text) to tidy plain text: tags removed, entities decoded, blank runs collapsed.

    Only the first `max_text_characters` are read (see `bounded_text`). Plain text that merely contains
    '<' (maths such as `a < b`) is left alone apart from entities.
    """
    if not text:
        return ""
    text = readable_text(bounded_text(text))
    text = _html_to_text(text) if looks_like_html(text) else html.unescape(text)
    text = _CONTROL.sub(" ", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return "\n".join(line for line in lines if line)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of `text`: split at line breaks and at . ! ? followed by space."""
    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n]+", text):
        start = line.start()
        for boundary in _SENTENCE_END.finditer(line.group()):
            end = line.start() + boundary.start()
            if end > start:
                spans.append((start, end))
            start = line.start() + boundary.end()
        if line.end() > start:
            spans.append((start, line.end()))
    return [(start, end) for start, end in spans if text[start:end].strip()]


@dataclass
class Token:
    """One word as the model saw it; `start`/`end` index the plain text it came from."""

    text: str
    start: int
    end: int
    token_id: int
    known: bool
    read: bool


@dataclass
class Segment:
    """The title or one sentence: its span in the plain text and its tokens (`read` = within the limits)."""

    start: int
    end: int
    tokens: list[Token] = field(default_factory=list)
    read: bool = True

    def read_ids(self) -> list[int]:
        return [token.token_id for token in self.tokens if token.read]


@dataclass
class EncodedDocument:
    """A document as the model reads it, with everything the app needs to draw it."""

    title_text: str
    content_text: str
    title: Segment
    sentences: list[Segment]
    omitted_sentences: int = 0  # unread sentences beyond those kept in `sentences`, only counted
    characters_cut: int = 0  # characters of the title and content past `max_text_characters`, never read

    def title_ids(self) -> list[int]:
        return self.title.read_ids()

    def sentence_ids(self) -> list[list[int]]:
        return [sentence.read_ids() for sentence in self.sentences if sentence.read]

    @property
    def read_sentences(self) -> list[Segment]:
        return [sentence for sentence in self.sentences if sentence.read]


class TextPipeline:
    """Word-level tokenizer (Hugging Face `tokenizers`) plus the paper's sentence and length limits."""

    def __init__(self, tokenizer: Tokenizer, config: TextConfig):
        self.tokenizer = tokenizer
        self.config = config
        self.vocabulary: dict[str, int] = tokenizer.get_vocab()
        self.id_to_word: list[str] = [""] * len(self.vocabulary)
        for word, index in self.vocabulary.items():
            self.id_to_word[index] = word
        if self.vocabulary.get(PAD_TOKEN) != PAD_ID or self.vocabulary.get(UNKNOWN_TOKEN) != UNKNOWN_ID:
            raise ConfigError("The tokenizer must map <pad> to 0 and <unk> to 1.")

    # ---- building and saving -------------------------------------------------------------------
    @staticmethod
    def _empty_tokenizer(config: TextConfig) -> Tokenizer:
        tokenizer = Tokenizer(WordLevel(unk_token=UNKNOWN_TOKEN))
        steps = [normalizers.NFKC()] + ([normalizers.Lowercase()] if config.lowercase else [])
        tokenizer.normalizer = normalizers.Sequence(steps)
        tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
        return tokenizer

    @classmethod
    def build(cls, texts: Iterable[str], config: TextConfig) -> TextPipeline:
        """Learns the vocabulary from plain training texts (words seen at least min_word_frequency times)."""
        tokenizer = cls._empty_tokenizer(config)
        trainer = WordLevelTrainer(
            vocab_size=config.max_vocabulary_size,
            min_frequency=config.min_word_frequency,
            special_tokens=[PAD_TOKEN, UNKNOWN_TOKEN],
            show_progress=False,
        )
        tokenizer.train_from_iterator(texts, trainer=trainer)
        return cls(tokenizer, config)

    def to_json(self) -> str:
        return self.tokenizer.to_str()

    @classmethod
    def from_json(cls, tokenizer_json: str, config: TextConfig) -> TextPipeline:
        return cls(Tokenizer.from_str(tokenizer_json), config)

    @property
    def vocabulary_size(self) -> int:
        return len(self.vocabulary)

    def words(self, text: str) -> list[str]:
        """Normalised words of a plain text (what word2vec is trained on)."""
        normalised = self.tokenizer.normalizer.normalize_str(text)
        return [word for word, _ in self.tokenizer.pre_tokenizer.pre_tokenize_str(normalised)]

    def name_ids(self, tag: str, limit: int) -> list[int]:
        """Word ids of a tag's name, its hyphens read as spaces ("elliptic-curves" -> elliptic, curves), or []
        when it has more than `limit` words or a word outside the vocabulary (such a tag is never named)."""
        ids = [self.vocabulary.get(word, UNKNOWN_ID) for word in self.words(tag.replace("-", " "))]
        return ids if 0 < len(ids) <= limit and UNKNOWN_ID not in ids else []

    # ---- encoding ------------------------------------------------------------------------------
    def _content_groups(self, content: str, starts: Sequence[int]) -> list[list[int]]:
        """Groups token positions into sentences; unpunctuated long text is cut into fixed-length chunks."""
        chunk = self.config.chunk_tokens or self.config.max_sentence_tokens
        groups: list[list[int]] = []
        for sentence_start, sentence_end in split_sentences(content):
            first = bisect_right(starts, sentence_start - 1)
            last = bisect_right(starts, sentence_end - 1)
            positions = list(range(first, last))
            if not positions:
                continue
            unpunctuated = not _SENTENCE_PUNCTUATION.search(content[sentence_start:sentence_end])
            if unpunctuated and len(positions) > self.config.max_sentence_tokens:
                groups.extend(positions[index : index + chunk] for index in range(0, len(positions), chunk))
            else:
                groups.append(positions)
        return groups

    def _encode_text(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """(ids, character offsets) of a plain text.

        Text that spells "<pad>" is matched as that special token by `tokenizers`; id 0 would punch a
        hole in the masks, so it becomes <unk>. The lists are read once: each read of `encoding.ids`
        copies the whole document.
        """
        if not text:
            return [], []
        encoding = self.tokenizer.encode(text, add_special_tokens=False)
        return [token_id or UNKNOWN_ID for token_id in encoding.ids], encoding.offsets

    def content_ids(self, content: str, limit: int) -> list[int]:
        """The first `limit` token ids of a plain-text content,
        sentences and limits aside (a linear part's input)."""
        return self._encode_text(content)[0][:limit]

    def content_starts(self, content: str, limit: int) -> list[int]:
        """Where each of the first `limit` tokens of a plain-text content starts (as `content_ids` reads
        it)."""
        return [start for start, _ in self._encode_text(content)[1][:limit]]

    def encode_ids(self, title: str, content: str) -> tuple[list[int], list[list[int]]]:
        """Fast path for training: (title ids, ids per sentence), already cut to the configured limits.

        `title` and `content` must already be plain text (see `to_plain_text`).
        """
        limit_words = self.config.max_sentence_tokens
        title_ids = self._encode_text(title)[0][: self.config.max_title_tokens]
        ids, offsets = self._encode_text(content)
        if not ids:
            return title_ids, []
        starts = [start for start, _ in offsets]
        groups = self._content_groups(content, starts)[: self.config.max_sentences]
        return title_ids, [[ids[position] for position in group[:limit_words]] for group in groups]

    def _tokens(
        self,
        text: str,
        encoded: tuple[list[int], list[tuple[int, int]]],
        positions: Iterable[int],
        limit: int,
        read: bool,
    ) -> list[Token]:
        ids, offsets = encoded
        tokens = []
        for rank, position in enumerate(positions):
            start, end = offsets[position]
            token_id = ids[position]
            tokens.append(
                Token(text[start:end], start, end, token_id, token_id != UNKNOWN_ID, read and rank < limit)
            )
        return tokens

    def encode(self, title: str | None, content: str | None) -> EncodedDocument:
        """Full encoding of raw title and content (HTML accepted) with every token's span and status."""
        title_text, content_text = to_plain_text(title), to_plain_text(content)
        title_encoded = self._encode_text(title_text)
        title_positions = range(
            min(len(title_encoded[0]), self.config.max_title_tokens + UNREAD_TITLE_TOKENS_KEPT)
        )
        title_tokens = self._tokens(
            title_text, title_encoded, title_positions, self.config.max_title_tokens, True
        )
        title_segment = Segment(0, len(title_text), title_tokens, True)
        sentences: list[Segment] = []
        omitted = 0
        content_encoded = self._encode_text(content_text)
        if content_encoded[0]:
            starts = [start for start, _ in content_encoded[1]]
            groups = self._content_groups(content_text, starts)
            kept = self.config.max_sentences + UNREAD_SENTENCES_KEPT
            omitted = max(0, len(groups) - kept)
            for index, group in enumerate(groups[:kept]):
                read = index < self.config.max_sentences
                tokens = self._tokens(
                    content_text, content_encoded, group, self.config.max_sentence_tokens, read
                )
                sentences.append(Segment(tokens[0].start, tokens[-1].end, tokens, read))
        cut = sum(max(0, len(text or "") - len(bounded_text(text or ""))) for text in (title, content))
        return EncodedDocument(title_text, content_text, title_segment, sentences, omitted, cut)
