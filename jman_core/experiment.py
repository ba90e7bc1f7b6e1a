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

from .batching import EncodedDataset, pad_documents, pad_rows
from .blend import LINEAR, NETWORK, Blend, calibration_report, fit_blend
from .checkpoint import CheckpointMetadata, check_output_path, save_checkpoint
from .config import ExperimentConfig, LinearConfig, TrainingConfig, semantic_lambdas, to_dict
from .data import Document, Split, fingerprint, multi_hot, read_documents, split_and_filter
from .domain import DomainEstimator
from .embeddings import embedding_matrix, load_word2vec_file, train_word2vec
from .errors import DataError
from .linear import WordPairSVM
from .losses import LabelSemantics
from .metrics import evaluate, per_label_metrics
from .model import build_model, head_options
from .predict import Prediction, Predictor
from .semantics import (
    infer_subsumption,
    label_similarity,
    read_knowledge_base,
    read_similarity_file,
    similarity_pairs,
)
from .text import TextPipeline
from .training import Callbacks, EpochRecord, fit, predict_logits, resolve_device


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


def encode_dataset(
    pipeline: TextPipeline, documents: Sequence[Document], labels: Sequence[str], content_words: int = 0
) -> EncodedDataset:
    """Plain-text documents -> padded ids and multi-hot labels (N, L); with content_words, also each
    content's first content_words ids (N, K), for a linear part that reads more than the network."""
    config = pipeline.config
    encoded = [pipeline.encode_ids(document.title, document.content) for document in documents]
    titles, contents = pad_documents(
        encoded, config.max_title_tokens, config.max_sentences, config.max_sentence_tokens
    )
    content = None
    if content_words:
        rows = [pipeline.content_ids(document.content, content_words) for document in documents]
        content = pad_rows(rows, max([1, *(len(row) for row in rows)]))
    return EncodedDataset(titles, contents, multi_hot(list(documents), list(labels)), content)


def prepare_data(documents: Sequence[Document], config: ExperimentConfig) -> PreparedData:
    """Split, keep labels used at least min_label_count times in training, build the vocabulary, encode."""
    split, label_list, statistics = split_and_filter(documents, config.data, config.training.seed)
    labels = [label for label, _ in label_list]
    texts = [text for document in split.train for text in (document.title, document.content)]
    pipeline = TextPipeline.build(texts, config.text)
    statistics["vocabulary"] = pipeline.vocabulary_size
    content_words = config.linear.content_words if config.linear.enabled else 0
    return PreparedData(
        split,
        labels,
        [count for _, count in label_list],
        pipeline,
        *(
            encode_dataset(pipeline, getattr(split, name), labels, content_words)
            for name in ("train", "validation", "test")
        ),
        statistics=statistics,
    )


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
        vectors = train_word2vec(
            sentences,
            config.model.embedding_dim,
            config.training.word2vec_epochs,
            config.training.seed,
            config.training.cache_dir or None,
        )
        source = "skip-gram word2vec trained on the training documents"
    else:
        vectors = load_word2vec_file(choice)
        source = f"word2vec file {choice}"
    matrix, found = embedding_matrix(
        prepared.pipeline.id_to_word, vectors, config.model.embedding_dim, config.training.seed
    )
    return torch.from_numpy(matrix), f"{source} ({found:,} of {len(matrix):,} words)"


def label_semantics(
    prepared: PreparedData, training: TrainingConfig
) -> tuple[LabelSemantics, dict[str, Any]]:
    """Sim and Sub for the regularisers that are switched on (lambda > 0), and what was found."""
    similarity = subsumption = None
    statistics: dict[str, Any] = {}
    labels = prepared.labels
    if training.lambda_sim > 0:
        if training.similarity_file:
            matrix, report = read_similarity_file(
                training.similarity_file, labels, threshold=training.similarity_threshold
            )
            statistics["similarity_source"] = asdict(report)
        else:
            matrix = label_similarity(
                prepared.split.train, labels, seed=training.seed, threshold=training.similarity_threshold
            )
        similarity = torch.from_numpy(matrix)
        statistics["similarity_pairs"] = similarity_pairs(matrix)
    if training.lambda_sub > 0:
        if training.knowledge_base:
            matrix, report = read_knowledge_base(training.knowledge_base, labels)
        else:
            matrix, report = infer_subsumption(
                prepared.split.train,
                labels,
                training.subsumption_min_confidence,
                training.subsumption_min_support,
            )
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


