"""Checkpoints: one save(), one load(); a self-describing folder written atomically, loaded without pickle."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from .blend import ATTENTION_EXPLAINS_BELOW, COMPONENT_NAMES, LINEAR, NETWORK, Blend
from .calibration import PlattCalibrator
from .config import (
    DataConfig,
    LinearConfig,
    ModelConfig,
    TextConfig,
    TrainingConfig,
    from_dict,
    split_legacy_model,
    to_dict,
)
from .domain import DOMAIN_FILE, DomainEstimator
from .errors import CheckpointError, ConfigError
from .limits import current_limits, over_limit
from .linear import LINEAR_FILE, WordPairSVM
from .model import HEADS, TaggingNetwork, build_model, legacy_state_dict
from .text import TextPipeline, markdown_literal

FORMAT_NAME = "jman-checkpoint"
# 2: the network's heads under heads.NAME, the SVM in linear.safetensors, the calibrated blend in
# checkpoint.json; format 1 (the SVM's buffers inside the network, an uncalibrated blend) is still read.
FORMAT_VERSION = 2
WEIGHTS_FILE = "model.safetensors"
METADATA_FILE = "checkpoint.json"
TOKENIZER_FILE = "tokenizer.json"
CARD_FILE = "MODEL_CARD.md"
# Beside a checkpoint folder NAME while it is saved: the new one is built in .NAME.building-TOKEN, the old one
# moves to .NAME.old-TOKEN for the instant of the swap, and .NAME.lock serialises swaps and their recovery.
BUILDING_MARK, RETIRED_MARK, LOCK_MARK = ".building-", ".old-", ".lock"
FINGERPRINT_KEYS = ("weights_sha256", "tokenizer_sha256", "labels_sha256", "domain_sha256", "linear_sha256")
# The old linear part's buffers (format 1) and the SVM's state they become.
LEGACY_LINEAR_NAMES = {
    "counted_words": "counted_words_",
    "feature_keys": "feature_keys_",
    "idf": "idf_",
    "label_features": "label_features_",
    "label_weights": "label_weights_",
    "bias": "bias_",
}


@dataclass
class CheckpointMetadata:
    """Everything but the weights: enough to rebuild the model and to tell a curator what it is."""

    model_config: ModelConfig
    text_config: TextConfig
    labels: list[str]
    label_counts: list[int]
    threshold: float = 0.5
    data_config: DataConfig = field(default_factory=DataConfig)
    training_config: TrainingConfig = field(default_factory=TrainingConfig)
    metrics: dict[str, Any] = field(default_factory=dict)
    data_fingerprint: str = ""
    data_source: str = ""
    training_seconds: float = 0.0
    epochs: int = 0
    best_epoch: int = 0
    stopped_because: str = ""
    statistics: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    created: str = ""
    library_versions: dict[str, str] = field(default_factory=dict)
    note: str = ""  # a line of the model card on how the data was prepared (what tags were merged, and why)
    linear_config: LinearConfig = field(default_factory=lambda: LinearConfig(enabled=False))
    blend: dict[str, Any] = field(
        default_factory=dict
    )  # Blend.to_json(); {} = the network alone, uncalibrated

    def to_json(self) -> dict[str, Any]:
        values = {key: value for key, value in self.__dict__.items()}
        for key in ("model_config", "text_config", "data_config", "training_config", "linear_config"):
            values[key] = to_dict(values[key])
        return values

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> CheckpointMetadata:
        values = dict(values)
        # a checkpoint saved before the setting existed was trained with the original code's zero bias
        values["training_config"] = {"output_bias_init": "zero", **values.get("training_config", {})}
        if isinstance(values.get("model_config"), dict) and "heads" not in values["model_config"]:
            _convert_format_1(values)
        for key, config_type in (
            ("model_config", ModelConfig),
            ("text_config", TextConfig),
            ("data_config", DataConfig),
            ("training_config", TrainingConfig),
            ("linear_config", LinearConfig),
        ):
            values[key] = from_dict(config_type, values.get(key, {}), key)
        known = set(cls.__dataclass_fields__)
        return cls(**{key: value for key, value in values.items() if key in known})


def _convert_format_1(values: dict[str, Any]) -> None:
    """Format 1's settings in this format's places: the head booleans become model.heads, the linear part's
    settings linear_config, and its tuned network weight a blend of uncalibrated sigmoids (so an old model
    scores exactly as it did until `jman recalibrate` fits its calibration)."""
    model, linear, features = split_legacy_model(values["model_config"])
    fitted = bool(linear.get("enabled")) and features > 0
    values["linear_config"] = {
        "enabled": fitted,
        "per_label": linear.get("per_label", 500),
        # a linear part saved before linear_content_words existed read what the network reads
        "content_words": linear.get("content_words", 0),
    }
    values["model_config"] = model
    weight = float((values.get("statistics") or {}).get("linear_part_network_weight", 1.0)) if fitted else 1.0
    calibrators = {
        NETWORK: PlattCalibrator().to_json(),
        **({LINEAR: PlattCalibrator().to_json()} if fitted else {}),
    }
    values["blend"] = {
        "weights": {NETWORK: weight, **({LINEAR: 1.0 - weight} if fitted else {})},
        "calibrators": calibrators,
    }


@dataclass
class LoadedCheckpoint:
    model: TaggingNetwork
    pipeline: TextPipeline
    metadata: CheckpointMetadata
    path: Path
    domain: DomainEstimator | None = None  # None for a checkpoint saved without domain.safetensors
    linear: WordPairSVM | None = None  # the fitted SVM component, when the model has one
    blend: Blend = field(default_factory=Blend)


def library_versions() -> dict[str, str]:
    import numpy
    import tokenizers

    from .version import __version__

    return {
        "jman_core": __version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "tokenizers": tokenizers.__version__,
        "python": platform.python_version(),
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def labels_fingerprint(labels: list[str]) -> str:
    """sha256 of the label list in order: a checkpoint records it, and load checks it."""
    return hashlib.sha256(json.dumps(labels, ensure_ascii=False).encode("utf-8")).hexdigest()


def _write_folder(
    folder: Path,
    model: TaggingNetwork,
    pipeline: TextPipeline,
    metadata: CheckpointMetadata,
    domain: DomainEstimator | None = None,
    linear: WordPairSVM | None = None,
) -> None:
    from safetensors.numpy import save_file as save_arrays
    from safetensors.torch import save_file

    weights = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    save_file(weights, str(folder / WEIGHTS_FILE))
    (folder / TOKENIZER_FILE).write_text(pipeline.to_json(), encoding="utf-8")
    document = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "weights_sha256": _sha256(folder / WEIGHTS_FILE),
        "tokenizer_sha256": _sha256(folder / TOKENIZER_FILE),
        "labels_sha256": labels_fingerprint(metadata.labels),
    }
    if domain is not None:
        save_arrays(domain.to_tensors(), str(folder / DOMAIN_FILE))
        document["domain_sha256"] = _sha256(folder / DOMAIN_FILE)
    if linear is not None:
        save_file(linear.to_tensors(), str(folder / LINEAR_FILE))
        document["linear_sha256"] = _sha256(folder / LINEAR_FILE)
    document.update(metadata.to_json())
    (folder / METADATA_FILE).write_text(json.dumps(document, indent=2, ensure_ascii=False), encoding="utf-8")
    (folder / CARD_FILE).write_text(model_card(metadata, markdown=True), encoding="utf-8")


def save_checkpoint(
    directory: str | Path,
    model: TaggingNetwork,
    pipeline: TextPipeline,
    metadata: CheckpointMetadata,
    domain: DomainEstimator | None = None,
    linear: WordPairSVM | None = None,
) -> Path:
    """Writes the checkpoint folder atomically: built beside the target, then swapped in with os.replace.
    `domain`, when given, is saved as domain.safetensors (see jman_core.domain), and the fitted SVM
    component `linear` as linear.safetensors (metadata.blend says how it is blended).

    A crash at any point leaves the old checkpoint or the new one, never a mixture; a crash between the two
    renames of the swap leaves both beside the path, and the next load or save completes the swap
    (`recover_interrupted_save`).
    """
    if metadata.linear_config.enabled != (linear is not None) or (
        LINEAR in metadata.blend.get("weights", {})
    ) != (linear is not None):
        raise CheckpointError(
            "The checkpoint's settings and blend do not match the SVM given to save: "
            "pass the model's fitted SVM (or none, with linear_config.enabled false)."
        )
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    recover_interrupted_save(directory, remove_unfinished=True)
    check_output_path(directory)
    metadata.created = metadata.created or datetime.now(UTC).isoformat(timespec="seconds")
    metadata.library_versions = metadata.library_versions or library_versions()
    metadata.name = metadata.name or directory.name
    token = uuid.uuid4().hex[:8]
    building = _beside(directory, BUILDING_MARK + token)
    building.mkdir()
    try:
        _write_folder(building, model, pipeline, metadata, domain, linear)
        with _swap_lock(directory):
            _swap_in(building, directory, _beside(directory, RETIRED_MARK + token))
    finally:
        if building.exists():
            shutil.rmtree(building, ignore_errors=True)
    return directory


def _beside(directory: Path, mark: str) -> Path:
    return directory.parent / f".{directory.name}{mark}"


def _swap_in(building: Path, directory: Path, retired: Path) -> None:
    """Two renames: the old folder away, the new one in; then the old one is deleted."""
    if not directory.exists():
        os.replace(building, directory)
        return
    os.replace(directory, retired)
    try:
        os.replace(building, directory)
    except BaseException:
        os.replace(retired, directory)  # put the previous checkpoint back
        raise
    shutil.rmtree(retired, ignore_errors=True)


@contextlib.contextmanager
def _swap_lock(directory: Path) -> Iterator[None]:
    """Held while a save swaps folders and while a reader repairs a swap, so they never interleave."""
    with open(_beside(directory, LOCK_MARK), "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _leftovers(directory: Path, mark: str) -> list[Path]:
    prefix = f".{directory.name}{mark}"
    try:
        return sorted(path for path in directory.parent.iterdir() if path.name.startswith(prefix))
    except OSError:
        return []


def recover_interrupted_save(directory: str | Path, remove_unfinished: bool = False) -> None:
    """Completes a swap that a crash interrupted: with the folder missing, the complete new folder (or, when
    it is gone, the old one) is renamed in; an old folder left beside a present one is deleted.

    With `remove_unfinished` (a save about to start) the half-written folders of crashed saves go too.
    Cheap when there is nothing to do: one listing of the parent folder, no lock.
    """
    directory = Path(directory)
    if not _leftovers(directory, RETIRED_MARK) and not (
        remove_unfinished and _leftovers(directory, BUILDING_MARK)
    ):
        return
    try:
        with _swap_lock(directory):
            for retired in _leftovers(directory, RETIRED_MARK):
                building = _beside(directory, BUILDING_MARK + retired.name.rsplit(RETIRED_MARK, 1)[1])
                if not directory.exists():
                    os.replace(building if building.is_dir() else retired, directory)
                shutil.rmtree(retired, ignore_errors=True)
            for building in _leftovers(directory, BUILDING_MARK) if remove_unfinished else []:
                shutil.rmtree(building, ignore_errors=True)
    except OSError as error:
        raise CheckpointError(
            f"{directory}: a save was interrupted and cannot be completed here "
            f"({error.strerror}); check the folder's permissions."
        ) from None


def check_output_path(directory: str | Path) -> None:
    """Only an earlier checkpoint may be replaced; any other file or folder at the target is left alone."""
    directory = Path(directory)
    if not directory.exists() and not directory.is_symlink():
        return
    if directory.is_dir():
        try:
            marker = json.loads((directory / METADATA_FILE).read_text(encoding="utf-8")).get("format")
        except (OSError, ValueError, AttributeError):
            marker = None
        if marker == FORMAT_NAME:
            return
        raise CheckpointError(
            f"{directory} exists and is not a JMAN checkpoint; it was left untouched. "
            "Choose another output folder (an earlier checkpoint may be replaced, nothing else)."
        )
    raise CheckpointError(
        f"{directory} is a file; it was left untouched. Choose an output folder path instead."
    )


def _resolve_folder(path: str | Path) -> Path:
    path = Path(path)
    if path.is_file() and path.name in (METADATA_FILE, WEIGHTS_FILE, TOKENIZER_FILE, CARD_FILE, DOMAIN_FILE):
        path = path.parent
    recover_interrupted_save(path)
    if not path.exists():
        raise CheckpointError(
            f"No checkpoint at {path}. Give a folder made by `jman train` (it holds {METADATA_FILE})."
        )
    if not path.is_dir():
        raise CheckpointError(
            f"{path} is a file, not a JMAN checkpoint folder. Give the folder that holds {METADATA_FILE} and "
            f"{WEIGHTS_FILE}."
        )
    return path


def read_metadata(path: str | Path) -> CheckpointMetadata:
    """The metadata of a checkpoint folder, checked for format and integrity, without loading weights."""
    folder = _resolve_folder(path)
    document = _read_document(folder)
    try:
        metadata = CheckpointMetadata.from_json(
            {k: v for k, v in document.items() if k not in ("format", "format_version", *FINGERPRINT_KEYS)}
        )
    except (ConfigError, TypeError) as error:
        raise CheckpointError(f"{folder / METADATA_FILE} has invalid settings: {error}") from None
    problem = metadata_problem(metadata, document.get("labels_sha256"))
    if problem:
        raise CheckpointError(
            f"{folder / METADATA_FILE} {problem}; it was not loaded. Use an undamaged copy, or train again."
        )
    return metadata


def metadata_problem(metadata: CheckpointMetadata, labels_sha256: str | None = None) -> str:
    """What is wrong with a checkpoint's metadata (a wrong type, a label list that does not fit the model,
    text limits that would read without bound), or "" when nothing is."""
    threshold, labels, text = metadata.threshold, metadata.labels, metadata.text_config
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        return f"has threshold {threshold!r}, not a number from 0 to 1"
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        return "has 'labels' that are not a list of tag names"
    if len(labels) != metadata.model_config.num_labels:
        return f"names {len(labels)} tags but the model scores {metadata.model_config.num_labels}"
    if labels_sha256 is not None and labels_sha256 != labels_fingerprint(labels):
        return "has a label list other than the one the model was saved with (its fingerprint differs)"
    if not isinstance(metadata.label_counts, list) or len(metadata.label_counts) not in (0, len(labels)):
        return "has 'label_counts' that do not match its labels"
    return _text_limits_problem(text)


def _text_limits_problem(text: TextConfig) -> str:
    sizes = (text.max_title_tokens, text.max_sentences, text.max_sentence_tokens)
    if any(isinstance(size, bool) or not isinstance(size, int) or size < 1 for size in sizes):
        return f"has text limits {sizes} that are not whole numbers of at least 1"
    words = text.max_title_tokens + text.max_sentences * text.max_sentence_tokens
    if words > current_limits().max_words_read:
        return "asks to read " + over_limit("a document", words, "max_words_read", "words")
    return ""


def _read_document(folder: Path) -> dict[str, Any]:
    metadata_file = folder / METADATA_FILE
    if not metadata_file.exists() and not metadata_file.is_symlink():
        raise CheckpointError(f"{folder} is not a JMAN checkpoint: it has no {METADATA_FILE}.")
    _check_regular_file(metadata_file)
    try:
        document = json.loads(metadata_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError(
            f"{metadata_file} is corrupt or truncated (not valid JSON). Retrain or restore it."
        ) from None
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise CheckpointError(
            f"{metadata_file} was not written by jman_core (no '{FORMAT_NAME}' format marker)."
        )
    version = document.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise CheckpointError(
            f"{metadata_file} has an invalid format_version {version!r}; it is corrupt or was edited."
        )
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{folder} uses checkpoint format {document.get('format_version')}, newer than this jman_core "
            f"understands ({FORMAT_VERSION}). Upgrade jman_core."
        )
    return document


def _check_regular_file(file: Path) -> None:
    """A link, a device or a pipe is never read (a link to /dev/zero would never end), nor a huge file."""
    if file.is_symlink():
        raise CheckpointError(
            f"{file} is a symbolic link; a checkpoint's files must be regular files. "
            "Copy the file itself into the folder."
        )
    if file.exists() and not file.is_file():
        raise CheckpointError(
            f"{file} is not a regular file (a device, a pipe or a folder); it was not read."
        )
    size = file.stat().st_size if file.exists() else 0
    if size > current_limits().max_checkpoint_file_bytes:
        raise CheckpointError(f"{file}: " + over_limit("it", size, "max_checkpoint_file_bytes", "bytes"))


def _check_file(folder: Path, name: str, expected: str | None) -> None:
    file = folder / name
    if not file.exists() and not file.is_symlink():
        raise CheckpointError(f"{folder} is incomplete: {name} is missing.")
    _check_regular_file(file)
    if expected and _sha256(file) != expected:
        if name == TOKENIZER_FILE:
            raise CheckpointError(
                f"{file} is not the tokenizer this model was saved with (its fingerprint differs): "
                "it is damaged or from another model. Restore the model's own tokenizer.json."
            )
        raise CheckpointError(
            f"{file} is corrupt or truncated (its checksum does not match). Retrain or restore it."
        )


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> LoadedCheckpoint:
    """Rebuilds the model, tokenizer and metadata; weights are read with safetensors (no pickle)."""
    from safetensors.torch import load_file

    folder = _resolve_folder(path)
    document = _read_document(folder)
    _check_file(folder, WEIGHTS_FILE, document.get("weights_sha256"))
    _check_file(folder, TOKENIZER_FILE, document.get("tokenizer_sha256"))
    metadata = read_metadata(folder)
    try:
        pipeline = TextPipeline.from_json(
            (folder / TOKENIZER_FILE).read_text(encoding="utf-8"), metadata.text_config
        )
        _check_vocabulary(folder, pipeline, metadata)
        weights = load_file(str(folder / WEIGHTS_FILE))
        model = build_model(metadata.model_config)
        model.load_state_dict(legacy_state_dict(weights) if document["format_version"] == 1 else weights)
        linear = _load_linear(folder, document, metadata, weights)
        blend = _load_blend(folder, metadata, linear)
    except CheckpointError:
        raise
    except Exception as error:
        raise CheckpointError(
            f"{folder} could not be loaded: {type(error).__name__}: {str(error)[:300]}"
        ) from None
    model.to(device).eval()
    return LoadedCheckpoint(
        model, pipeline, metadata, folder, load_domain(folder, document, metadata), linear, blend
    )


def _load_linear(
    folder: Path, document: dict[str, Any], metadata: CheckpointMetadata, weights: dict[str, torch.Tensor]
) -> WordPairSVM | None:
    """The SVM component: linear.safetensors (checked by checksum), or format 1's linear_part buffers."""
    if not metadata.linear_config.enabled:
        return None
    config = metadata.model_config
    if document["format_version"] == 1:
        tensors = {
            new: weights[f"linear_part.{old}"]
            for old, new in LEGACY_LINEAR_NAMES.items()
            if f"linear_part.{old}" in weights
        }
        return WordPairSVM.from_tensors(
            tensors,
            metadata.linear_config,
            config.vocabulary_size,
            config.num_labels,
            f"{folder / WEIGHTS_FILE}'s linear part",
        )
    from safetensors.torch import load_file

    _check_file(folder, LINEAR_FILE, document.get("linear_sha256"))
    return WordPairSVM.from_tensors(
        load_file(str(folder / LINEAR_FILE)),
        metadata.linear_config,
        config.vocabulary_size,
        config.num_labels,
        str(folder / LINEAR_FILE),
    )


