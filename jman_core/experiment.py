"""One training run from documents to a saved checkpoint: the function the command line and the app share."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .baselines import fit_linear_part
from .checkpoint import CheckpointMetadata, check_output_path, save_checkpoint
from .config import ExperimentConfig, ModelConfig, TrainingConfig, semantic_lambdas, to_dict
from .data import Document, Split, build_label_list, filter_labels, fingerprint, multi_hot, read_documents, split_documents
from .domain import DomainEstimator
from .embeddings import embedding_matrix, load_word2vec_file, train_word2vec
from .errors import DataError
from .losses import LabelSemantics
from .metrics import evaluate, per_label_metrics
from .model import LABEL_NAME_WORDS, build_model
from .semantics import infer_subsumption, label_similarity, read_knowledge_base, read_similarity_file, similarity_pairs
from .text import TextPipeline, to_plain_text
from .training import Callbacks, EncodedDataset, EpochRecord, fit, pad_documents, pad_rows, predict_scores, resolve_device


@dataclass
class PreparedData:
    """The split documents, their label list, the vocabulary and the padded id arrays."""

    split: Split
    labels: list[str]
    label_counts: list[int]
    pipeline: TextPipeline
    train: EncodedDataset
    validation: EncodedDataset
    test: EncodedDataset
    statistics: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunResult:
    checkpoint: Path | None
    metrics: dict[str, dict[str, float]]
    history: list[EpochRecord]
    stopped_because: str
    statistics: dict[str, Any]
    training_seconds: float
    threshold: float


def _plain(document: Document) -> Document:
    return replace(document, title=to_plain_text(document.title), content=to_plain_text(document.content))


def encode_dataset(pipeline: TextPipeline, documents: Sequence[Document], labels: Sequence[str],
                   content_words: int = 0) -> EncodedDataset:
    """Plain-text documents -> padded ids and multi-hot labels (N, L); with content_words, also each
    content's first content_words ids (N, K), for a linear part that reads more than the network."""
    config = pipeline.config
    encoded = [pipeline.encode_ids(document.title, document.content) for document in documents]
    titles, contents = pad_documents(encoded, config.max_title_tokens, config.max_sentences, config.max_sentence_tokens)
    content = None
    if content_words:
        rows = [pipeline.content_ids(document.content, content_words) for document in documents]
        content = pad_rows(rows, max([1, *(len(row) for row in rows)]))
    return EncodedDataset(titles, contents, multi_hot(list(documents), list(labels)), content)


def split_and_filter(documents: Sequence[Document], config: ExperimentConfig) -> tuple[Split, list[tuple[str, int]], dict[str, Any]]:
    """Plain-text documents split as configured, keeping labels used at least min_label_count times in the
    training part and dropping documents left without one: (split, [(label, count)], statistics)."""
    plain = [_plain(document) for document in documents]
    split = split_documents(plain, config.data, config.training.seed)
    label_list = build_label_list(split.train, config.data.min_label_count)
    if not label_list:
        raise DataError(
            f"No tag is used at least {config.data.min_label_count} times in the training part "
            f"({len(split.train)} documents).",
            fix="lower --min_label_count or give more documents.",
        )
    labels = [label for label, _ in label_list]
    parts, dropped = {}, {}
    for name in ("train", "validation", "test"):
        parts[name], dropped[name] = filter_labels(getattr(split, name), labels)
    if not parts["train"] or not parts["validation"]:
        raise DataError(
            "After keeping only frequent labels, the training or validation part is empty "
            f"({len(parts['train'])} training, {len(parts['validation'])} validation documents).",
            fix="give more documents, lower --min_label_count, or raise --validation_fraction.",
        )
    split = Split(parts["train"], parts["validation"], parts["test"])
    statistics = {"train": len(split.train), "validation": len(split.validation), "test": len(split.test),
                  "dropped_without_label": sum(dropped.values()), "dropped_by_part": dropped, "labels": len(labels)}
    return split, label_list, statistics


def prepare_data(documents: Sequence[Document], config: ExperimentConfig) -> PreparedData:
    """Split, keep labels used at least min_label_count times in training, build the vocabulary, encode."""
    split, label_list, statistics = split_and_filter(documents, config)
    labels = [label for label, _ in label_list]
    texts = [text for document in split.train for text in (document.title, document.content)]
    pipeline = TextPipeline.build(texts, config.text)
    statistics["vocabulary"] = pipeline.vocabulary_size
    content_words = config.model.linear_content_words if config.model.linear_part else 0
    return PreparedData(split, labels, [count for _, count in label_list], pipeline,
                        *(encode_dataset(pipeline, getattr(split, name), labels, content_words)
                          for name in ("train", "validation", "test")), statistics=statistics)