def fit_components(
    model, prepared: PreparedData, config: ExperimentConfig, on_stage=None, svm: WordPairSVM | None = None
):
    """After the epochs: the word-and-pair SVM fitted on the training part (always: it is also the baseline
    the model is reported beside; `svm`, when given, is used as fitted), each component calibrated on
    validation and blended when config.linear.enabled.
    -> (svm or None, blend, threshold, raw scores by part, statistics, metrics)."""
    device = resolve_device(config.training.device)
    if svm is None:
        if on_stage:
            on_stage(
                "fitting the linear SVM over the words and word pairs read (the baseline, and the blend's "
                "second part)"
            )
        svm = WordPairSVM(config.linear).fit(
            prepared.train, prepared.pipeline.id_to_word, seed=config.training.seed
        )
    raw: dict[str, dict[str, np.ndarray]] = {}
    for part in ("validation", "test"):
        dataset = getattr(prepared, part)
        raw[part] = {
            NETWORK: predict_logits(model.to(device), dataset, config.training.batch_size, device)[0],
            LINEAR: svm.scores(dataset),
        }
    if on_stage:
        on_stage(f"calibrating on validation ({config.training.calibration}) and tuning the blend")
    baseline, baseline_threshold, _ = fit_blend(
        {LINEAR: raw["validation"][LINEAR]}, prepared.validation.labels, config.training.calibration
    )
    chosen = (NETWORK, LINEAR) if config.linear.enabled else (NETWORK,)
    blend, threshold, statistics = fit_blend(
        {name: raw["validation"][name] for name in chosen},
        prepared.validation.labels,
        config.training.calibration,
    )
    statistics = {
        **statistics,
        "linear_features": len(svm.feature_keys_),
        **getattr(svm, "statistics_", {"linear_seconds": 0.0}),
        "calibrated": True,
    }
    metrics = {
        f"baseline_svm_{part}": metrics_of(
            getattr(prepared, part), baseline, raw[part], baseline_threshold, prepared
        )
        for part in raw
        if len(getattr(prepared, part))
    }
    return (svm if config.linear.enabled else None), blend, threshold, raw, statistics, metrics