def _load_blend(folder: Path, metadata: CheckpointMetadata, linear: WordPairSVM | None) -> Blend:
    try:
        blend = Blend.from_json(metadata.blend) if metadata.blend else Blend()
    except ValueError as error:
        raise CheckpointError(
            f"{folder / METADATA_FILE} has an invalid blend ({error}); it is damaged or was edited."
        ) from None
    if (LINEAR in blend.weights) != (linear is not None):
        raise CheckpointError(
            f"{folder / METADATA_FILE}'s blend does not match its components (the SVM is "
            f"{'missing' if linear is None else 'not blended'}); it is damaged or was edited."
        )
    return blend


def load_domain(
    folder: Path, document: dict[str, Any], metadata: CheckpointMetadata
) -> DomainEstimator | None:
    """The domain statistic registered in checkpoint.json (None when none is: an older checkpoint), read
    without pickle and checked (checksum, dtypes, shapes, finite values in range) before use."""
    expected = document.get("domain_sha256")
    if not expected:
        return None
    if not isinstance(expected, str):
        raise CheckpointError(
            f"{folder / METADATA_FILE} has an invalid domain_sha256; it is corrupt or was edited."
        )
    _check_file(folder, DOMAIN_FILE, expected)
    from safetensors.numpy import load_file

    try:
        return DomainEstimator.from_tensors(
            load_file(str(folder / DOMAIN_FILE)), metadata.model_config.vocabulary_size
        )
    except Exception as error:  # noqa: BLE001 - a damaged file of any kind is one line, never a traceback
        raise CheckpointError(
            f"{folder / DOMAIN_FILE} is damaged ({str(error)[:200]}); it was not loaded. "
            "Restore it, or rebuild it with `jman add-domain-check`."
        ) from None


