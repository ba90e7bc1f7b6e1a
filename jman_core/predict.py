"""Predictor.from_checkpoint(...): ranked tags with scores, and every attention map that explains them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .checkpoint import CheckpointMetadata, load_checkpoint
from .domain import DomainCheck, DomainEstimator
from .errors import DocumentError
from .model import JMAN, JMANOutput
from .text import EncodedDocument, TextPipeline
from .training import Batch, make_batch, pad_documents, pad_rows

LINEAR_TERMS_SHOWN = 6  # words and pairs behind a linear part's score shown per tag


@dataclass
class TagScore:
    label: str
    score: float
    selected: bool


@dataclass
class Prediction:
    """Tags ranked by score; `selected` marks those at or above the threshold (within top_k)."""

    tags: list[TagScore]
    threshold: float
    top_k: int | None = None

    @property
    def selected(self) -> list[str]:
        return [tag.label for tag in self.tags if tag.selected]


@dataclass
class Explanation:
    """A prediction and the four attention distributions, aligned with the tokens the model read.

    `title_word_attention[i]` belongs to `document.title.tokens[i]` (read tokens only); row r of
    `sentence_word_attention` and entry r of the sentence attentions belong to `document.read_sentences[r]`.
    A distribution the model's variation does not compute is None.
    """

    prediction: Prediction
    document: EncodedDocument
    title_word_attention: list[float] | None
    sentence_word_attention: list[list[float]] | None
    original_sentence_attention: list[float] | None
    title_guided_sentence_attention: list[float] | None
    warnings: list[str] = field(default_factory=list)
    scores: np.ndarray | None = None  # (L,) in the order of the predictor's labels, for `Predictor.rank`
    domain: DomainCheck | None = None  # how far the document lies from the training documents (None: not stored)


@dataclass
class LinearEvidence:
    """For a model with a linear part: how its tag score is blended, and the words behind the SVM's share."""

    network_weight: float  # w in score = w * network_score + (1 - w) * linear_score
    network_score: float | None  # None when w is 0 (the network's score does not count)
    linear_score: float  # the linear SVM's probability, sigmoid of its margin
    # The words and word pairs read that moved the SVM's margin most: (text, what it added), largest first.
    terms: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class TagEvidence:
    """How much each read word and sentence pushed one tag's score up (positive) or down (negative).

    Gradient x input on the word vectors: for word i, sum_e (d logit / d x_ie) * x_ie. A sentence's
    evidence is the sum over its words. Aligned like `Explanation`.
    """

    label: str
    score: float
    title_word_evidence: list[float]
    sentence_word_evidence: list[list[float]]
    sentence_evidence: list[float]
    # The tag's own attention over the words read, for a model trained with label attention (else None);
    # it sums to 1 over all words read, title and content together.
    title_word_attention: list[float] | None = None
    sentence_word_attention: list[list[float]] | None = None
    # For a model trained with tag-name matching (else None): what the tag's name, read in the title and
    # in the content, added to its log-odds score ({"title": ..., "content": ...}; 0 where not written).
    name_scores: dict[str, float] | None = None
    # For a model with a linear part (else None): the blend and the SVM's strongest words and pairs.
    linear: LinearEvidence | None = None


def _select(scores: np.ndarray, labels: Sequence[str], threshold: float, top_k: int | None) -> Prediction:
    order = np.argsort(-scores, kind="stable")
    tags = []
    for rank, index in enumerate(order):
        chosen = scores[index] >= threshold and (top_k is None or rank < top_k)
        tags.append(TagScore(labels[index], float(scores[index]), bool(chosen)))
    return Prediction(tags, threshold, top_k)


DOMAIN_WARNING_START = "This reads unlike what the model was trained on"


def domain_warning(check: DomainCheck) -> str:
    """The warning for an unusual document: "This reads unlike what the model was trained on: ..."."""
    return f"{DOMAIN_WARNING_START}: {check.reason}"