def initial_embeddings(prepared: PreparedData, config: ExperimentConfig) -> tuple[torch.Tensor | None, str]:
    """(V, E) initial embedding weights and a one-line description of where they came from."""
    choice = config.training.embeddings
    if choice == "random":
        return None, "random initialisation"
    if choice == "word2vec":
        pipeline = prepared.pipeline
        sentences = []
        for document in prepared.split.train:
            sentences.append(pipeline.words(document.title))
            sentences.append(pipeline.words(document.content))
        vectors = train_word2vec(sentences, config.model.embedding_dim, config.training.word2vec_epochs,
                                 config.training.seed, config.training.cache_dir or None)
        source = "skip-gram word2vec trained on the training documents"
    else:
        vectors = load_word2vec_file(choice)
        source = f"word2vec file {choice}"
    matrix, found = embedding_matrix(prepared.pipeline.id_to_word, vectors, config.model.embedding_dim, config.training.seed)
    return torch.from_numpy(matrix), f"{source} ({found:,} of {len(matrix):,} words)"


def label_semantics(prepared: PreparedData, training: TrainingConfig) -> tuple[LabelSemantics, dict[str, Any]]:
    """Sim and Sub for the regularisers that are switched on (lambda > 0), and what was found."""
    similarity = subsumption = None
    statistics: dict[str, Any] = {}
    labels = prepared.labels
    if training.lambda_sim > 0:
        if training.similarity_file:
            matrix, report = read_similarity_file(training.similarity_file, labels, threshold=training.similarity_threshold)
            statistics["similarity_source"] = asdict(report)
        else:
            matrix = label_similarity(prepared.split.train, labels, seed=training.seed, threshold=training.similarity_threshold)
        similarity = torch.from_numpy(matrix)
        statistics["similarity_pairs"] = similarity_pairs(matrix)
    if training.lambda_sub > 0:
        if training.knowledge_base:
            matrix, report = read_knowledge_base(training.knowledge_base, labels)
        else:
            matrix, report = infer_subsumption(prepared.split.train, labels, training.subsumption_min_confidence,
                                               training.subsumption_min_support)
        subsumption = torch.from_numpy(matrix)
        statistics["subsumption"] = asdict(report)
    if training.dynamic_sem and (similarity is not None or subsumption is not None):
        matrices = sum(matrix is not None for matrix in (similarity, subsumption))
        # each learnable L x L matrix: the values, their gradient and Adam's two moments, in float32
        statistics["dynamic_sem_memory_mb"] = round(matrices * 4 * 4 * len(labels) ** 2 / 2**20, 1)
    semantics = LabelSemantics(similarity, subsumption, training.dynamic_sem, training.dynamic_sem_l2)
    if similarity is not None or subsumption is not None:
        statistics["semantics_storage"] = semantics.storage()
    return semantics, statistics


def _epoch_logger(log_path: Path | None, callbacks: Callbacks) -> Callbacks:
    """Wraps on_epoch_end so each epoch is also appended to a JSONL log file."""
    if log_path is None:
        return callbacks
    log_path.parent.mkdir(parents=True, exist_ok=True)
    inner = callbacks.on_epoch_end

    def on_epoch_end(record: EpochRecord) -> None:
        with log_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(asdict(record)) + "\n")
        if inner:
            inner(record)

    return replace(callbacks, on_epoch_end=on_epoch_end)


def evaluate_scores(labels: np.ndarray, scores: np.ndarray, threshold: float, normaliser: float | None) -> dict[str, float]:
    return {key: float(value) for key, value in evaluate(labels, scores, threshold, normaliser).items()}


def label_name_ids(prepared: PreparedData) -> torch.Tensor:
    """(L, LABEL_NAME_WORDS) word ids of each tag's name, 0-padded; an all-0 row is a tag never named."""
    rows = torch.zeros(len(prepared.labels), LABEL_NAME_WORDS, dtype=torch.long)
    for row, label in enumerate(prepared.labels):
        ids = prepared.pipeline.name_ids(label, LABEL_NAME_WORDS)
        rows[row, :len(ids)] = torch.tensor(ids, dtype=torch.long)
    return rows