def _check_vocabulary(folder: Path, pipeline: TextPipeline, metadata: CheckpointMetadata) -> None:
    """A tokenizer from another model reads words as the wrong ids: silent nonsense, so refused."""
    if pipeline.vocabulary_size != metadata.model_config.vocabulary_size:
        raise CheckpointError(
            f"{folder / TOKENIZER_FILE} has {pipeline.vocabulary_size:,} words but the model was "
            f"trained with {metadata.model_config.vocabulary_size:,}: it is from another model. "
            "Restore the model's own tokenizer.json."
        )


def _components_note(metadata: CheckpointMetadata) -> str:
    """The model card's words on the heads beyond the paper's classifier and the blended SVM."""
    heads = [
        f"; with the {name.replace('_', ' ')} head: {HEADS[name].description}"
        for name in metadata.model_config.heads
        if name in HEADS
    ]
    linear = metadata.linear_config
    if not linear.enabled:
        return "".join(heads)
    statistics = metadata.statistics
    reads = (
        f"the first {linear.content_words:,} content words"
        if linear.content_words
        else "what the network reads"
    )
    return "".join(heads) + (
        f"; blended with a linear SVM over {_number(statistics.get('linear_features'))} words and "
        f"word pairs, {linear.per_label} per tag, reading the title and {reads} (not in the paper)"
    )