def metrics_of(
    dataset: EncodedDataset,
    blend: Blend,
    raw: dict[str, np.ndarray],
    threshold: float,
    prepared: PreparedData,
) -> dict[str, float]:
    """The paper's metrics of blended scores at `threshold` (Q: mean labels per training document)."""
    normaliser = float(prepared.train.labels.sum(1).mean())
    scores = blend.probabilities(raw)
    return {**evaluate(dataset.labels, scores, threshold, normaliser), "threshold": threshold}


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
    """Prepares the data, trains, fits the word-and-pair SVM, calibrates and blends the two on validation,
    tunes the threshold, evaluates on the test part beside the SVM alone, and saves a checkpoint.

    `output` None trains and evaluates without saving. Nothing is written to `output` unless training
    produced a model, and then atomically. A run stopped by Ctrl-C or `should_stop` saves its best model
    so far unless `save_when_stopped` is False (the app's cancel button).
    """
    if output:
        check_output_path(output)  # refuse a foreign target before hours of training, not after
    head_options(config.model)  # an unknown head or option is refused before the data is read
    torch.manual_seed(config.training.seed)
    prepared = prepare_data(documents, config)
    model_config = replace(
        config.model, vocabulary_size=prepared.pipeline.vocabulary_size, num_labels=len(prepared.labels)
    )
    weights, embedding_source = initial_embeddings(prepared, replace(config, model=model_config))
    frequencies = (
        torch.from_numpy(prepared.train.labels.mean(0))
        if config.training.output_bias_init == "prior"
        else None
    )
    model = build_model(model_config, weights, frequencies, prepared.labels, prepared.pipeline)
    model.embedding.weight.requires_grad_(not config.training.freeze_embeddings)
    training_config = replace(
        config.training,
        **dict(zip(("lambda_sim", "lambda_sub"), semantic_lambdas(model_config, config.training))),
    )
    semantics, semantic_statistics = label_semantics(prepared, training_config)
    resume_path = Path(output).parent / f".{Path(output).name}.resume.pt" if (output and resume) else None
    logged = _epoch_logger(Path(log_path) if log_path else None, callbacks or Callbacks())
    result = fit(
        model,
        prepared.train,
        prepared.validation,
        training_config,
        logged,
        semantics,
        resume_path,
        run_identity(documents, prepared.labels, config),
    )
    model.load_state_dict(result.best_state)
    svm, blend, threshold, raw, blend_statistics, metrics = fit_components(
        model, prepared, config, logged.on_stage
    )
    training_seconds = result.training_seconds + blend_statistics["linear_seconds"]
    metrics.update(_final_metrics(raw, prepared, blend, threshold))
    statistics = {
        **prepared.statistics,
        "embeddings": embedding_source,
        **semantic_statistics,
        **blend_statistics,
        **getattr(model, "setup_statistics", {}),
        "mean_labels_per_document": float(prepared.train.labels.sum(1).mean()),
        "per_label_test": _per_label(raw, prepared, blend, threshold),
    }
    saved = None
    stopped = result.stopped_because.startswith(("stopped", "interrupted"))
    if output and result.best_epoch > 0 and _is_main_process() and (save_when_stopped or not stopped):
        if logged.on_stage:
            logged.on_stage("measuring the training documents for the domain check")
        domain = blended_domain(prepared, blend, raw)
        statistics["domain_check"] = domain.summary()
        metadata = CheckpointMetadata(
            model_config=model_config,
            text_config=config.text,
            labels=prepared.labels,
            label_counts=prepared.label_counts,
            threshold=threshold,
            data_config=config.data,
            training_config=training_config,
            metrics=metrics,
            data_fingerprint=fingerprint(documents),
            data_source=data_source,
            training_seconds=training_seconds,
            epochs=len(result.history),
            best_epoch=result.best_epoch,
            stopped_because=result.stopped_because,
            statistics=statistics,
            note=note,
            linear_config=replace(config.linear, enabled=svm is not None),
            blend=blend.to_json(),
        )
        saved = save_checkpoint(output, model.cpu(), prepared.pipeline, metadata, domain, svm)
        if resume_path and resume_path.exists():
            resume_path.unlink()
    return RunResult(
        saved, metrics, result.history, result.stopped_because, statistics, training_seconds, threshold
    )


def blended_domain(
    prepared: PreparedData, blend: Blend, raw: dict[str, dict[str, np.ndarray]]
) -> DomainEstimator:
    """The domain statistic of prepared data, its confidence signal from the blend's validation scores."""
    best = blend.probabilities(raw["validation"]).max(axis=1) if len(prepared.validation) else None
    return fit_domain(prepared.pipeline, prepared.split, best)


def fit_domain(
    pipeline: TextPipeline, split: Split, validation_best: np.ndarray | None = None
) -> DomainEstimator:
    """The domain statistic of a split's plain-text documents: fitted on training, tuned on validation;
    `validation_best`, the validation documents' best tag scores, adds the confidence signal."""
    pairs = {
        name: [(document.title, document.content) for document in getattr(split, name)]
        for name in ("train", "validation")
    }
    if validation_best is not None and len(validation_best) != len(pairs["validation"]):
        raise ValueError("one best tag score per validation document is needed")
    return DomainEstimator().fit(pipeline, pairs["train"], pairs["validation"], validation_best)


