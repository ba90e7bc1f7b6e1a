"""Predictor.from_checkpoint(...): ranked tags with scores, and every attention map that explains them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from .batching import Batch, make_batch, pad_documents, pad_rows
from .blend import ATTENTION_EXPLAINS_BELOW, COMPONENT_NAMES, CONFIDENCE_FLOOR_PERCENT, LINEAR, NETWORK, Blend
from .checkpoint import CheckpointMetadata, load_checkpoint
from .domain import DomainCheck, DomainEstimator
from .errors import DocumentError
from .linear import WordPairSVM
from .model import JMANOutput, TaggingNetwork
from .text import EncodedDocument, TextPipeline

LINEAR_TERMS_SHOWN = 6  # words and pairs behind the SVM's score shown per tag


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
    domain: DomainCheck | None = (
        None  # how far the document lies from the training documents (None: not stored)
    )
    # The network's blend weight: the share of the scores the attention above can explain (1 without an SVM).
    network_weight: float = 1.0

    @property
    def attention_explains(self) -> bool:
        """False when the network carries so little of the scores that its attention does not explain them."""
        return self.network_weight >= ATTENTION_EXPLAINS_BELOW


@dataclass
class ComponentEvidence:
    """One component's part in a tag's final score.

    score = Σ_c weight_c * probability_c, so `share` = weight * probability is exactly what the component adds
    to the score. Word evidence is in the component's calibrated log odds: the network's by gradient x input
    on the word vectors, the SVM's exact (each word and pair's term of the margin, a pair's half to each
    word); `outside` is what words not shown (beyond the sentences drawn) and the bias add to it.
    """

    name: str  # "network" or "linear"
    weight: float
    probability: float  # the component's calibrated probability for the tag
    share: float  # weight * probability: what it adds to the final score
    title_word_evidence: list[float]
    sentence_word_evidence: list[list[float]]
    outside: float = 0.0
    # The SVM's strongest words and pairs: (text, what it added to the calibrated log odds), largest first.
    terms: list[tuple[str, float]] = field(default_factory=list)

    @property
    def label(self) -> str:
        return COMPONENT_NAMES.get(self.name, self.name)


@dataclass
class TagEvidence:
    """What each read word and sentence added to one tag's final score, and each component's share.

    `title_word_evidence` and `sentence_word_evidence` are the whole score's: each component's word evidence
    (in its calibrated log odds) times d score / d log odds = weight * p * (1 - p), summed over components,
    so a word's value is its first-order effect on the final probability. A sentence's evidence is the sum
    over its words. Aligned like `Explanation`. `components` holds each component's own part.
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
    components: dict[str, ComponentEvidence] = field(default_factory=dict)
    # What each score head with something of its own to show says about the tag (Head.explain), by head
    # name (e.g. the tag-name head: what the tag's name, in the title and in the content, added to the logit).
    heads: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def network_weight(self) -> float:
        network = self.components.get(NETWORK)
        return network.weight if network else 0.0


def _select(scores: np.ndarray, labels: Sequence[str], threshold: float, top_k: int | None) -> Prediction:
    order = np.argsort(-scores, kind="stable")
    tags = []
    for rank, index in enumerate(order):
        chosen = scores[index] >= threshold and (top_k is None or rank < top_k)
        tags.append(TagScore(labels[index], float(scores[index]), bool(chosen)))
    return Prediction(tags, threshold, top_k)


DOMAIN_WARNING_START = "This reads unlike what the model was trained on"


def with_confidence(check: DomainCheck, best: float, floor: float) -> DomainCheck:
    """`check` with the document's best tag score: unusual too when it is below `floor`."""
    low = best < floor
    reasons = [check.reason.removesuffix("; its tags may not fit.")] if check.unusual else []
    if low:
        share = 100 - CONFIDENCE_FLOOR_PERCENT
        reasons.append(
            f"its best tag scores only {best:.2f}, while {share:g}% of the model's own validation documents "
            f"have one scoring {floor:.2f} or more"
        )
    reason = "; and ".join(reasons) + "; its tags may not fit." if reasons else ""
    return replace(
        check, unusual=check.unusual or low, reason=reason, best_score=best, confidence_floor=floor
    )