def blend_lines(metadata: CheckpointMetadata) -> list[str]:
    """How the final score is made and what the attention heatmaps can explain, for the model card."""
    try:
        blend = Blend.from_json(metadata.blend) if metadata.blend else Blend()
    except ValueError:
        return ["- Scores: the blend stored is damaged"]
    calibration = {calibrator.method for calibrator in blend.calibrators.values()}
    calibrated = metadata.statistics.get("calibrated", False)
    parts = " + ".join(
        f"{weight:.2f} x {COMPONENT_NAMES.get(name, name)}" for name, weight in blend.weights.items()
    )
    lines = [
        f"- Scores: {parts}"
        + (
            f", each calibrated on validation ({', '.join(sorted(calibration))})"
            if calibrated
            else ", uncalibrated sigmoids (an older checkpoint: `jman recalibrate` fits the calibration)"
        )
    ]
    weight = blend.network_weight()
    if weight < ATTENTION_EXPLAINS_BELOW:
        lines.append(
            f"- The network carries {weight:.0%} of the scores: its attention heatmaps do not explain "
            "the suggestions (the SVM's word evidence does)"
        )
    elif weight < 1:
        lines.append(
            f"- The network carries {weight:.0%} of the scores; its attention explains that share only"
        )
    baseline = metadata.metrics.get("baseline_svm_test")
    if baseline:
        lines.append(
            f"- The project's linear SVM baseline on the same split (test): {_metric_line(baseline)}"
        )
    return lines


