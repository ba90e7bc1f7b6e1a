"""The Joint Multi-label Attention Network (equations 1-3) and its variations, in one file.

Shape alphabet used in the comments:
    B batch, T title words, S sentences, W words per sentence, E embedding, H hidden per direction,
    L labels, N any number of sequences, K sequence length.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .config import ModelConfig


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
    weights = [getattr(gru, f"{name}_l0{suffix}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
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


def bidirectional_gru(gru: nn.GRU, inputs: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
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


def read_sentences(module: nn.Module, sentence_embedded: torch.Tensor, word_mask: torch.Tensor,
                   keep_word_hidden: bool = False):
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
    hidden = module.word_encoder(sentence_embedded.reshape(batch * sentences, words, -1)[present], real_mask)  # (N, W, 2H)
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


def embed(module: nn.Module, title_ids: torch.Tensor, sentence_ids: torch.Tensor,
          embedded: tuple[torch.Tensor, torch.Tensor] | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Word vectors of the title (B, T, E) and sentences (B, S, W, E), from `module`'s embedding layer
    unless given, after `module`'s embedding dropout (active in training only)."""
    if embedded is None:
        embedded = (module.embedding(title_ids), module.embedding(sentence_ids))
    return module.embedding_dropout(embedded[0]), module.embedding_dropout(embedded[1])


class LexicalPath(nn.Module):
    """Bag-of-words tag scores (not in the paper): every word read adds its own learned score for each
    label, so a tag named in the text need not pass through the attention-pooled document vector.
    Starts at zero, so a fresh model scores exactly as the network alone."""

    def __init__(self, vocabulary_size: int, num_labels: int):
        super().__init__()
        self.word_scores = nn.EmbeddingBag(vocabulary_size, num_labels, mode="sum")
        nn.init.zeros_(self.word_scores.weight)

    def forward(self, title_ids, title_mask, sentence_ids, word_mask) -> torch.Tensor:
        """title_ids, title_mask (B, T), sentence_ids, word_mask (B, S, W) -> (B, L) scores: the sum of
        the read words' scores over sqrt(words read), so a long text does not outvote a short one."""
        batch = title_ids.shape[0]
        ids = torch.cat([title_ids, sentence_ids.reshape(batch, -1)], dim=1)  # (B, K)
        mask = torch.cat([title_mask, word_mask.reshape(batch, -1)], dim=1).float()  # (B, K)
        weights = mask / mask.sum(1, keepdim=True).clamp(min=1).sqrt()  # (B, K), 0 on padding
        return self.word_scores(ids, per_sample_weights=weights)  # (B, L)


# Words kept of a tag's name for matching; a name with more words (or a word outside the vocabulary) never matches.
LABEL_NAME_WORDS = 4