def _document_warnings(document: EncodedDocument, max_sentences: int) -> list[str]:
    warnings = []
    if not document.title.tokens:
        warnings.append("The title is empty: the title attention and the title-guided attention have nothing to work with.")
    if not document.sentences:
        warnings.append("The content is empty: only the title was read.")
    unknown = sum(not token.known for segment in [document.title, *document.sentences] for token in segment.tokens if token.read)
    read = sum(token.read for segment in [document.title, *document.sentences] for token in segment.tokens)
    if read and unknown / read > 0.5:
        warnings.append(f"{unknown} of {read} words are not in the model's vocabulary; the suggestions are unreliable.")
    unread = sum(not sentence.read for sentence in document.sentences) + document.omitted_sentences
    if unread:
        warnings.append(f"Only the first {max_sentences} sentences were read; {unread} more were not.")
    if document.characters_cut:
        warnings.append(f"The text is very long: its last {document.characters_cut:,} characters were not read at all.")
    return warnings


class Predictor:
    """Suggests tags for a title and a content; safe to call from several threads (no state changes)."""

    def __init__(self, model: JMAN, pipeline: TextPipeline, metadata: CheckpointMetadata, device: str = "cpu",
                 domain: DomainEstimator | None = None):
        self.model = model.to(device).eval()
        self.pipeline = pipeline
        self.metadata = metadata
        self.domain = domain  # None: the checkpoint stores no domain statistic, so no document is checked
        self.device = torch.device(device)
        self.labels: list[str] = list(metadata.labels)
        self.threshold: float = float(metadata.threshold)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "cpu") -> "Predictor":
        loaded = load_checkpoint(path, device)
        return cls(loaded.model, loaded.pipeline, loaded.metadata, device, loaded.domain)

    def _encode(self, title: str | None, content: str | None) -> EncodedDocument:
        if not isinstance(title or "", str) or not isinstance(content or "", str):
            raise DocumentError("The title and the content must be text.")
        # to_plain_text (in encode) reads at most max_text_characters and makes lone surrogates U+FFFD
        document = self.pipeline.encode(title or "", content or "")
        if not document.title.tokens and not document.sentences:
            raise DocumentError("Both the title and the content are empty (or hold no words). Give at least one of them.")
        return document

    def _batch(self, documents: Sequence[EncodedDocument]) -> Batch:
        """The model's inputs for `documents`, with the content's first words for a linear part that reads them."""
        encoded = [(document.title_ids(), document.sentence_ids()) for document in documents]
        config = self.pipeline.config
        titles, contents = pad_documents(encoded, config.max_title_tokens, config.max_sentences, config.max_sentence_tokens)
        words = self.metadata.model_config.linear_content_words if self.model.linear_part is not None else 0
        content = None
        if words:
            rows = [self.pipeline.content_ids(document.content_text, words) for document in documents]
            content = pad_rows(rows, max([1, *(len(row) for row in rows)]))
        return make_batch(titles, contents, np.zeros((len(documents), len(self.labels)), np.float32), self.device, content)

    def _forward(self, documents: Sequence[EncodedDocument]) -> JMANOutput:
        batch = self._batch(documents)
        with torch.inference_mode():
            return self.model(*batch.inputs(), content_ids=batch.content_ids)

    def predict_proba_batch(self, documents: Iterable[tuple[str | None, str | None]], batch_size: int = 64) -> np.ndarray:
        """Scores (N, L) for (title, content) pairs; raises DocumentError for an empty document."""
        encoded = [self._encode(title, content) for title, content in documents]
        scores = [torch.sigmoid(self._forward(encoded[start:start + batch_size]).logits).cpu().numpy()
                  for start in range(0, len(encoded), batch_size)]
        return np.concatenate(scores) if scores else np.zeros((0, len(self.labels)), np.float32)

    def predict_proba(self, title: str | None, content: str | None) -> np.ndarray:
        """Scores (L,) in the order of `self.labels`."""
        return self.predict_proba_batch([(title, content)])[0]

    def predict(self, title: str | None, content: str | None, threshold: float | None = None,
                top_k: int | None = None) -> Prediction:
        """Ranked tags; `threshold` defaults to the tuned one stored in the checkpoint."""
        return self.rank(self.predict_proba(title, content), threshold, top_k)

    def predict_batch(self, documents: Iterable[tuple[str | None, str | None]], threshold: float | None = None,
                      top_k: int | None = None, batch_size: int = 64) -> list[Prediction]:
        return [self.rank(row, threshold, top_k) for row in self.predict_proba_batch(documents, batch_size)]

    def predict_each(self, documents: Iterable[tuple[str | None, str | None]], threshold: float | None = None,
                     top_k: int | None = None, batch_size: int = 64) -> list[Prediction | DocumentError]:
        """Like `predict_batch`, but a document that cannot be read gets its DocumentError in its place and
        the others are still scored together: one bad document never fails the rest."""
        results: list[Prediction | DocumentError] = []
        readable: list[tuple[int, EncodedDocument]] = []
        for index, (title, content) in enumerate(documents):
            try:
                readable.append((index, self._encode(title, content)))
                results.append(DocumentError("not scored"))
            except DocumentError as error:
                results.append(error)
        for start in range(0, len(readable), batch_size):
            chunk = readable[start:start + batch_size]
            scores = torch.sigmoid(self._forward([document for _, document in chunk]).logits).cpu().numpy()
            for (index, _), row in zip(chunk, scores):
                results[index] = self.rank(row, threshold, top_k)
        return results

    def domain_checks(self, documents: Iterable[tuple[str | None, str | None]]) -> list[DomainCheck | None]:
        """How far each (title, content) lies from the training documents; None for every one when the
        checkpoint stores no domain statistic. Raises DocumentError for an empty document."""
        encoded = [self._encode(title, content) for title, content in documents]
        if self.domain is None:
            return [None] * len(encoded)
        return self.domain.checks(self.pipeline, [(document.title_text, document.content_text) for document in encoded])

    def domain_check(self, title: str | None, content: str | None) -> DomainCheck | None:
        """`domain_checks` of one document."""
        return self.domain_checks([(title, content)])[0]

    def rank(self, scores: np.ndarray, threshold: float | None = None, top_k: int | None = None) -> Prediction:
        """Re-partitions already computed scores (no model run): used by sliders in the app."""
        return _select(np.asarray(scores), self.labels, self.threshold if threshold is None else threshold, top_k)

    def explain(self, title: str | None, content: str | None, threshold: float | None = None,
                top_k: int | None = None) -> Explanation:
        """Prediction plus tokens (with spans) and the title-word, sentence-word, original and
        title-guided sentence attention, trimmed to the real tokens and sentences."""
        document = self._encode(title, content)
        output = self._forward([document])
        scores = torch.sigmoid(output.logits[0]).cpu().numpy()
        title_count = len(document.title_ids())
        sentence_lengths = [len(ids) for ids in document.sentence_ids()]

        def trimmed(tensor: torch.Tensor | None, length: int) -> list[float] | None:
            return None if tensor is None else tensor[0, :length].float().cpu().tolist()

        word_attention = None
        if output.sentence_word_attention is not None:
            matrix = output.sentence_word_attention[0].float().cpu()
            word_attention = [matrix[row, :length].tolist() for row, length in enumerate(sentence_lengths)]
        domain = self.domain.checks(self.pipeline, [(document.title_text, document.content_text)])[0] if self.domain else None
        warnings = _document_warnings(document, self.pipeline.config.max_sentences)
        return Explanation(
            prediction=self.rank(scores, threshold, top_k),
            document=document,
            title_word_attention=trimmed(output.title_word_attention, title_count),
            sentence_word_attention=word_attention,
            original_sentence_attention=trimmed(output.original_sentence_attention, len(sentence_lengths)),
            title_guided_sentence_attention=trimmed(output.title_guided_sentence_attention, len(sentence_lengths)),
            warnings=[domain_warning(domain)] + warnings if domain and domain.unusual else warnings,
            scores=scores,
            domain=domain,
        )

    def tag_evidence(self, title: str | None, content: str | None, label: str) -> TagEvidence:
        """Per-word and per-sentence evidence for one label (gradient x input; see TagEvidence)."""
        if label not in self.labels:
            raise DocumentError(f"The model has no tag {label!r}; it knows {len(self.labels)} tags.")
        document = self._encode(title, content)
        encoded = [(document.title_ids(), document.sentence_ids())]
        batch = self._batch([document])
        with torch.enable_grad():
            title_vectors = self.model.embedding(batch.title_ids).detach().requires_grad_(True)  # (1, T, E)
            sentence_vectors = self.model.embedding(batch.sentence_ids).detach().requires_grad_(True)  # (1, S, W, E)
            output = self.model(*batch.inputs(), embedded=(title_vectors, sentence_vectors), content_ids=batch.content_ids)
            logit = output.logits[0, self.labels.index(label)]
            # autograd.grad leaves the parameters' .grad untouched, so concurrent calls do not interfere
            title_gradient, sentence_gradient = torch.autograd.grad(logit, (title_vectors, sentence_vectors), allow_unused=True)
        title_values = _gradient_times_input(title_gradient, title_vectors)[0]  # (T,)
        word_values = _gradient_times_input(sentence_gradient, sentence_vectors)[0]  # (S, W)
        title_count = len(encoded[0][0])
        lengths = [len(ids) for ids in encoded[0][1]]
        words = [word_values[row, :length].tolist() for row, length in enumerate(lengths)]
        evidence = TagEvidence(label, float(torch.sigmoid(logit.detach())), title_values[:title_count].tolist(), words,
                               [float(sum(row)) for row in words])
        if output.label_word_attention is not None:
            attention = output.label_word_attention[0, self.labels.index(label)].detach().float().cpu()  # (T + S*W,)
            title_length = batch.title_ids.shape[1]
            grid = attention[title_length:].reshape(batch.sentence_ids.shape[1:])  # (S, W)
            evidence.title_word_attention = attention[:title_count].tolist()
            evidence.sentence_word_attention = [grid[row, :length].tolist() for row, length in enumerate(lengths)]
        if self.model.label_mentions is not None:
            with torch.no_grad():
                places = self.model.label_mentions.place_scores(*batch.inputs())
            evidence.name_scores = dict(zip(("title", "content"), places[0, self.labels.index(label)].tolist()))
        if self.model.linear_part is not None:
            evidence.linear = self._linear_evidence(batch, self.labels.index(label), evidence.score)
        return evidence

    def _linear_evidence(self, batch: Batch, label: int, score: float) -> LinearEvidence:
        part = self.model.linear_part
        with torch.no_grad():
            linear_score = float(torch.sigmoid(part.scores(*batch.inputs(), batch.content_ids)[0, label]))
            terms = part.strongest_terms(batch.inputs(), label, LINEAR_TERMS_SHOWN, batch.content_ids)
        weight = float(part.network_weight)
        network_score = min(max((score - (1 - weight) * linear_score) / weight, 0.0), 1.0) if weight > 0 else None
        words = self.pipeline.id_to_word
        return LinearEvidence(weight, network_score, linear_score,
                              [(" ".join(words[index] for index in (first, second) if index) + (" (in the title)" if in_title else ""), added)
                               for first, second, in_title, added in terms])


def _gradient_times_input(gradient: torch.Tensor | None, vectors: torch.Tensor) -> torch.Tensor:
    """(…, E) gradient and vectors -> (…) evidence; zeros where the variation does not read the input."""
    if gradient is None:
        return torch.zeros(vectors.shape[:-1])
    return (gradient * vectors).sum(-1).detach().float().cpu()