def _number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "?"


def _metric_line(metrics: dict[str, Any]) -> str:
    names = ["P@1", "nDCG@3", "F1", "P", "R", "A", "H"]
    return " | ".join(
        f"{name} {metrics[name]:.3f}" for name in names if isinstance(metrics.get(name), (int, float))
    )


def model_card(metadata: CheckpointMetadata, markdown: bool = False) -> str:
    """A short human-readable summary of a checkpoint; with `markdown`, the text users chose (the name, the
    data source, the tags) is escaped so that Markdown shows it as it is (the saved MODEL_CARD.md, the
    app)."""
    literal = markdown_literal if markdown else str
    statistics, config = metadata.statistics, metadata.model_config
    top = ", ".join(
        f"{literal(label)} ({count})"
        for label, count in list(zip(metadata.labels, metadata.label_counts))[:15]
    )
    lines = [
        f"# {literal(metadata.name) or 'JMAN model'}",
        "",
        f"- Model: {config.variation} (hidden {config.hidden_size}, embeddings {config.embedding_dim}, "
        f"vocabulary {config.vocabulary_size:,} words)" + _components_note(metadata),
        f"- Data: {literal(metadata.data_source) or 'unknown'} "
        f"(fingerprint {literal(metadata.data_fingerprint) or '-'})",
        f"- Documents: {_number(statistics.get('train'))} train / {_number(statistics.get('validation'))} "
        f"validation / {_number(statistics.get('test'))} test; "
        f"{_number(statistics.get('dropped_without_label', 0))} dropped for having no label",
        f"- Labels: {len(metadata.labels)} (tags used at least {metadata.data_config.min_label_count} "
        f"times); most frequent: {top}",
        f"- Decision threshold: {metadata.threshold:.2f} (tuned on validation for example-based F1; the "
        "paper used 0.50)",
        f"- Training: {metadata.epochs} epochs (best {metadata.best_epoch}), "
        f"{metadata.training_seconds / 60:.1f} min; {metadata.stopped_because}; output bias started "
        + (
            "from each label's log odds"
            if metadata.training_config.output_bias_init == "prior"
            else "at zero (the original code's)"
        ),
    ]
    lines.extend(_semantics_lines(metadata))
    lines.extend(blend_lines(metadata))
    if metadata.note:
        lines.append(f"- Data preparation: {metadata.note}")  # the library's own words, not user text
    if statistics.get("domain_check"):
        domain = statistics["domain_check"]
        legacy = isinstance(domain, dict) and "signals" not in domain
        lines.append(_domain_line(domain) + (_floor_note(metadata) if legacy else ""))
    for split in ("test", "validation"):
        if metadata.metrics.get(split):
            metric_line = _metric_line(metadata.metrics[split])
            lines.append(f"- {split.capitalize()} metrics at the tuned threshold: {metric_line}")
    verdict = baseline_verdict(metadata.metrics, percent=False)
    if verdict:
        lines.append(f"- {verdict}")
    lines.extend(_settings_lines(metadata, literal))
    versions = ", ".join(f"{name} {version}" for name, version in metadata.library_versions.items())
    lines.append(f"- Created {metadata.created} with {versions}")
    return "\n".join(lines) + "\n"