def run_identity(documents: Sequence[Document], labels: list[str], config: ExperimentConfig) -> str:
    """sha256 of the data, the labels and every setting: a resume file of another run does not match."""
    settings = {name: to_dict(getattr(config, name)) for name in ("data", "text", "model", "training")}
    for where_it_runs in (
        "num_epochs",
        "device",
        "cache_dir",
    ):  # may change between an interruption and a resume
        settings["training"].pop(where_it_runs, None)
    text = json.dumps(
        [fingerprint(documents), labels, settings], sort_keys=True, ensure_ascii=False, default=str
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _final_metrics(
    raw: dict[str, dict[str, np.ndarray]], prepared: PreparedData, blend: Blend, threshold: float
) -> dict[str, dict[str, float]]:
    """Validation and test metrics at the tuned threshold, test metrics at the paper's 0.5, and the test
    part's calibration (ECE before and after, tags above 0.2 per document)."""
    metrics: dict[str, dict[str, float]] = {}
    for part in ("validation", "test"):
        dataset = getattr(prepared, part)
        if len(dataset):
            metrics[part] = metrics_of(dataset, blend, raw[part], threshold, prepared)
    if len(prepared.test):
        metrics["test_at_0.5"] = metrics_of(prepared.test, blend, raw["test"], 0.5, prepared)
        metrics["calibration_test"] = calibration_report(prepared.test.labels, raw["test"], blend)
    return metrics


def _per_label(raw, prepared: PreparedData, blend: Blend, threshold: float) -> list[dict[str, Any]]:
    """Per-label results of the 20 most frequent test labels."""
    if not len(prepared.test):
        return []
    return per_label_metrics(
        prepared.test.labels, blend.probabilities(raw["test"]) >= threshold, prepared.labels
    )


def train_file(path: str | Path, config: ExperimentConfig, output: str | Path | None, **options) -> RunResult:
    """`train_documents` on a dataset file (CSV, TSV, JSONL, zip or the JMAN text format)."""
    documents = read_documents(path, config.data)
    return train_documents(documents, config, output, data_source=Path(path).name, **options)


def rebuilt_split(
    loaded, data: str | Path, config: ExperimentConfig
) -> tuple[Split, list[tuple[str, int]], dict[str, Any]]:
    """The split a checkpoint was trained on, rebuilt from its data file (checked by fingerprint and
    label list)."""
    metadata = loaded.metadata
    documents = read_documents(data, metadata.data_config)
    if metadata.data_fingerprint and fingerprint(documents) != metadata.data_fingerprint:
        raise DataError(
            f"{Path(data).name} is not the data this model was trained on (its fingerprint differs "
            f"from the checkpoint's {metadata.data_fingerprint}).",
            fix=f"give the file it was trained on ({metadata.data_source or 'see its model card'}).",
        )
    split, label_list, statistics = split_and_filter(documents, config.data, config.training.seed)
    if [label for label, _ in label_list] != list(metadata.labels):
        raise DataError(
            "The data gives a different tag list from the checkpoint's, so its split cannot be rebuilt.",
            fix="give the file the model was trained on, unchanged.",
        )
    return split, label_list, statistics


def add_domain_check(
    checkpoint: str | Path, data: str | Path, output: str | Path | None = None
) -> DomainEstimator:
    """Fits the domain statistic (see jman_core.domain) onto a trained checkpoint from the data it was
    trained on: the same split rebuilt, fitted on its training part, the threshold tuned on validation. The
    weights, the SVM, the tokenizer and the metrics are kept; saved to `output` (default: in place,
    atomically)."""
    from .checkpoint import load_checkpoint

    loaded = load_checkpoint(checkpoint)
    metadata = loaded.metadata
    config = ExperimentConfig(
        text=metadata.text_config,
        data=metadata.data_config,
        model=metadata.model_config,
        training=replace(metadata.training_config, device="cpu"),
    )
    split, _, _ = rebuilt_split(loaded, data, config)
    predictor = Predictor(
        loaded.model, loaded.pipeline, metadata, "cpu", linear=loaded.linear, blend=loaded.blend
    )
    validation = [(document.title, document.content) for document in split.validation]
    predictions = predictor.predict_each(validation)  # a document without words has no tag: 0
    best = np.asarray([item.tags[0].score if isinstance(item, Prediction) else 0.0 for item in predictions])
    domain = fit_domain(loaded.pipeline, split, best)
    updated = replace(metadata, statistics={**metadata.statistics, "domain_check": domain.summary()})
    save_checkpoint(
        output or loaded.path, loaded.model.cpu(), loaded.pipeline, updated, domain, loaded.linear
    )
    return domain


def recalibrate(
    checkpoint: str | Path,
    data: str | Path,
    output: str | Path | None = None,
    linear: LinearConfig | None = None,
    calibration: str | None = None,
    refit_linear: bool = False,
) -> RunResult:
    """Refits a checkpoint's components beside its trained network, from the data it was trained on
    (checked by fingerprint): the same split, the word-and-pair SVM fitted again (with `linear`'s settings,
    default the checkpoint's, enabled), each component calibrated on validation, the blend weight and
    threshold tuned, the metrics recomputed, the domain statistic fitted again (its confidence signal reads
    the new scores). Converts a checkpoint of the first format. Saves to `output` (default: in place,
    atomically). The SVM already fitted is kept unless `refit_linear` or other `linear` settings are given.
    metrics["before_recalibration"] holds the test figures of the scores as they were."""
    from .checkpoint import load_checkpoint

    loaded = load_checkpoint(checkpoint)
    metadata = loaded.metadata
    kept_svm = (
        loaded.linear
        if (loaded.linear is not None and not refit_linear and linear in (None, metadata.linear_config))
        else None
    )
    linear = linear or replace(metadata.linear_config, enabled=True)
    training = replace(
        metadata.training_config,
        device="cpu",
        calibration=calibration or metadata.training_config.calibration,
    )
    config = ExperimentConfig(
        text=metadata.text_config,
        data=metadata.data_config,
        model=metadata.model_config,
        training=training,
        linear=linear,
    )
    split, _, statistics = rebuilt_split(loaded, data, config)
    words = linear.content_words if linear.enabled else 0
    prepared = PreparedData(
        split,
        list(metadata.labels),
        list(metadata.label_counts),
        loaded.pipeline,
        *(
            encode_dataset(loaded.pipeline, getattr(split, name), metadata.labels, words)
            for name in ("train", "validation", "test")
        ),
        statistics=statistics,
    )
    svm, blend, threshold, raw, blend_statistics, metrics = fit_components(
        loaded.model, prepared, config, svm=kept_svm
    )
    if len(prepared.test) and set(loaded.blend.weights) <= set(raw["test"]):
        metrics["before_recalibration"] = {
            **metrics_of(prepared.test, loaded.blend, raw["test"], metadata.threshold, prepared),
            **calibration_report(prepared.test.labels, raw["test"], loaded.blend),
        }
    metrics.update(_final_metrics(raw, prepared, blend, threshold))
    kept = {key: value for key, value in metadata.statistics.items() if not key.startswith("linear_part_")}
    domain = blended_domain(prepared, blend, raw)  # its confidence signal reads the new blend's scores
    updated = replace(
        metadata,
        threshold=threshold,
        metrics=metrics,
        training_config=training,
        linear_config=linear,
        blend=blend.to_json(),
        created="",
        library_versions={},
        statistics={
            **kept,
            **blend_statistics,
            "per_label_test": _per_label(raw, prepared, blend, threshold),
            "domain_check": domain.summary(),
        },
    )
    saved = save_checkpoint(output or loaded.path, loaded.model.cpu(), loaded.pipeline, updated, domain, svm)
    return RunResult(
        saved, metrics, [], metadata.stopped_because, updated.statistics, metadata.training_seconds, threshold
    )