def train_documents(
    documents: Sequence[Document],
    config: ExperimentConfig,
    output: str | Path | None,
    callbacks: Callbacks | None = None,
    data_source: str = "",
    log_path: str | Path | None = None,
    resume: bool = False,
    save_when_stopped: bool = True,
    note: str = "",
) -> RunResult:
    """Prepares the data, trains, tunes the threshold, evaluates on the test part and saves a checkpoint.

    `output` None trains and evaluates without saving. Nothing is written to `output` unless training
    produced a model, and then atomically. A run stopped by Ctrl-C or `should_stop` saves its best model
    so far unless `save_when_stopped` is False (the app's cancel button).
    """
    if output:
        check_output_path(output)  # refuse a foreign target before hours of training, not after
    torch.manual_seed(config.training.seed)
    prepared = prepare_data(documents, config)
    model_config = replace(config.model, vocabulary_size=prepared.pipeline.vocabulary_size, num_labels=len(prepared.labels),
                           linear_features=0)  # the linear part is fitted after the epochs
    weights, embedding_source = initial_embeddings(prepared, replace(config, model=model_config))
    frequencies = torch.from_numpy(prepared.train.labels.mean(0)) if config.training.output_bias_init == "prior" else None
    name_ids = label_name_ids(prepared) if model_config.label_mentions else None
    model = build_model(model_config, weights, frequencies, name_ids)
    model.embedding.weight.requires_grad_(not config.training.freeze_embeddings)
    training_config = replace(config.training, **dict(zip(("lambda_sim", "lambda_sub"), semantic_lambdas(model_config, config.training))))
    semantics, semantic_statistics = label_semantics(prepared, training_config)
    resume_path = Path(output).parent / f".{Path(output).name}.resume.pt" if (output and resume) else None
    logged = _epoch_logger(Path(log_path) if log_path else None, callbacks or Callbacks())
    result = fit(model, prepared.train, prepared.validation, training_config, logged, semantics, resume_path,
                 run_identity(documents, prepared.labels, config))
    model.load_state_dict(result.best_state)
    threshold, linear_statistics, training_seconds = result.threshold, {}, result.training_seconds
    if model_config.linear_part and result.best_epoch > 0:
        if logged.on_stage:
            logged.on_stage("fitting the linear part: a linear SVM per tag over the words and word pairs read")
        model_config, threshold, linear_statistics = fit_linear_part(model, prepared, model_config, config.training)
        training_seconds += linear_statistics["linear_part_seconds"]
    metrics, per_label = _final_metrics(model, prepared, config, threshold)
    statistics = {**prepared.statistics, "embeddings": embedding_source, **semantic_statistics, **linear_statistics,
                  "mean_labels_per_document": float(prepared.train.labels.sum(1).mean()),
                  **({"labels_with_readable_names": int(name_ids.any(1).sum())} if name_ids is not None else {}),
                  "per_label_test": per_label}
    saved = None
    stopped = result.stopped_because.startswith(("stopped", "interrupted"))
    if output and result.best_epoch > 0 and _is_main_process() and (save_when_stopped or not stopped):
        if logged.on_stage:
            logged.on_stage("measuring the training documents for the domain check")
        domain = fit_domain(prepared.pipeline, prepared.split)
        statistics["domain_check"] = domain.summary()
        metadata = CheckpointMetadata(
            model_config=model_config, text_config=config.text, labels=prepared.labels,
            label_counts=prepared.label_counts, threshold=threshold, data_config=config.data,
            training_config=training_config, metrics=metrics, data_fingerprint=fingerprint(documents),
            data_source=data_source, training_seconds=training_seconds, epochs=len(result.history),
            best_epoch=result.best_epoch, stopped_because=result.stopped_because, statistics=statistics, note=note,
        )
        saved = save_checkpoint(output, model.cpu(), prepared.pipeline, metadata, domain)
        if resume_path and resume_path.exists():
            resume_path.unlink()
    return RunResult(saved, metrics, result.history, result.stopped_because, statistics, training_seconds, threshold)


def fit_domain(pipeline: TextPipeline, split: Split) -> DomainEstimator:
    """The domain statistic of a split's plain-text documents: fitted on training, tuned on validation."""
    pairs = {name: [(document.title, document.content) for document in getattr(split, name)] for name in ("train", "validation")}
    return DomainEstimator().fit(pipeline, pairs["train"], pairs["validation"])