def _floor_note(metadata: CheckpointMetadata) -> str:
    """The second half of the domain line: the best-tag floor, when the blend stores one."""
    floor = (metadata.blend or {}).get("confidence_floor")
    if not isinstance(floor, (int, float)) or isinstance(floor, bool):
        return ""
    return (
        f"; also when its best tag scores below {floor:.2f} (the lowest 1.25% of validation documents' best)"
    )


_SIGNAL_WORDS = {
    "vocabulary": "how typical its words are of the training documents against general English (wordfreq)",
    "confidence": "its best tag's score",
}


def _domain_line(domain: dict[str, Any]) -> str:
    try:
        similarity = (
            f"similarity to the {domain['neighbours']} closest of {domain['stored_documents']:,} stored "
            "training documents"
        )
        if "signals" not in domain:  # domain format 1
            return (
                f"- Domain check: a document is flagged as unlike the training documents when its TF-IDF "
                f"{similarity} is below {1 - domain['threshold']:.2f} "
                f"({domain['validation_warned']:.1%} of validation documents are)"
            )
        signals = [f"its TF-IDF {similarity}"] + [_SIGNAL_WORDS[name] for name in domain["signals"][1:]]
        return (
            "- Domain check: a document is flagged as unlike the training documents when these signals, "
            f"taken together (Fisher's method), are more unusual than for "
            f"{1 - domain['validation_warned']:.1%} of validation documents: {'; '.join(signals)}"
        )
    except (KeyError, TypeError, ValueError, IndexError):
        return "- Domain check: stored"