class LabelMentions(nn.Module):
    """Tag-name matching (not in the paper): whether every word of a tag's name is read in the title, and
    in the content, each with a learned weight shared by all tags plus one of the tag's own, so a rare tag
    borrows what the common ones learn. bench/gap.py found the linear SVM's lead in the tags whose name is
    written in the question. The names' word ids are a buffer (saved in the checkpoint; build_model sets
    them); the weights start at zero, so a fresh model scores exactly as the network alone."""

    def __init__(self, vocabulary_size: int, num_labels: int):
        super().__init__()
        self.vocabulary_size = vocabulary_size
        self.register_buffer("name_word_ids", torch.zeros(num_labels, LABEL_NAME_WORDS, dtype=torch.long))  # (L, M)
        self.shared_weights = nn.Parameter(torch.zeros(2))  # (title, content)
        self.label_weights = nn.Parameter(torch.zeros(num_labels, 2))  # (L, 2)

    def named(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """ids, mask (B, K) -> (B, L) 1.0 where every word of the tag's name is among the real words read."""
        present = ids.new_zeros(ids.shape[0], self.vocabulary_size, dtype=torch.bool)  # (B, V)
        present.scatter_(1, ids.masked_fill(~mask, 0), True)
        present[:, :2] = False  # padding and <unk> name no tag
        slots = self.name_word_ids > 1  # (L, M) real words of each name
        found = present[:, self.name_word_ids] | ~slots  # (B, L, M)
        return (found.all(-1) & slots.any(-1)).float()  # (B, L)

    def place_scores(self, title_ids, title_mask, sentence_ids, word_mask) -> torch.Tensor:
        """Same inputs as LexicalPath -> (B, L, 2) what a tag's name read in the title, and in the content, adds."""
        batch = title_ids.shape[0]
        places = torch.stack([self.named(title_ids, title_mask),
                              self.named(sentence_ids.reshape(batch, -1), word_mask.reshape(batch, -1))], dim=-1)  # (B, L, 2)
        return places * (self.shared_weights + self.label_weights)

    def forward(self, title_ids, title_mask, sentence_ids, word_mask) -> torch.Tensor:
        """(B, L) scores, the sum over both places."""
        return self.place_scores(title_ids, title_mask, sentence_ids, word_mask).sum(-1)


def word_and_pair_keys(ids: torch.Tensor, mask: torch.Tensor, counted: torch.Tensor, vocabulary_size: int,
                       offset: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """ids, mask (N, K) sequences -> keys, valid (N, 2K - 1): each counted word w as w*V, and each pair of
    counted words (a, b) adjacent once the others are skipped as a*V + b (b >= 2, so the two never collide),
    plus `offset`. counted (V,) bool says which words count (the rest, punctuation and the like, are skipped)."""
    keep = mask & counted[ids]  # (N, K)
    order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)  # counted words first, in reading order
    ids, keep = torch.gather(ids, 1, order), torch.gather(keep, 1, order)
    keys = torch.cat([ids * vocabulary_size, ids[:, :-1] * vocabulary_size + ids[:, 1:]], dim=1) + offset
    return keys, torch.cat([keep, keep[:, :-1] & keep[:, 1:]], dim=1)


class LinearPart(nn.Module):
    """The wide part (not in the paper): a linear SVM over TF-IDF of the words and word pairs read,
    fitted after the network (jman_core.baselines.fit_linear_part) and blended with it in probability,
    p = w * sigmoid(network) + (1 - w) * sigmoid(linear), w tuned on validation. The linear SVM beats
    every network on our sites, and bench/gap.py found the blend beats both. Buffers only: it is fitted
    in closed form, not trained by backpropagation; each tag keeps its `per_label` largest weights."""

    def __init__(self, vocabulary_size: int, num_labels: int, features: int, per_label: int):
        super().__init__()
        self.vocabulary_size = vocabulary_size
        self.register_buffer("counted_words", torch.zeros(vocabulary_size, dtype=torch.bool))  # (V,)
        self.register_buffer("feature_keys", torch.zeros(features, dtype=torch.long))  # (F,) sorted keys
        self.register_buffer("idf", torch.zeros(features))  # (F,)
        self.register_buffer("label_features", torch.zeros(num_labels, per_label, dtype=torch.long))  # (L, k)
        self.register_buffer("label_weights", torch.zeros(num_labels, per_label))  # (L, k)
        self.register_buffer("bias", torch.zeros(num_labels))  # (L,)
        self.register_buffer("network_weight", torch.ones(()))  # w; 1 scores as the network alone

    def read_keys(self, title_ids, title_mask, sentence_ids, word_mask, content_ids=None) -> tuple[torch.Tensor, torch.Tensor]:
        """The words and pairs read as integer keys (see word_and_pair_keys): the title twice and each
        sentence, as the TF-IDF baselines read them, then the title once more under its own keys (offset
        V*V), so a word can weigh more in the title. content_ids (B, K), when given, replaces the sentences
        by the content's first K words (0 pads). -> keys, valid (B, K')."""
        batch, size = title_ids.shape[0], self.vocabulary_size
        if content_ids is None:
            content_ids, content_mask = sentence_ids.reshape(-1, sentence_ids.shape[-1]), word_mask.reshape(-1, word_mask.shape[-1])  # (B*S, W)
        else:
            content_mask = content_ids != 0  # (B, K)
        parts = [word_and_pair_keys(title_ids, title_mask, self.counted_words, size)] * 2 + [
            word_and_pair_keys(content_ids, content_mask, self.counted_words, size),
            word_and_pair_keys(title_ids, title_mask, self.counted_words, size, offset=size * size)]
        keys = torch.cat([part_keys.reshape(batch, -1) for part_keys, _ in parts], dim=1)  # (B, K)
        return keys, torch.cat([valid.reshape(batch, -1) for _, valid in parts], dim=1)

    def tfidf(self, title_ids, title_mask, sentence_ids, word_mask, content_ids=None) -> torch.Tensor:
        """(B, F) sublinear TF-IDF of the known words and pairs read, each row of unit length."""
        keys, valid = self.read_keys(title_ids, title_mask, sentence_ids, word_mask, content_ids)  # (B, K)
        positions = torch.searchsorted(self.feature_keys, keys).clamp(max=len(self.feature_keys) - 1)  # (B, K)
        known = valid & (self.feature_keys[positions] == keys)  # (B, K)
        counts = torch.zeros(keys.shape[0], len(self.feature_keys), device=keys.device)  # (B, F)
        counts.scatter_add_(1, positions, known.float())
        values = torch.where(counts > 0, 1 + torch.log(counts.clamp(min=1)), counts) * self.idf  # (B, F)
        return values / values.norm(dim=1, keepdim=True).clamp(min=1e-12)

    def contributions(self, features: torch.Tensor) -> torch.Tensor:
        """features (B, F) -> (B, L, k) what each tag's kept features add to its linear score."""
        return features[:, self.label_features] * self.label_weights  # (B, L, k)

    def strongest_terms(self, inputs: tuple[torch.Tensor, ...], label: int, count: int,
                        content_ids: torch.Tensor | None = None) -> list[tuple[int, int, bool, float]]:
        """The `count` words and pairs of document 0 of `inputs` that moved tag `label`'s margin most, as
        (first word id, second word id or 0 for a single word, read as the title's own, what it added),
        largest effect first."""
        added = self.contributions(self.tfidf(*inputs, content_ids))[0, label]  # (k,)
        order = [index for index in added.abs().argsort(descending=True).tolist() if added[index] != 0][:count]
        keys = self.feature_keys[self.label_features[label, order]].tolist()
        size = self.vocabulary_size
        return [((key % size ** 2) // size, key % size, key >= size ** 2, float(added[index]))
                for key, index in zip(keys, order)]

    def scores(self, title_ids, title_mask, sentence_ids, word_mask, content_ids=None) -> torch.Tensor:
        """(B, L) the linear SVM's decision values (margin 0 <-> probability 0.5)."""
        features = self.tfidf(title_ids, title_mask, sentence_ids, word_mask, content_ids)
        return self.contributions(features).sum(-1) + self.bias

    def blend(self, network_logits: torch.Tensor, inputs: tuple[torch.Tensor, ...], content_ids=None) -> torch.Tensor:
        """network_logits (B, L) -> (B, L) log odds of the blended probability."""
        weight = self.network_weight
        linear = torch.sigmoid(self.scores(*inputs, content_ids))
        probability = weight * torch.sigmoid(network_logits.float()) + (1 - weight) * linear
        return torch.logit(probability.clamp(1e-7, 1 - 1e-7))


class LabelAttention(nn.Module):
    """Label-wise attention (not in the paper; CAML and LAAT): each label l has its own query u_l over the
    words read, a_l = masked softmax(u_l . tanh(W h)), and scores w_l . sum_k a_lk h_k. Its output weights
    start at zero, so a fresh model scores exactly as the network alone."""

    def __init__(self, size: int, num_labels: int):
        super().__init__()
        self.projection = nn.Linear(size, size)
        self.queries = nn.Parameter(torch.empty(num_labels, size).uniform_(-0.1, 0.1))  # (L, 2H)
        self.output_weights = nn.Parameter(torch.zeros(num_labels, size))  # (L, 2H)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor, dropout: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        """hidden (B, K, 2H), mask (B, K) -> scores (B, L), attention (B, L, K) summing to 1 over real words."""
        projected = torch.tanh(self.projection(hidden))  # (B, K, 2H)
        scores = (projected @ self.queries.t().to(projected.dtype)).transpose(1, 2)  # (B, L, K)
        weights = masked_softmax(scores, mask.unsqueeze(1))  # (B, L, K), float32
        vectors = dropout(weights @ hidden.float())  # (B, L, 2H)
        return (vectors * self.output_weights.float()).sum(-1), weights


def classify(module: nn.Module, document: torch.Tensor, inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Tag logits (B, L) of a document vector (B, D) through `module`'s dropout and classifier, plus its
    lexical path over `inputs` = (title_ids, title_mask, sentence_ids, word_mask) when it has one."""
    logits = module.classifier(module.dropout(document).to(module.classifier.weight.dtype)).float()  # (B, L)
    if module.lexical_path is not None:
        logits = logits + module.lexical_path(*inputs).float()
    if module.label_mentions is not None:
        logits = logits + module.label_mentions(*inputs)
    return logits


def build_lexical_path(config: ModelConfig) -> LexicalPath | None:
    return LexicalPath(config.vocabulary_size, config.num_labels) if config.lexical_path else None


def build_label_mentions(config: ModelConfig) -> LabelMentions | None:
    return LabelMentions(config.vocabulary_size, config.num_labels) if config.label_mentions else None


def build_linear_part(config: ModelConfig) -> LinearPart | None:
    """The fitted linear part of a saved model; None while training (fit_linear_part attaches it after)."""
    if not (config.linear_part and config.linear_features > 0):
        return None
    return LinearPart(config.vocabulary_size, config.num_labels, config.linear_features, config.linear_per_label)


def blend_linear_part(module: nn.Module, logits: torch.Tensor, inputs: tuple[torch.Tensor, ...],
                      content_ids: torch.Tensor | None = None) -> torch.Tensor:
    """The network's logits (B, L), blended with `module`'s linear part when it has a fitted one (which
    reads content_ids (B, K) when given, else the sentences)."""
    return logits if module.linear_part is None else module.linear_part.blend(logits, inputs, content_ids)


@dataclass
class JMANOutput:
    """Logits and every attention distribution (None where the variation does not compute it)."""

    logits: torch.Tensor  # (B, L)
    title_word_attention: torch.Tensor | None  # (B, T)
    sentence_word_attention: torch.Tensor | None  # (B, S, W)
    original_sentence_attention: torch.Tensor | None  # (B, S)
    title_guided_sentence_attention: torch.Tensor | None  # (B, S)
    # With label_attention: each label's attention over the title words then every (sentence, word) slot.
    label_word_attention: torch.Tensor | None = None  # (B, L, T + S*W)


class JMAN(nn.Module):
    """Title and content read in parallel; the document is [c_t, c_ta, c_a] as the variation selects."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        parts = config.parts
        self.uses_title_encoder = parts["use_title"] or parts["use_title_guided"]
        self.uses_content = parts["use_title_guided"] or parts["use_original"]
        size = 2 * config.hidden_size
        self.embedding = nn.Embedding(config.vocabulary_size, config.embedding_dim, padding_idx=0)
        self.embedding_dropout = nn.Dropout(config.embedding_dropout)
        if self.uses_title_encoder:
            self.title_encoder = BiGRUEncoder(config.embedding_dim, config.hidden_size)
            self.title_attention = Attention(size)
        if self.uses_content:
            self.word_encoder = BiGRUEncoder(config.embedding_dim, config.hidden_size)
            self.word_attention = Attention(size)
            self.sentence_encoder = BiGRUEncoder(size, config.hidden_size)
        if parts["use_original"]:
            self.original_attention = Attention(size)
        if parts["use_title_guided"]:
            self.title_guided_attention = Attention(size, guided=True)
        used = sum(parts[name] for name in ("use_title", "use_title_guided", "use_original"))
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(used * size, config.num_labels)
        self.lexical_path = build_lexical_path(config)
        self.label_mentions = build_label_mentions(config)
        self.linear_part = build_linear_part(config)
        self.label_attention = LabelAttention(size, config.num_labels) if config.label_attention else None

    def encode_title(self, title_embedded: torch.Tensor, title_mask: torch.Tensor):
        """title_embedded (B, T, E) -> c_t (B, 2H), title word attention (B, T), title hidden states (B, T, 2H)."""
        hidden = self.title_encoder(title_embedded, title_mask)  # (B, T, 2H)
        return (*self.title_attention(hidden, title_mask), hidden)

    def encode_sentences(self, sentence_embedded: torch.Tensor, word_mask: torch.Tensor):
        """sentence_embedded (B, S, W, E) -> sentence hidden states (B, S, 2H), sentence mask (B, S), word
        attention (B, S, W), and word hidden states (B, S, W, 2H) when the model has label attention."""
        return read_sentences(self, sentence_embedded, word_mask, keep_word_hidden=self.label_attention is not None)

    def attend_per_label(self, title_hidden, title_mask, word_hidden, word_mask):
        """Label attention over every word read: the title's (B, T, 2H) and the content's (B, S, W, 2H),
        each None when the variation does not read it -> scores (B, L), attention (B, L, T + S*W) with
        zeros in the slots of a part not read."""
        batch = title_mask.shape[0]
        title_hidden = title_hidden if title_hidden is not None else self._zeros(title_mask)
        title_mask = title_mask if self.uses_title_encoder else torch.zeros_like(title_mask)
        flat_mask = word_mask.reshape(batch, -1)  # (B, S*W)
        word_hidden = (word_hidden.reshape(batch, flat_mask.shape[1], -1) if word_hidden is not None
                       else self._zeros(flat_mask))
        flat_mask = flat_mask if self.uses_content else torch.zeros_like(flat_mask)
        hidden = torch.cat([title_hidden, word_hidden.to(title_hidden.dtype)], dim=1)  # (B, T + S*W, 2H)
        return self.label_attention(hidden, torch.cat([title_mask, flat_mask], dim=1), self.dropout)

    def _zeros(self, mask: torch.Tensor) -> torch.Tensor:
        """Zero hidden states (B, K, 2H) for a part the variation does not read."""
        return mask.new_zeros(*mask.shape, 2 * self.config.hidden_size, dtype=self.label_attention.queries.dtype)

    def forward(
        self,
        title_ids: torch.Tensor,
        title_mask: torch.Tensor,
        sentence_ids: torch.Tensor,
        word_mask: torch.Tensor,
        embedded: tuple[torch.Tensor, torch.Tensor] | None = None,
        content_ids: torch.Tensor | None = None,
    ) -> JMANOutput:
        """title_ids (B, T), title_mask (B, T), sentence_ids (B, S, W), word_mask (B, S, W) -> JMANOutput.

        `embedded` = (title (B, T, E), sentences (B, S, W, E)) replaces the embedding lookup, so callers
        can take gradients with respect to the word vectors (per-tag evidence). `content_ids` (B, K) is
        the content's first K words for a linear part that reads more than the network (else None).
        """
        parts = self.config.parts
        title_embedded, sentence_embedded = embed(self, title_ids, sentence_ids, embedded)
        pieces: list[torch.Tensor] = []
        title_vector = title_weights = word_weights = original_weights = guided_weights = None
        title_hidden = word_hidden = label_weights = None
        if self.uses_title_encoder:
            title_vector, title_weights, title_hidden = self.encode_title(title_embedded, title_mask)  # (B, 2H), (B, T), (B, T, 2H)
            if parts["use_title"]:
                pieces.append(title_vector)
        if self.uses_content:
            sentence_hidden, sentence_mask, word_weights, word_hidden = self.encode_sentences(sentence_embedded, word_mask)
            if parts["use_title_guided"]:
                guided_vector, guided_weights = self.title_guided_attention(
                    sentence_hidden, sentence_mask, query=title_vector
                )  # (B, 2H), (B, S)
                pieces.append(guided_vector)
            if parts["use_original"]:
                original_vector, original_weights = self.original_attention(sentence_hidden, sentence_mask)
                pieces.append(original_vector)
        document = torch.cat(pieces, dim=-1)  # (B, k*2H)
        logits = classify(self, document, (title_ids, title_mask, sentence_ids, word_mask))  # (B, L)
        if self.label_attention is not None:
            label_scores, label_weights = self.attend_per_label(title_hidden, title_mask, word_hidden, word_mask)
            logits = logits + label_scores  # (B, L)
        logits = blend_linear_part(self, logits, (title_ids, title_mask, sentence_ids, word_mask), content_ids)
        return JMANOutput(logits, title_weights, word_weights, original_weights, guided_weights, label_weights)


class HAN(nn.Module):
    """Baseline: the Hierarchical Attention Network over title + content as one document.

    The title is read as the document's first sentence. In the output, row 0's word attention is the
    title word attention, and the sentence attention is reported over the content sentences only (the
    share the title received is left out, so it sums to 1 minus that share).
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        size = 2 * config.hidden_size
        self.embedding = nn.Embedding(config.vocabulary_size, config.embedding_dim, padding_idx=0)
        self.embedding_dropout = nn.Dropout(config.embedding_dropout)
        self.word_encoder = BiGRUEncoder(config.embedding_dim, config.hidden_size)
        self.word_attention = Attention(size)
        self.sentence_encoder = BiGRUEncoder(size, config.hidden_size)
        self.original_attention = Attention(size)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(size, config.num_labels)
        self.lexical_path = build_lexical_path(config)
        self.label_mentions = build_label_mentions(config)
        self.linear_part = build_linear_part(config)

    def forward(self, title_ids, title_mask, sentence_ids, word_mask, embedded=None, content_ids=None) -> JMANOutput:
        """Same inputs as JMAN.forward; the title becomes sentence 0 of a (B, 1+S, max(T, W)) document."""
        title_embedded, sentence_embedded = embed(self, title_ids, sentence_ids, embedded)
        title_length, words = title_mask.shape[1], word_mask.shape[2]
        width = max(title_length, words)
        pad_title = width - title_length
        pad_words = width - words
        document = torch.cat([
            nn.functional.pad(title_embedded, (0, 0, 0, pad_title)).unsqueeze(1),
            nn.functional.pad(sentence_embedded, (0, 0, 0, pad_words)),
        ], dim=1)  # (B, 1+S, width, E)
        mask = torch.cat([
            nn.functional.pad(title_mask, (0, pad_title)).unsqueeze(1),
            nn.functional.pad(word_mask, (0, pad_words)),
        ], dim=1)  # (B, 1+S, width)
        sentence_hidden, sentence_mask, word_weights, _ = read_sentences(self, document, mask)
        vector, sentence_weights = self.original_attention(sentence_hidden, sentence_mask)  # (B, 2H), (B, 1+S)
        inputs = (title_ids, title_mask, sentence_ids, word_mask)
        logits = blend_linear_part(self, classify(self, vector, inputs), inputs, content_ids)
        return JMANOutput(logits, word_weights[:, 0, :title_length], word_weights[:, 1:, :words],
                          sentence_weights[:, 1:], None)


class BiGRUClassifier(nn.Module):
    """Baseline: one Bi-GRU over the title and content words as one sequence; the document is the last
    hidden state of each direction. It has no attention."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocabulary_size, config.embedding_dim, padding_idx=0)
        self.embedding_dropout = nn.Dropout(config.embedding_dropout)
        self.gru = nn.GRU(config.embedding_dim, config.hidden_size, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(2 * config.hidden_size, config.num_labels)
        self.lexical_path = build_lexical_path(config)
        self.label_mentions = build_label_mentions(config)
        self.linear_part = build_linear_part(config)

    def forward(self, title_ids, title_mask, sentence_ids, word_mask, embedded=None, content_ids=None) -> JMANOutput:
        title_embedded, sentence_embedded = embed(self, title_ids, sentence_ids, embedded)
        batch = title_ids.shape[0]
        sequence = torch.cat([title_embedded, sentence_embedded.reshape(batch, -1, sentence_embedded.shape[-1])], 1)
        mask = torch.cat([title_mask, word_mask.reshape(batch, -1)], dim=1)  # (B, T + S*W)
        order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)  # real words first, in reading order
        sequence = torch.gather(sequence, 1, order.unsqueeze(-1).expand_as(sequence))  # (B, K, E)
        _, last = bidirectional_gru(self.gru, sequence, torch.gather(mask, 1, order))  # (2, B, H)
        vector = torch.cat([last[0], last[1]], dim=-1) * mask.any(1, keepdim=True)  # (B, 2H)
        inputs = (title_ids, title_mask, sentence_ids, word_mask)
        logits = blend_linear_part(self, classify(self, vector, inputs), inputs, content_ids)
        return JMANOutput(logits, None, None, None, None)


ARCHITECTURES = {"HAN": HAN, "BiGRU": BiGRUClassifier}


def build_model(config: ModelConfig, embedding_weights: torch.Tensor | None = None,
                label_frequencies: torch.Tensor | None = None, label_name_ids: torch.Tensor | None = None) -> nn.Module:
    """The network for `config.variation` (a JMAN variation, "HAN" or "BiGRU"), its embedding layer
    initialised from (V, E) weights when given, its output bias from (L,) label frequencies when given,
    and with label_mentions the word ids of each tag's name from (L, LABEL_NAME_WORDS) ids (0 pads).

    With a zero bias every sigmoid starts at 0.5 while most labels are absent, so the first steps' large
    gradients drive the encoders into a saturated constant output that imitates the missing bias; the
    log odds of each label's frequency start the network where that bias would end up.
    """
    model = ARCHITECTURES.get(config.variation, JMAN)(config)
    with torch.no_grad():
        if embedding_weights is not None:
            model.embedding.weight.copy_(embedding_weights)
            model.embedding.weight[0].zero_()
        if label_frequencies is not None:
            frequencies = torch.nan_to_num(label_frequencies.float(), nan=0.5).clamp(1e-4, 1 - 1e-4)  # (L,)
            model.classifier.bias.copy_(torch.log(frequencies / (1 - frequencies)))
        if label_name_ids is not None and model.label_mentions is not None:
            model.label_mentions.name_word_ids.copy_(label_name_ids)
    return model