def domain_warning(check: DomainCheck) -> str:
    """The warning for an unusual document: "This reads unlike what the model was trained on: ..."."""
    return f"{DOMAIN_WARNING_START}: {check.reason}"


def _document_warnings(document: EncodedDocument, max_sentences: int) -> list[str]:
    warnings = []
    if not document.title.tokens:
        warnings.append(
            "The title is empty: the title attention and the title-guided attention have nothing to work "
            "with."
        )
    if not document.sentences:
        warnings.append("The content is empty: only the title was read.")
    unknown = sum(
        not token.known
        for segment in [document.title, *document.sentences]
        for token in segment.tokens
        if token.read
    )
    read = sum(token.read for segment in [document.title, *document.sentences] for token in segment.tokens)
    if read and unknown / read > 0.5:
        warnings.append(
            f"{unknown} of {read} words are not in the model's vocabulary; the suggestions are unreliable."
        )
    unread = sum(not sentence.read for sentence in document.sentences) + document.omitted_sentences
    if unread:
        warnings.append(f"Only the first {max_sentences} sentences were read; {unread} more were not.")
    if document.characters_cut:
        warnings.append(
            f"The text is very long: its last {document.characters_cut:,} characters were not read at all."
        )
    return warnings


class Predictor:
    """Suggests tags for a title and a content; safe to call from several threads (no state changes).

    The final score blends the network with the word-and-pair SVM when the checkpoint has one, each
    calibrated on validation (jman_core.blend)."""

    def __init__(
        self,
        model: TaggingNetwork,
        pipeline: TextPipeline,
        metadata: CheckpointMetadata,
        device: str = "cpu",
        domain: DomainEstimator | None = None,
        linear: WordPairSVM | None = None,
        blend: Blend | None = None,
    ):
        self.model = model.to(device).eval()
        self.pipeline = pipeline
        self.metadata = metadata
        self.domain = domain  # None: the checkpoint stores no domain statistic, so no document is checked
        self.device = torch.device(device)
        self.linear = linear.to(device) if linear is not None else None
        self.blend = blend or Blend()
        self.labels: list[str] = list(metadata.labels)
        self.threshold: float = float(metadata.threshold)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "cpu") -> Predictor:
        loaded = load_checkpoint(path, device)
        return cls(
            loaded.model, loaded.pipeline, loaded.metadata, device, loaded.domain, loaded.linear, loaded.blend
        )

    @property
    def network_weight(self) -> float:
        """The network's share of the blend: how much of the scores its attention can explain."""
        return self.blend.network_weight()

    def _encode(self, title: str | None, content: str | None) -> EncodedDocument:
        if not isinstance(title or "", str) or not isinstance(content or "", str):
            raise DocumentError("The title and the content must be text.")
        # to_plain_text (in encode) reads at most max_text_characters and makes lone surrogates U+FFFD
        document = self.pipeline.encode(title or "", content or "")
        if not document.title.tokens and not document.sentences:
            raise DocumentError(
                "Both the title and the content are empty (or hold no words). Give at least one of them."
            )
        return document

    def _content_words(self) -> int:
        return self.linear.options.content_words if self.linear is not None else 0

    def _batch(self, documents: Sequence[EncodedDocument]) -> Batch:
        """The inputs for `documents`, with the content's first words for an SVM that reads them."""
        encoded = [(document.title_ids(), document.sentence_ids()) for document in documents]
        config = self.pipeline.config
        titles, contents = pad_documents(
            encoded, config.max_title_tokens, config.max_sentences, config.max_sentence_tokens
        )
        content, words = None, self._content_words()
        if words:
            rows = [self.pipeline.content_ids(document.content_text, words) for document in documents]
            content = pad_rows(rows, max([1, *(len(row) for row in rows)]))
        return make_batch(titles, contents, None, self.device, content)

    def _raw(self, batch: Batch) -> tuple[JMANOutput, dict[str, np.ndarray]]:
        """The network's output and every component's raw scores (N, L): logits, SVM margins."""
        with torch.inference_mode():
            output = self.model(*batch.inputs())
        raw = {NETWORK: output.logits.float().cpu().numpy()}
        if self.linear is not None:
            raw[LINEAR] = self.linear.decision_function(batch).float().cpu().numpy()
        return output, raw

    def _scores(self, documents: Sequence[EncodedDocument]) -> np.ndarray:
        return self.blend.probabilities(self._raw(self._batch(documents))[1])

    def component_scores(self, documents: Iterable[tuple[str | None, str | None]]) -> dict[str, np.ndarray]:
        """Each component's raw scores (N, L) (the network's logits, the SVM's margins): for calibration."""
        encoded = [self._encode(title, content) for title, content in documents]
        parts = [
            self._raw(self._batch(encoded[start : start + 64]))[1] for start in range(0, len(encoded), 64)
        ]
        return {name: np.concatenate([part[name] for part in parts]) for name in (parts[0] if parts else {})}

    def predict_proba_batch(
        self, documents: Iterable[tuple[str | None, str | None]], batch_size: int = 64
    ) -> np.ndarray:
        """Scores (N, L) for (title, content) pairs; raises DocumentError for an empty document."""
        encoded = [self._encode(title, content) for title, content in documents]
        scores = [
            self._scores(encoded[start : start + batch_size]) for start in range(0, len(encoded), batch_size)
        ]
        return np.concatenate(scores) if scores else np.zeros((0, len(self.labels)), np.float32)

    def predict_proba(self, title: str | None, content: str | None) -> np.ndarray:
        """Scores (L,) in the order of `self.labels`."""
        return self.predict_proba_batch([(title, content)])[0]

    def predict(
        self, title: str | None, content: str | None, threshold: float | None = None, top_k: int | None = None
    ) -> Prediction:
        """Ranked tags; `threshold` defaults to the tuned one stored in the checkpoint."""
        return self.rank(self.predict_proba(title, content), threshold, top_k)

    def predict_batch(
        self,
        documents: Iterable[tuple[str | None, str | None]],
        threshold: float | None = None,
        top_k: int | None = None,
        batch_size: int = 64,
    ) -> list[Prediction]:
        return [self.rank(row, threshold, top_k) for row in self.predict_proba_batch(documents, batch_size)]

    def predict_each(
        self,
        documents: Iterable[tuple[str | None, str | None]],
        threshold: float | None = None,
        top_k: int | None = None,
        batch_size: int = 64,
    ) -> list[Prediction | DocumentError]:
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
            chunk = readable[start : start + batch_size]
            for (index, _), row in zip(chunk, self._scores([document for _, document in chunk])):
                results[index] = self.rank(row, threshold, top_k)
        return results

    def domain_checks(
        self, documents: Iterable[tuple[str | None, str | None]], scores: np.ndarray | None = None
    ) -> list[DomainCheck | None]:
        """How far each (title, content) lies from the training documents; None for every one when the
        checkpoint stores no domain statistic. A document is unusual too when its best tag scores below the
        blend's confidence floor (the model has nothing to say about it). `scores` (N, L), when the caller
        has them, saves running the model again. Raises DocumentError for an empty document."""
        return self._domain([self._encode(title, content) for title, content in documents], scores)

    def _domain(self, encoded: list[EncodedDocument], scores: np.ndarray | None) -> list[DomainCheck | None]:
        if self.domain is None:
            return [None] * len(encoded)
        documents = [(document.title_text, document.content_text) for document in encoded]
        # a domain-format-1 statistic checks the best tag against the blend's floor on its own
        floor = self.blend.confidence_floor if self.domain.word_evidence_ is None else None
        if not encoded or not (self.domain.uses_confidence or floor is not None):
            return self.domain.checks(self.pipeline, documents)
        if scores is None:
            scores = np.concatenate(
                [self._scores(encoded[start : start + 64]) for start in range(0, len(encoded), 64)]
            )
        best = np.asarray(scores).max(axis=1)
        checks = self.domain.checks(self.pipeline, documents, best)
        if floor is None:
            return checks
        return [with_confidence(check, float(value), floor) for check, value in zip(checks, best)]

    def domain_check(self, title: str | None, content: str | None) -> DomainCheck | None:
        """`domain_checks` of one document."""
        return self.domain_checks([(title, content)])[0]

    def rank(
        self, scores: np.ndarray, threshold: float | None = None, top_k: int | None = None
    ) -> Prediction:
        """Re-partitions already computed scores (no model run): used by sliders in the app."""
        return _select(
            np.asarray(scores), self.labels, self.threshold if threshold is None else threshold, top_k
        )

    def explain(
        self, title: str | None, content: str | None, threshold: float | None = None, top_k: int | None = None
    ) -> Explanation:
        """Prediction plus tokens (with spans) and the title-word, sentence-word, original and
        title-guided sentence attention, trimmed to the real tokens and sentences."""
        document = self._encode(title, content)
        output, raw = self._raw(self._batch([document]))
        scores = self.blend.probabilities(raw)[0]
        title_count = len(document.title_ids())
        sentence_lengths = [len(ids) for ids in document.sentence_ids()]

        def trimmed(tensor: torch.Tensor | None, length: int) -> list[float] | None:
            return None if tensor is None else tensor[0, :length].float().cpu().tolist()

        word_attention = None
        if output.sentence_word_attention is not None:
            matrix = output.sentence_word_attention[0].float().cpu()
            word_attention = [matrix[row, :length].tolist() for row, length in enumerate(sentence_lengths)]
        domain = self._domain([document], scores[None, :])[0]
        warnings = _document_warnings(document, self.pipeline.config.max_sentences)
        return Explanation(
            prediction=self.rank(scores, threshold, top_k),
            document=document,
            title_word_attention=trimmed(output.title_word_attention, title_count),
            sentence_word_attention=word_attention,
            original_sentence_attention=trimmed(output.original_sentence_attention, len(sentence_lengths)),
            title_guided_sentence_attention=trimmed(
                output.title_guided_sentence_attention, len(sentence_lengths)
            ),
            warnings=[domain_warning(domain)] + warnings if domain and domain.unusual else warnings,
            scores=scores,
            domain=domain,
            network_weight=self.network_weight,
        )

    def tag_evidence(self, title: str | None, content: str | None, label: str) -> TagEvidence:
        """What each word added to one tag's final score from every component (see TagEvidence)."""
        if label not in self.labels:
            raise DocumentError(f"The model has no tag {label!r}; it knows {len(self.labels)} tags.")
        document, index = self._encode(title, content), self.labels.index(label)
        batch = self._batch([document])
        title_count = len(document.title_ids())
        lengths = [len(ids) for ids in document.sentence_ids()]
        words = {NETWORK: self._network_words(batch, index)}
        if self.linear is not None:
            words[LINEAR] = self._linear_words(batch, document, index)
        output, raw = self._raw(batch)
        components = {
            name: self._component(name, float(raw[name][0, index]), *words[name], title_count, lengths)
            for name in self.blend.weights
        }
        evidence = _whole_score(
            label, float(self.blend.probabilities(raw)[0, index]), components, title_count, lengths
        )
        if output.label_word_attention is not None:
            attention = output.label_word_attention[0, index].float().cpu()  # (T + S*W,)
            grid = attention[batch.title_ids.shape[1] :].reshape(batch.sentence_ids.shape[1:])  # (S, W)
            evidence.title_word_attention = attention[:title_count].tolist()
            evidence.sentence_word_attention = [
                grid[row, :length].tolist() for row, length in enumerate(lengths)
            ]
        with torch.inference_mode():  # the reading comes from _raw's inference pass
            explained = {name: head.explain(output.reading, index) for name, head in self.model.heads.items()}
        evidence.heads = {name: values for name, values in explained.items() if values is not None}
        if LINEAR in components:
            components[LINEAR].terms = self._linear_terms(batch, index, float(raw[LINEAR][0, index]))
        return evidence

    def _network_words(self, batch: Batch, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Gradient x input of the network's logit for tag `index` -> title (T,), sentence grid (S, W)."""
        with torch.enable_grad():
            title_vectors = self.model.embedding(batch.title_ids).detach().requires_grad_(True)  # (1, T, E)
            sentence_vectors = (
                self.model.embedding(batch.sentence_ids).detach().requires_grad_(True)
            )  # (1, S, W, E)
            logit = self.model(*batch.inputs(), embedded=(title_vectors, sentence_vectors)).logits[0, index]
            # autograd.grad leaves the parameters' .grad untouched, so concurrent calls do not interfere
            title_gradient, sentence_gradient = torch.autograd.grad(
                logit, (title_vectors, sentence_vectors), allow_unused=True
            )
        return _gradient_times_input(title_gradient, title_vectors)[0], _gradient_times_input(
            sentence_gradient, sentence_vectors
        )[0]

    def _linear_words(
        self, batch: Batch, document: EncodedDocument, index: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The SVM's exact word terms for tag `index` -> title (T,), sentence grid (S, W) of the words
        drawn."""
        title, content = self.linear.token_effects(batch, index)
        grid = torch.zeros(batch.sentence_ids.shape[1:])  # (S, W)
        if batch.content_ids is None:  # the SVM read the sentences themselves
            return title, content.reshape(grid.shape)
        position = {
            start: place
            for place, start in enumerate(
                self.pipeline.content_starts(document.content_text, self._content_words())
            )
        }
        for row, sentence in enumerate(document.read_sentences):
            for column, token in enumerate(token for token in sentence.tokens if token.read):
                if token.start in position and position[token.start] < len(content):
                    grid[row, column] = content[position[token.start]]
        return title, grid

    def _component(
        self,
        name: str,
        raw: float,
        title: torch.Tensor,
        grid: torch.Tensor,
        title_count: int,
        lengths: list[int],
    ) -> ComponentEvidence:
        """One component's evidence in its calibrated log odds, trimmed to the words read."""
        calibrator, weight = self.blend.calibrators[name], self.blend.weights[name]
        slope = calibrator.log_odds_slope(raw)
        probability = float(calibrator.transform(np.array([raw]))[0])
        title_values = (title[:title_count] * slope).tolist()
        rows = [(grid[row, :length] * slope).tolist() for row, length in enumerate(lengths)]
        shown = sum(title_values) + sum(map(sum, rows))
        outside = float(calibrator.log_odds(np.array([raw]))[0]) - shown
        return ComponentEvidence(name, weight, probability, weight * probability, title_values, rows, outside)

    def _linear_terms(self, batch: Batch, index: int, margin: float) -> list[tuple[str, float]]:
        slope = self.blend.calibrators[LINEAR].log_odds_slope(margin)
        words = self.pipeline.id_to_word
        return [
            (
                " ".join(words[word] for word in (first, second) if word)
                + (" (in the title)" if in_title else ""),
                added * slope,
            )
            for first, second, in_title, added in self.linear.strongest_terms(
                batch, index, LINEAR_TERMS_SHOWN
            )
        ]


def _whole_score(
    label: str, score: float, components: dict[str, ComponentEvidence], title_count: int, lengths: list[int]
) -> TagEvidence:
    """The components' word evidence as first-order effects on the final probability, summed."""
    title = np.zeros(title_count)
    rows = [np.zeros(length) for length in lengths]
    for part in components.values():
        scale = part.weight * part.probability * (1 - part.probability)  # d score / d calibrated log odds
        title += scale * np.asarray(part.title_word_evidence)
        for row, values in zip(rows, part.sentence_word_evidence):
            row += scale * np.asarray(values)
    words = [row.tolist() for row in rows]
    return TagEvidence(
        label, score, title.tolist(), words, [float(sum(row)) for row in words], components=components
    )


def _gradient_times_input(gradient: torch.Tensor | None, vectors: torch.Tensor) -> torch.Tensor:
    """(…, E) gradient and vectors -> (…) evidence; zeros where the variation does not read the input."""
    if gradient is None:
        return torch.zeros(vectors.shape[:-1])
    return (gradient * vectors).sum(-1).detach().float().cpu()