def _semantics_lines(metadata: CheckpointMetadata) -> list[str]:
    training, statistics = metadata.training_config, metadata.statistics
    if not (training.lambda_sim or training.lambda_sub):
        return ["- Semantic regularisers: off (binary cross-entropy only)"]
    similarity_source = (statistics.get("similarity_source") or {}).get(
        "source", "skip-gram over the training tags"
    )
    parts = [
        f"lambda_sim {training.lambda_sim:g} ({statistics.get('similarity_pairs', 0)} similar label pairs, "
        f"{similarity_source})"
    ]
    subsumption = statistics.get("subsumption") or {}
    parts.append(
        f"lambda_sub {training.lambda_sub:g} ({subsumption.get('pairs', 0)} subsumption pairs, "
        f"{subsumption.get('source', 'none')})"
    )
    lines = ["- Semantic regularisers: " + "; ".join(parts)]
    if statistics.get("semantics_storage"):
        lines.append("- Sim and Sub storage during training: " + "; ".join(statistics["semantics_storage"]))
    if training.dynamic_sem:
        lines.append(
            f"- Dynamic semantics (JMANd): Sim and Sub learned during training; about "
            f"{statistics.get('dynamic_sem_memory_mb', '?')} MB for them, their gradients and Adam's moments "
            f"(grows with labels squared)"
        )
    return lines