def run_identity(documents: Sequence[Document], labels: list[str], config: ExperimentConfig) -> str:
    """sha256 of the data, the labels and every setting: a resume file of another run does not match."""
    settings = {name: to_dict(getattr(config, name)) for name in ("data", "text", "model", "training")}
    for where_it_runs in ("num_epochs", "device", "cache_dir"):  # may change between an interruption and a resume
        settings["training"].pop(where_it_runs, None)
    text = json.dumps([fingerprint(documents), labels, settings], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _final_metrics(model, prepared: PreparedData, config: ExperimentConfig, threshold: float):
    """Validation and test metrics at the tuned threshold, test metrics at the paper's 0.5, and per-label
    results of the 20 most frequent test labels."""
    device = resolve_device(config.training.device)
    model.to(device)
    normaliser = float(prepared.train.labels.sum(1).mean())  # the paper's Q: mean labels per document
    metrics: dict[str, dict[str, float]] = {}
    per_label: list[dict[str, Any]] = []
    for name in ("validation", "test"):
        dataset = getattr(prepared, name)
        if len(dataset) == 0:
            continue
        scores, _ = predict_scores(model, dataset, config.training.batch_size, device)
        metrics[name] = evaluate_scores(dataset.labels, scores, threshold, normaliser)
        metrics[name]["threshold"] = threshold
        if name == "test":
            metrics["test_at_0.5"] = evaluate_scores(dataset.labels, scores, 0.5, normaliser)
            per_label = per_label_metrics(dataset.labels, scores >= threshold, prepared.labels)
    return metrics, per_label


def train_file(path: str | Path, config: ExperimentConfig, output: str | Path | None, **options) -> RunResult:
    """`train_documents` on a dataset file (CSV, TSV, JSONL, zip or the JMAN text format)."""
    documents = read_documents(path, config.data)
    return train_documents(documents, config, output, data_source=Path(path).name, **options)


def rebuilt_split(loaded, data: str | Path, config: ExperimentConfig) -> tuple[Split, list[tuple[str, int]], dict[str, Any]]:
    """The split a checkpoint was trained on, rebuilt from its data file (checked by fingerprint and label list)."""
    metadata = loaded.metadata
    documents = read_documents(data, metadata.data_config)
    if metadata.data_fingerprint and fingerprint(documents) != metadata.data_fingerprint:
        raise DataError(f"{Path(data).name} is not the data this model was trained on (its fingerprint differs "
                        f"from the checkpoint's {metadata.data_fingerprint}).",
                        fix=f"give the file it was trained on ({metadata.data_source or 'see its model card'}).")
    split, label_list, statistics = split_and_filter(documents, config)
    if [label for label, _ in label_list] != list(metadata.labels):
        raise DataError("The data gives a different tag list from the checkpoint's, so its split cannot be rebuilt.",
                        fix="give the file the model was trained on, unchanged.")
    return split, label_list, statistics


def add_domain_check(checkpoint: str | Path, data: str | Path, output: str | Path | None = None) -> DomainEstimator:
    """Fits the domain statistic (see jman_core.domain) onto a trained checkpoint from the data it was trained on:
    the same split rebuilt, fitted on its training part, the threshold tuned on validation. The weights,
    tokenizer and metrics are kept; saved to `output` (default: in place, atomically)."""
    from .checkpoint import load_checkpoint

    loaded = load_checkpoint(checkpoint)
    metadata = loaded.metadata
    config = ExperimentConfig(text=metadata.text_config, data=metadata.data_config, model=metadata.model_config,
                              training=replace(metadata.training_config, device="cpu"))
    split, _, _ = rebuilt_split(loaded, data, config)
    domain = fit_domain(loaded.pipeline, split)
    updated = replace(metadata, statistics={**metadata.statistics, "domain_check": domain.summary()})
    save_checkpoint(output or loaded.path, loaded.model.cpu(), loaded.pipeline, updated, domain)
    return domain


def add_linear_part(checkpoint: str | Path, data: str | Path, output: str | Path | None = None,
                    content_words: int | None = None) -> RunResult:
    """Fits a linear part (see baselines.fit_linear_part) onto a trained checkpoint without retraining its
    network, from the same data file it was trained on (checked by fingerprint): the same split and labels,
    a new blend weight and threshold, the metrics recomputed. `content_words` as ModelConfig.linear_content_words
    (default: ModelConfig's). Saves to `output` (default: in place, atomically)."""
    from .checkpoint import load_checkpoint

    loaded = load_checkpoint(checkpoint)
    metadata = loaded.metadata
    words = ModelConfig().linear_content_words if content_words is None else content_words
    model_config = replace(metadata.model_config, linear_part=True, linear_content_words=words)
    config = ExperimentConfig(text=metadata.text_config, data=metadata.data_config, model=model_config,
                              training=replace(metadata.training_config, device="cpu"))
    split, _, statistics = rebuilt_split(loaded, data, config)
    prepared = PreparedData(split, list(metadata.labels), list(metadata.label_counts), loaded.pipeline,
                            *(encode_dataset(loaded.pipeline, getattr(split, name), metadata.labels, words)
                              for name in ("train", "validation", "test")), statistics=statistics)
    model = loaded.model
    model.linear_part = None  # a part fitted before is replaced
    model_config, threshold, linear_statistics = fit_linear_part(model, prepared, model_config, config.training)
    metrics, per_label = _final_metrics(model, prepared, config, threshold)
    seconds = metadata.training_seconds + linear_statistics["linear_part_seconds"]
    updated = replace(metadata, model_config=model_config, threshold=threshold, metrics=metrics, training_seconds=seconds,
                      statistics={**metadata.statistics, **linear_statistics, "per_label_test": per_label},
                      created="", library_versions={})
    saved = save_checkpoint(output or loaded.path, model.cpu(), loaded.pipeline, updated, loaded.domain)
    return RunResult(saved, metrics, [], metadata.stopped_because, updated.statistics, seconds, threshold)
