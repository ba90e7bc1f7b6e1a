"""The Joint Multi-label Attention Network (equations 1-3), its variations and its score heads, in one file.

A network is an encoder (JMAN in its seven variations, or the HAN and Bi-GRU baselines) that reads a batch
into a `Reading`, plus score heads that each turn the reading into tag logits; the forward pass sums the
heads. The paper's classifier is the head every network has; the heads beyond the paper are registered
once in HEADS, each with its own options.

Shape alphabet used in the comments:
    B batch, T title words, S sentences, W words per sentence, E embedding, H hidden per direction,
    L labels, N any number of sequences, K sequence length.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .config import VARIATIONS, ModelConfig, from_dict, option
from .errors import ConfigError


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis that is exactly 0 on padding and all-zero for a fully padded row."""
    scores = scores.float().masked_fill(~mask, torch.finfo(torch.float32).min)
    return torch.softmax(scores, dim=-1) * mask


def reverse_within_length(sequence: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """sequence (N, K, ...) with each row's first lengths[n] steps reversed and its padding left in place;
    applying it twice gives the sequence back."""
    positions = torch.arange(sequence.shape[1], device=sequence.device).unsqueeze(0)  # (1, K)
    lengths = lengths.unsqueeze(1)  # (N, 1)
    index = torch.where(positions < lengths, lengths - 1 - positions, positions)  # (N, K)
    index = index.view(*index.shape, *([1] * (sequence.dim() - 2))).expand_as(sequence)
    return torch.gather(sequence, 1, index)


def _gru_direction(gru: nn.GRU, inputs: torch.Tensor, suffix: str) -> torch.Tensor:
    """One direction of a one-layer `gru` ("" forward, "_reverse" backward weights) run left to right over
    inputs (N, K, E) -> (N, K, H). The same kernel nn.GRU calls, on one direction's weights."""
    weights = [
        getattr(gru, f"{name}_l0{suffix}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    ]
    start = inputs.new_zeros(1, inputs.shape[0], gru.hidden_size)
    hidden, _ = torch._VF.gru(inputs, start, weights, True, 1, 0.0, gru.training, False, True)
    return hidden


def _padded_bidirectional_gru(gru: nn.GRU, inputs: torch.Tensor, lengths: torch.Tensor):
    """The CPU path: the forward direction over the right-padded rows as they are (padding comes after the
    last word, so it never reaches a real word's state), the backward direction over each row reversed
    within its length. The packed path gives the same numbers, but on a CPU its backward pass zero-fills a
    tensor of every packed step once per step; for the 300-word Bi-GRU baseline that made it 7x slower
    (`python bench/gru_paths.py`)."""
    forward = _gru_direction(gru, inputs, "")  # (N, K, H)
    backward = _gru_direction(gru, reverse_within_length(inputs, lengths), "_reverse")  # (N, K, H), reversed
    last_index = (lengths - 1).view(-1, 1, 1).expand(-1, 1, gru.hidden_size)  # (N, 1, H)
    last = torch.stack([forward.gather(1, last_index).squeeze(1), backward.gather(1, last_index).squeeze(1)])
    return torch.cat([forward, reverse_within_length(backward, lengths)], dim=-1), last


def _packed_bidirectional_gru(gru: nn.GRU, inputs: torch.Tensor, lengths: torch.Tensor):
    """The CUDA path: cuDNN's packed sequences."""
    packed = pack_padded_sequence(inputs, lengths.cpu(), batch_first=True, enforce_sorted=False)
    hidden, last = gru(packed)
    hidden, _ = pad_packed_sequence(hidden, batch_first=True, total_length=inputs.shape[1])
    return hidden, last


def bidirectional_gru(
    gru: nn.GRU, inputs: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Equation 1 in both directions, each starting at its row's first real word: inputs (N, K, E),
    mask (N, K) -> hidden states (N, K, 2H), zero on padding, and last (2, N, H): the forward state at the
    last word and the backward state at the first. An empty row reads its first (padding) step; callers
    mask it away."""
    lengths = mask.sum(dim=1).clamp(min=1)  # (N,)
    run = _packed_bidirectional_gru if inputs.is_cuda else _padded_bidirectional_gru
    hidden, last = run(gru, inputs, lengths)
    return hidden * mask.unsqueeze(-1), last


class BiGRUEncoder(nn.Module):
    """Equation 1 in both directions; the backward GRU starts at the last real token."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.gru = nn.GRU(input_size, hidden_size, batch_first=True, bidirectional=True)

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """inputs (N, K, E), mask (N, K) -> hidden states (N, K, 2H), zero on padding."""
        return bidirectional_gru(self.gru, inputs, mask)[0]


class Attention(nn.Module):
    """Equations 2 and 3: v = tanh(W h + b); alpha = masked softmax(query . v); c = sum alpha h.

    Without a query the query is a learned "informative" vector (the original attention); with one,
    it is the title representation c_t (the title-guided attention).
    """

    def __init__(self, size: int, guided: bool = False):
        super().__init__()
        self.projection = nn.Linear(size, size)
        # A guided attention takes its query from the caller and has no learned vector (an unused
        # parameter would also stall DistributedDataParallel).
        self.context_vector = None if guided else nn.Parameter(torch.empty(size).uniform_(-0.1, 0.1))

    def forward(
        self, hidden: torch.Tensor, mask: torch.Tensor, query: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """hidden (N, K, 2H), mask (N, K), query (N, 2H) or None -> context (N, 2H), weights (N, K)."""
        projected = torch.tanh(self.projection(hidden))  # (N, K, 2H)
        if query is None:
            scores = projected @ self.context_vector.to(projected.dtype)  # (N, K)
        else:
            scores = (projected * query.unsqueeze(1).to(projected.dtype)).sum(-1)  # (N, K)
        weights = masked_softmax(scores, mask)  # (N, K), float32
        context = (weights.unsqueeze(-1) * hidden.float()).sum(dim=1)  # (N, 2H)
        return context, weights


def read_sentences(
    module: nn.Module,
    sentence_embedded: torch.Tensor,
    word_mask: torch.Tensor,
    keep_word_hidden: bool = False,
):
    """The hierarchical reading shared by JMAN and HAN, with `module`'s word_encoder, word_attention and
    sentence_encoder: sentence_embedded (B, S, W, E), word_mask (B, S, W) -> sentence hidden states
    (B, S, 2H), sentence mask (B, S), word attention (B, S, W), and the word hidden states (B, S, W, 2H)
    when `keep_word_hidden` (else None)."""
    batch, sentences, words = word_mask.shape
    sentence_mask = word_mask.any(dim=-1)  # (B, S)
    # Only the N real sentences go through the word encoder: padded sentence slots are often half of
    # B*S, and their vector and word attention are exactly 0 anyway.
    present = sentence_mask.reshape(-1).clone()  # (B*S,)
    if not bool(present.any()):
        present[0] = True  # a batch with no content still runs the encoder once (its output is masked to 0)
    real_mask = word_mask.reshape(batch * sentences, words)[present]  # (N, W)
    hidden = module.word_encoder(
        sentence_embedded.reshape(batch * sentences, words, -1)[present], real_mask
    )  # (N, W, 2H)
    real_vectors, real_weights = module.word_attention(hidden, real_mask)  # (N, 2H), (N, W)
    sentence_vectors = real_vectors.new_zeros(batch * sentences, real_vectors.shape[-1])
    sentence_vectors[present] = real_vectors
    word_weights = real_weights.new_zeros(batch * sentences, words)
    word_weights[present] = real_weights
    word_hidden = None
    if keep_word_hidden:
        word_hidden = hidden.new_zeros(batch * sentences, words, hidden.shape[-1])
        word_hidden[present] = hidden
        word_hidden = word_hidden.reshape(batch, sentences, words, -1)  # (B, S, W, 2H)
    sentence_vectors = sentence_vectors.reshape(batch, sentences, -1).to(hidden.dtype)  # (B, S, 2H)
    sentence_hidden = module.sentence_encoder(sentence_vectors, sentence_mask)  # (B, S, 2H)
    return sentence_hidden, sentence_mask, word_weights.reshape(batch, sentences, words), word_hidden


def embed(
    module: nn.Module,
    title_ids: torch.Tensor,
    sentence_ids: torch.Tensor,
    embedded: tuple[torch.Tensor, torch.Tensor] | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Word vectors of the title (B, T, E) and sentences (B, S, W, E), from `module`'s embedding layer
    unless given, after `module`'s embedding dropout (active in training only)."""
    if embedded is None:
        embedded = (module.embedding(title_ids), module.embedding(sentence_ids))
    return module.embedding_dropout(embedded[0]), module.embedding_dropout(embedded[1])


@dataclass
class Reading:
    """What an encoder read of a batch, for the score heads: the document vector, the inputs, the word
    states (None where the encoder does not keep them) and the encoder's attentions by name."""

    document: torch.Tensor  # (B, D)
    title_ids: torch.Tensor  # (B, T)
    title_mask: torch.Tensor  # (B, T)
    sentence_ids: torch.Tensor  # (B, S, W)
    word_mask: torch.Tensor  # (B, S, W)
    title_hidden: torch.Tensor | None = None  # (B, T, 2H)
    word_hidden: torch.Tensor | None = None  # (B, S, W, 2H), kept only when a head reads the word states
    # title_word (B, T), sentence_word (B, S, W), original_sentence (B, S), title_guided_sentence (B, S)
    attentions: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def words(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(title_ids, title_mask, sentence_ids, word_mask): the words read, for heads that count them."""
        return self.title_ids, self.title_mask, self.sentence_ids, self.word_mask


class JMANEncoder(nn.Module):
    """Title and content read in parallel; the document is [c_t, c_ta, c_a] as the variation selects."""

    def __init__(self, config: ModelConfig, keep_word_states: bool = False):
        super().__init__()
        parts = config.parts
        self.parts = parts
        self.keep_word_states = keep_word_states
        self.reads_title = parts["use_title"] or parts["use_title_guided"]
        self.reads_content = parts["use_title_guided"] or parts["use_original"]
        size = 2 * config.hidden_size
        self.embedding = nn.Embedding(config.vocabulary_size, config.embedding_dim, padding_idx=0)
        self.embedding_dropout = nn.Dropout(config.embedding_dropout)
        if self.reads_title:
            self.title_encoder = BiGRUEncoder(config.embedding_dim, config.hidden_size)
            self.title_attention = Attention(size)
        if self.reads_content:
            self.word_encoder = BiGRUEncoder(config.embedding_dim, config.hidden_size)
            self.word_attention = Attention(size)
            self.sentence_encoder = BiGRUEncoder(size, config.hidden_size)
        if parts["use_original"]:
            self.original_attention = Attention(size)
        if parts["use_title_guided"]:
            self.title_guided_attention = Attention(size, guided=True)
        self.document_size = size * sum(
            parts[name] for name in ("use_title", "use_title_guided", "use_original")
        )

    def forward(self, title_ids, title_mask, sentence_ids, word_mask, embedded=None) -> Reading:
        """title_ids, title_mask (B, T), sentence_ids, word_mask (B, S, W) -> Reading. `embedded` = (title
        (B, T, E), sentences (B, S, W, E)) replaces the embedding lookup, for gradients w.r.t. word
        vectors."""
        title_embedded, sentence_embedded = embed(self, title_ids, sentence_ids, embedded)
        reading = Reading(title_ids.new_zeros(0), title_ids, title_mask, sentence_ids, word_mask)
        pieces: list[torch.Tensor] = []
        title_vector = None
        if self.reads_title:
            hidden = self.title_encoder(title_embedded, title_mask)  # (B, T, 2H)
            title_vector, reading.attentions["title_word"] = self.title_attention(
                hidden, title_mask
            )  # (B, 2H), (B, T)
            reading.title_hidden = hidden
            if self.parts["use_title"]:
                pieces.append(title_vector)
        if self.reads_content:
            sentence_hidden, sentence_mask, word_weights, reading.word_hidden = read_sentences(
                self, sentence_embedded, word_mask, keep_word_hidden=self.keep_word_states
            )  # (B, S, 2H), (B, S)
            reading.attentions["sentence_word"] = word_weights  # (B, S, W)
            if self.parts["use_title_guided"]:
                vector, reading.attentions["title_guided_sentence"] = self.title_guided_attention(
                    sentence_hidden, sentence_mask, query=title_vector
                )  # (B, 2H), (B, S)
                pieces.append(vector)
            if self.parts["use_original"]:
                vector, reading.attentions["original_sentence"] = self.original_attention(
                    sentence_hidden, sentence_mask
                )
                pieces.append(vector)
        reading.document = torch.cat(pieces, dim=-1)  # (B, k*2H)
        return reading


class HANEncoder(nn.Module):
    """Baseline: the Hierarchical Attention Network over title + content as one document.

    The title is read as the document's first sentence. Its word attention is reported as the title word
    attention, and the sentence attention over the content sentences only (the share the title received is
    left out, so it sums to 1 minus that share).
    """

    def __init__(self, config: ModelConfig, keep_word_states: bool = False):
        super().__init__()
        size = 2 * config.hidden_size
        self.embedding = nn.Embedding(config.vocabulary_size, config.embedding_dim, padding_idx=0)
        self.embedding_dropout = nn.Dropout(config.embedding_dropout)
        self.word_encoder = BiGRUEncoder(config.embedding_dim, config.hidden_size)
        self.word_attention = Attention(size)
        self.sentence_encoder = BiGRUEncoder(size, config.hidden_size)
        self.original_attention = Attention(size)
        self.document_size = size

    def forward(self, title_ids, title_mask, sentence_ids, word_mask, embedded=None) -> Reading:
        """Same inputs as JMANEncoder.forward; the title becomes sentence 0 of a (B, 1+S, max(T, W))
        document."""
        title_embedded, sentence_embedded = embed(self, title_ids, sentence_ids, embedded)
        title_length, words = title_mask.shape[1], word_mask.shape[2]
        width = max(title_length, words)
        document = torch.cat(
            [
                nn.functional.pad(title_embedded, (0, 0, 0, width - title_length)).unsqueeze(1),
                nn.functional.pad(sentence_embedded, (0, 0, 0, width - words)),
            ],
            dim=1,
        )  # (B, 1+S, width, E)
        mask = torch.cat(
            [
                nn.functional.pad(title_mask, (0, width - title_length)).unsqueeze(1),
                nn.functional.pad(word_mask, (0, width - words)),
            ],
            dim=1,
        )  # (B, 1+S, width)
        sentence_hidden, sentence_mask, word_weights, _ = read_sentences(self, document, mask)
        vector, sentence_weights = self.original_attention(
            sentence_hidden, sentence_mask
        )  # (B, 2H), (B, 1+S)
        attentions = {
            "title_word": word_weights[:, 0, :title_length],
            "sentence_word": word_weights[:, 1:, :words],
            "original_sentence": sentence_weights[:, 1:],
        }
        return Reading(vector, title_ids, title_mask, sentence_ids, word_mask, attentions=attentions)


class BiGRUDocumentEncoder(nn.Module):
    """Baseline: one Bi-GRU over the title and content words as one sequence; the document is the last
    hidden state of each direction. It has no attention."""

    def __init__(self, config: ModelConfig, keep_word_states: bool = False):
        super().__init__()
        self.embedding = nn.Embedding(config.vocabulary_size, config.embedding_dim, padding_idx=0)
        self.embedding_dropout = nn.Dropout(config.embedding_dropout)
        self.gru = nn.GRU(config.embedding_dim, config.hidden_size, batch_first=True, bidirectional=True)
        self.document_size = 2 * config.hidden_size

    def forward(self, title_ids, title_mask, sentence_ids, word_mask, embedded=None) -> Reading:
        title_embedded, sentence_embedded = embed(self, title_ids, sentence_ids, embedded)
        batch = title_ids.shape[0]
        sequence = torch.cat(
            [title_embedded, sentence_embedded.reshape(batch, -1, sentence_embedded.shape[-1])], 1
        )
        mask = torch.cat([title_mask, word_mask.reshape(batch, -1)], dim=1)  # (B, T + S*W)
        order = torch.argsort(
            (~mask).to(torch.int8), dim=1, stable=True
        )  # real words first, in reading order
        sequence = torch.gather(sequence, 1, order.unsqueeze(-1).expand_as(sequence))  # (B, K, E)
        _, last = bidirectional_gru(self.gru, sequence, torch.gather(mask, 1, order))  # (2, B, H)
        vector = torch.cat([last[0], last[1]], dim=-1) * mask.any(1, keepdim=True)  # (B, 2H)
        return Reading(vector, title_ids, title_mask, sentence_ids, word_mask)


# The encoder of each network name; every JMAN variation uses JMANEncoder.
ENCODERS: dict[str, type[nn.Module]] = {"HAN": HANEncoder, "BiGRU": BiGRUDocumentEncoder}


# ----------------------------------------------------------------------------------------------------
# Score heads: each turns a Reading into (B, L) logits and, where it has one, a per-tag attention.


class Head(nn.Module):
    """A score head. Subclasses declare `Options` (a dataclass of their settings, each with its default
    and help), `description` (one line for the CLI, the app and the model card), whether they read the
    encoder's word states, and which encoders they work with (None: every one)."""

    @dataclass
    class Options:
        pass

    description: ClassVar[str] = ""
    needs_word_states: ClassVar[bool] = False
    encoders: ClassVar[tuple[str, ...] | None] = None

    def setup(self, labels: list[str], pipeline: Any) -> dict[str, Any]:
        """Fills what the head takes from the labels and the vocabulary before training; -> statistics."""
        return {}

    def explain(self, reading: Reading, label: int) -> dict[str, float] | None:
        """What the head has of its own to say about tag `label` in document 0 (None: nothing)."""
        return None


class ClassifierHead(Head):
    """The paper's output layer: dropout, then a linear map of the document vector to the tag logits."""

    description = "the paper's classifier over the document vector"

    def __init__(self, config: ModelConfig, options: Head.Options, document_size: int):
        super().__init__()
        self.dropout = nn.Dropout(config.dropout)
        self.output = nn.Linear(document_size, config.num_labels)

    def forward(self, reading: Reading) -> tuple[torch.Tensor, None]:
        """-> logits (B, L)."""
        return self.output(self.dropout(reading.document).to(self.output.weight.dtype)).float(), None


class LexicalPath(Head):
    """Bag-of-words tag scores (not in the paper): every word read adds its own learned score for each
    label, so a tag named in the text need not pass through the attention-pooled document vector. The
    TF-IDF SVM recalls far more of the tags whose name is written in the text (bench/gap.py). Starts at
    zero, so a fresh head scores nothing."""

    description = "every word read votes for each tag with a learned score (not in the paper)"

    def __init__(self, config: ModelConfig, options: Head.Options, document_size: int):
        super().__init__()
        self.word_scores = nn.EmbeddingBag(config.vocabulary_size, config.num_labels, mode="sum")
        nn.init.zeros_(self.word_scores.weight)

    def forward(self, reading: Reading) -> tuple[torch.Tensor, None]:
        """-> (B, L) the sum of the read words' scores over sqrt(words read), so a long text does not
        outvote a short one."""
        title_ids, title_mask, sentence_ids, word_mask = reading.words
        batch = title_ids.shape[0]
        ids = torch.cat([title_ids, sentence_ids.reshape(batch, -1)], dim=1)  # (B, K)
        mask = torch.cat([title_mask, word_mask.reshape(batch, -1)], dim=1).float()  # (B, K)
        weights = mask / mask.sum(1, keepdim=True).clamp(min=1).sqrt()  # (B, K), 0 on padding
        return self.word_scores(ids, per_sample_weights=weights), None  # (B, L)


class LabelMentions(Head):
    """Tag-name matching (not in the paper): whether every word of a tag's name is read in the title, and
    in the content, each with a learned weight shared by all tags plus one of the tag's own, so a rare tag
    borrows what the common ones learn. bench/gap.py found the linear SVM's lead in the tags whose name is
    written in the question. The names' word ids are a buffer (saved in the checkpoint; `setup` fills
    them); the weights start at zero, so a fresh head scores nothing."""

    @dataclass
    class Options:
        name_words: int = option(4, "words kept of a tag's name; a longer name never matches")

    description = (
        "a learned score for each tag whose name is written in the title or the content (not in the paper)"
    )

    def __init__(self, config: ModelConfig, options: Options, document_size: int):
        super().__init__()
        self.name_words = options.name_words
        self.vocabulary_size = config.vocabulary_size
        self.register_buffer(
            "name_word_ids", torch.zeros(config.num_labels, options.name_words, dtype=torch.long)
        )  # (L, M)
        self.shared_weights = nn.Parameter(torch.zeros(2))  # (title, content)
        self.label_weights = nn.Parameter(torch.zeros(config.num_labels, 2))  # (L, 2)

    def setup(self, labels: list[str], pipeline: Any) -> dict[str, Any]:
        with torch.no_grad():
            self.name_word_ids.zero_()
            for row, label in enumerate(labels):
                ids = pipeline.name_ids(label, self.name_words)
                self.name_word_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return {"labels_with_readable_names": int(self.name_word_ids.any(1).sum())}

    def named(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """ids, mask (B, K) -> (B, L) 1.0 where every word of the tag's name is among the real words read."""
        present = ids.new_zeros(ids.shape[0], self.vocabulary_size, dtype=torch.bool)  # (B, V)
        present.scatter_(1, ids.masked_fill(~mask, 0), True)
        present[:, :2] = False  # padding and <unk> name no tag
        slots = self.name_word_ids > 1  # (L, M) real words of each name
        found = present[:, self.name_word_ids] | ~slots  # (B, L, M)
        return (found.all(-1) & slots.any(-1)).float()  # (B, L)

    def place_scores(self, reading: Reading) -> torch.Tensor:
        """-> (B, L, 2) what a tag's name read in the title, and in the content, adds."""
        title_ids, title_mask, sentence_ids, word_mask = reading.words
        batch = title_ids.shape[0]
        places = torch.stack(
            [
                self.named(title_ids, title_mask),
                self.named(sentence_ids.reshape(batch, -1), word_mask.reshape(batch, -1)),
            ],
            dim=-1,
        )
        return places * (self.shared_weights + self.label_weights)  # (B, L, 2)

    def explain(self, reading: Reading, label: int) -> dict[str, float]:
        """What the tag's name read in the title, and in the content, added to its logit."""
        return dict(zip(("title", "content"), self.place_scores(reading)[0, label].tolist()))

    def forward(self, reading: Reading) -> tuple[torch.Tensor, None]:
        """(B, L) scores, the sum over both places."""
        return self.place_scores(reading).sum(-1), None


class LabelAttention(Head):
    """Label-wise attention (not in the paper; CAML and LAAT): each label l has its own query u_l over every
    title and content word read, a_l = masked softmax(u_l . tanh(W h)), and scores w_l . sum_k a_lk h_k.
    JMAN pools each document into one vector per branch, so a tag named once must survive two poolings.
    Its output weights start at zero, so a fresh head scores nothing."""

    description = "each tag attends to the words read with its own query (CAML, LAAT; not in the paper)"
    needs_word_states = True
    encoders = tuple(VARIATIONS)

    def __init__(self, config: ModelConfig, options: Head.Options, document_size: int):
        super().__init__()
        size = 2 * config.hidden_size
        self.dropout = nn.Dropout(config.dropout)
        self.projection = nn.Linear(size, size)
        self.queries = nn.Parameter(torch.empty(config.num_labels, size).uniform_(-0.1, 0.1))  # (L, 2H)
        self.output_weights = nn.Parameter(torch.zeros(config.num_labels, size))  # (L, 2H)

    def forward(self, reading: Reading) -> tuple[torch.Tensor, torch.Tensor]:
        """-> scores (B, L), attention (B, L, T + S*W) over the title words then every (sentence, word)
        slot, summing to 1 over the real words read and 0 in the slots of a part the encoder does not read."""
        hidden, mask = self._words(reading)  # (B, K, 2H), (B, K)
        projected = torch.tanh(self.projection(hidden))  # (B, K, 2H)
        scores = (projected @ self.queries.t().to(projected.dtype)).transpose(1, 2)  # (B, L, K)
        weights = masked_softmax(scores, mask.unsqueeze(1))  # (B, L, K), float32
        vectors = self.dropout(weights @ hidden.float())  # (B, L, 2H)
        return (vectors * self.output_weights.float()).sum(-1), weights

    def _words(self, reading: Reading) -> tuple[torch.Tensor, torch.Tensor]:
        """The title's and the content's word states side by side (zeros, masked, for a part not read)."""
        batch, size = reading.title_mask.shape[0], self.queries.shape[1]
        flat_mask = reading.word_mask.reshape(batch, -1)  # (B, S*W)
        title_mask, title = reading.title_mask, reading.title_hidden
        if title is None:
            title_mask, title = torch.zeros_like(title_mask), self.queries.new_zeros(*title_mask.shape, size)
        words = reading.word_hidden
        if words is None:
            flat_mask, words = torch.zeros_like(flat_mask), self.queries.new_zeros(*flat_mask.shape, size)
        hidden = torch.cat([title, words.reshape(batch, flat_mask.shape[1], -1).to(title.dtype)], dim=1)
        return hidden, torch.cat([title_mask, flat_mask], dim=1)  # (B, T + S*W, 2H), (B, T + S*W)


# The heads beyond the paper's classifier, by the name used in ModelConfig.heads. A new head is one class
# above and one entry here.
HEADS: dict[str, type[Head]] = {
    "lexical_path": LexicalPath,
    "label_mentions": LabelMentions,
    "label_attention": LabelAttention,
}


def head_options(config: ModelConfig) -> dict[str, Any]:
    """Each head of `config` with its options dataclass, checked: unknown heads, unknown options, wrong
    types and a head the network cannot feed are ConfigErrors that name the fix."""
    chosen = {}
    for name, values in config.heads.items():
        if name not in HEADS:
            raise ConfigError(f"Unknown head {name!r}. Choose among: {', '.join(HEADS)}.")
        head = HEADS[name]
        if head.encoders is not None and config.variation not in head.encoders:
            raise ConfigError(
                f"The {name} head needs a network with word states to share; {config.variation} has "
                f"none. Choose a JMAN variation or leave {name} out."
            )
        chosen[name] = from_dict(head.Options, values, f"model.heads.{name}")
    return chosen


@dataclass
class JMANOutput:
    """The summed logits, every head's logits and per-tag attention by name, and the encoder's attentions
    (None where the encoder does not compute one)."""

    logits: torch.Tensor  # (B, L), the sum over heads
    title_word_attention: torch.Tensor | None  # (B, T)
    sentence_word_attention: torch.Tensor | None  # (B, S, W)
    original_sentence_attention: torch.Tensor | None  # (B, S)
    title_guided_sentence_attention: torch.Tensor | None  # (B, S)
    head_logits: dict[str, torch.Tensor] = field(default_factory=dict)  # name -> (B, L)
    head_attentions: dict[str, torch.Tensor] = field(default_factory=dict)  # name -> (B, L, T + S*W)
    reading: Reading | None = None  # what the encoder read, for the heads' own evidence (Head.explain)

    @property
    def label_word_attention(self) -> torch.Tensor | None:
        """(B, L, T + S*W) the label attention head's per-tag attention, when the network has that head."""
        return self.head_attentions.get("label_attention")


class TaggingNetwork(nn.Module):
    """An encoder and its score heads: logits = sum over heads (the paper's classifier always among them)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        options = head_options(config)
        keep_word_states = any(HEADS[name].needs_word_states for name in options)
        self.encoder = ENCODERS.get(config.variation, JMANEncoder)(config, keep_word_states)
        heads = {"classifier": ClassifierHead(config, Head.Options(), self.encoder.document_size)}
        heads.update(
            {
                name: HEADS[name](config, values, self.encoder.document_size)
                for name, values in options.items()
            }
        )
        self.heads = nn.ModuleDict(heads)

    @property
    def embedding(self) -> nn.Embedding:
        return self.encoder.embedding

    def forward(
        self,
        title_ids: torch.Tensor,
        title_mask: torch.Tensor,
        sentence_ids: torch.Tensor,
        word_mask: torch.Tensor,
        embedded: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> JMANOutput:
        """title_ids, title_mask (B, T), sentence_ids, word_mask (B, S, W) -> JMANOutput. `embedded` =
        (title (B, T, E), sentences (B, S, W, E)) replaces the embedding lookup, so callers can take
        gradients with respect to the word vectors (per-tag evidence)."""
        reading = self.encoder(title_ids, title_mask, sentence_ids, word_mask, embedded)
        outputs = {name: head(reading) for name, head in self.heads.items()}
        logits = {name: output[0] for name, output in outputs.items()}
        attentions = {name: output[1] for name, output in outputs.items() if output[1] is not None}
        found = reading.attentions
        return JMANOutput(
            torch.stack(list(logits.values())).sum(0),
            found.get("title_word"),
            found.get("sentence_word"),
            found.get("original_sentence"),
            found.get("title_guided_sentence"),
            logits,
            attentions,
            reading,
        )


# Kept for readers of the paper: a JMAN is a TaggingNetwork with a JMAN variation.
JMAN = TaggingNetwork


def build_model(
    config: ModelConfig,
    embedding_weights: torch.Tensor | None = None,
    label_frequencies: torch.Tensor | None = None,
    labels: list[str] | None = None,
    pipeline: Any = None,
) -> TaggingNetwork:
    """The network for `config` (a JMAN variation, "HAN" or "BiGRU", and its heads), its embedding layer
    initialised from (V, E) weights when given, its classifier's bias from (L,) label frequencies when
    given, and each head set up from the `labels` and the `pipeline`'s vocabulary when given.

    With a zero bias every sigmoid starts at 0.5 while most labels are absent, so the first steps' large
    gradients drive the encoders into a saturated constant output that imitates the missing bias; the
    log odds of each label's frequency start the network where that bias would end up.
    """
    model = TaggingNetwork(config)
    with torch.no_grad():
        if embedding_weights is not None:
            model.embedding.weight.copy_(embedding_weights)
            model.embedding.weight[0].zero_()
        if label_frequencies is not None:
            frequencies = torch.nan_to_num(label_frequencies.float(), nan=0.5).clamp(1e-4, 1 - 1e-4)  # (L,)
            model.heads["classifier"].output.bias.copy_(torch.log(frequencies / (1 - frequencies)))
    if labels is not None and pipeline is not None:
        model.setup_statistics = {
            key: value for head in model.heads.values() for key, value in head.setup(labels, pipeline).items()
        }
    return model


def legacy_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict of the first checkpoint format (one module with the heads as attributes) renamed to
    this one's (encoder.*, heads.NAME.*); the old linear part's buffers are left out (jman_core.linear
    reads them)."""
    renamed = {}
    for key, value in state.items():
        if key.startswith("linear_part."):
            continue
        if key.startswith("classifier."):
            renamed["heads.classifier.output." + key.removeprefix("classifier.")] = value
        elif key.split(".")[0] in HEADS:
            renamed["heads." + key] = value
        else:
            renamed["encoder." + key] = value
    return renamed