# The figures the training summaries put the new model and the linear SVM baseline side by side on.
SUMMARY_METRICS = ("P@1", "nDCG@3", "F1")


def baseline_rows(metrics: dict[str, Any]) -> list[tuple[str, float, float]]:
    """(metric, the model's test figure, the linear SVM baseline's) for SUMMARY_METRICS, from a run's or a
    checkpoint's metrics; [] when either is missing (a checkpoint trained before the baseline was)."""
    test, baseline = metrics.get("test") or {}, metrics.get("baseline_svm_test") or {}
    return [
        (name, float(test[name]), float(baseline[name]))
        for name in SUMMARY_METRICS
        if isinstance(test.get(name), (int, float)) and isinstance(baseline.get(name), (int, float))
    ]


def beats_baseline(metrics: dict[str, Any]) -> bool | None:
    """Whether the model is above the linear SVM baseline on every SUMMARY_METRICS figure of the test part
    (a tie does not beat it); None without a baseline."""
    rows = baseline_rows(metrics)
    return all(model > baseline for _, model, baseline in rows) if rows else None


def baseline_verdict(metrics: dict[str, Any], percent: bool = True) -> str:
    """One sentence: whether the model beats the linear SVM baseline on the test part, naming every figure
    where it does not; "" without a baseline."""
    rows = baseline_rows(metrics)
    if not rows:
        return ""
    if beats_baseline(metrics):
        return f"The model beats the linear SVM baseline on the test part ({', '.join(n for n, *_ in rows)})."
    shown = (lambda value: f"{100 * value:.1f}") if percent else (lambda value: f"{value:.3f}")
    behind = [
        f"{name} {shown(model)} against {shown(baseline)}"
        for name, model, baseline in rows
        if model <= baseline
    ]
    return f"The model does NOT beat the linear SVM baseline on the test part: {'; '.join(behind)}."


def blend_summary(statistics: dict[str, Any]) -> str:
    """How the final score of a run was made, from its statistics (the blend's network_weight)."""
    weight = statistics.get("network_weight")
    if not isinstance(weight, (int, float)) or weight >= 1:
        return "Scores: the network alone, calibrated on validation."
    features = statistics.get("linear_features")
    size = f" over {features:,} words and word pairs" if isinstance(features, int) else ""
    return (
        f"Scores: {weight:.2f} x the network + {1 - weight:.2f} x the linear SVM{size}, each calibrated "
        f"on validation ({statistics.get('calibration', 'platt')}), the weight tuned there."
    )


def calibration_line(metrics: dict[str, Any]) -> str:
    """The test part's calibration: each component's ECE before and after, the final scores' ECE, and tags
    scoring above 0.2 per document beside the true tags per document; "" when not measured."""
    from .blend import COMPONENT_NAMES

    report = metrics.get("calibration_test") or {}
    if "ece_final" not in report:
        return ""
    components = [
        f"{COMPONENT_NAMES.get(name, name)} {report[f'ece_{name}_raw']:.3f} before, "
        f"{report[f'ece_{name}_calibrated']:.3f} after calibration"
        for name in (NETWORK, LINEAR)
        if {f"ece_{name}_raw", f"ece_{name}_calibrated"} <= set(report)
    ]
    return (
        f"Calibration on the test part: ECE of {'; '.join(components) or 'the components unknown'}; "
        f"final scores {report['ece_final']:.3f}. {report.get('tags_above_0.2', 0):.2f} tags per "
        f"document score above 0.2, against {report.get('true_tags_per_document', 0):.2f} true tags."
    )


def _settings_lines(metadata: CheckpointMetadata, literal) -> list[str]:
    """Every option whose value differs from its declared default, with its help (jman_core.options)."""
    from .options import changed_settings

    changed = changed_settings(
        {
            "text": metadata.text_config,
            "data": metadata.data_config,
            "model": metadata.model_config,
            "training": metadata.training_config,
            "linear": metadata.linear_config,
        }
    )
    if not changed:
        return ["- Settings: the defaults (`jman train --help` lists them)"]
    return ["- Settings that differ from the defaults:"] + [
        f"  - {option.path} = {literal(option.describe(value))}: {literal(option.help)}"
        for option, value in changed
    ]
