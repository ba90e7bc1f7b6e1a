"""Typed configuration: text, data, model and training settings whose defaults are the paper's numbers."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .errors import ConfigError

# The seven settings of the authors' `--variations` flag. Each is a combination of which parts of
# the document representation [c_t, c_ta, c_a] are used, and whether the semantic regularisers are on.
VARIATIONS: dict[str, dict[str, bool]] = {
    "JMAN": dict(use_title=True, use_title_guided=True, use_original=True, semantic_losses=True),
    "JMAN-s": dict(use_title=True, use_title_guided=True, use_original=True, semantic_losses=False),
    "JMAN-s-att": dict(use_title=True, use_title_guided=True, use_original=False, semantic_losses=False),
    "JMAN-s-tg": dict(use_title=True, use_title_guided=False, use_original=True, semantic_losses=False),
    "JMAN-s+t-only": dict(use_title=True, use_title_guided=False, use_original=False, semantic_losses=False),
    "JMAN-s+tg-only": dict(use_title=False, use_title_guided=True, use_original=False, semantic_losses=False),
    "JMAN-s+att-only": dict(
        use_title=False, use_title_guided=False, use_original=True, semantic_losses=False
    ),
}
# The paper's neural baselines, in the same framework (title and content read as one document).
BASELINE_NETWORKS: dict[str, dict[str, bool]] = {
    "HAN": dict(use_title=False, use_title_guided=False, use_original=True, semantic_losses=False),
    "BiGRU": dict(use_title=False, use_title_guided=False, use_original=False, semantic_losses=False),
}
NETWORKS = {**VARIATIONS, **BASELINE_NETWORKS}


# The paper tunes lambda_sim in {1e-1 .. 1e-6} and lambda_sub in {1e+1 .. 1e-4} (footnote 5) but does not
# print the chosen values; these sit inside those ranges for our loss scale (summed over labels).
SEMANTIC_LAMBDAS = {"lambda_sim": 1e-3, "lambda_sub": 1e-2}


def option(default: Any, help: str, **metadata: Any) -> Any:
    """A configuration field declared once: its default and its help (shown by the CLI, the app's training
    form and the model card). Mutable defaults (a dict) are copied for each instance. Other metadata, read
    by jman_core.options: `choices`; `flag`, the CLI flag where it is not the field's name; `cli=False` for
    a value set by training, not by the user; `app=False` for an option the app's form leaves out (a path
    on the server, folds); `card=False` for one the model card states elsewhere or that does not change
    the model."""
    if isinstance(default, dict | list):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help, **metadata})
    return field(default=default, metadata={"help": help, **metadata})


@dataclass
class TextConfig:
    """How raw text becomes token ids (section IV-B: title 30 tokens, content 10 sentences of 30)."""

    max_title_tokens: int = option(30, "title words read")
    max_sentences: int = option(10, "content sentences read")
    max_sentence_tokens: int = option(30, "words read per sentence")
    min_word_frequency: int = option(2, "words seen fewer times in the training part become <unk>")
    max_vocabulary_size: int = option(50_000, "keep at most this many words")
    lowercase: bool = option(True, "lower-case the text before reading it")
    chunk_tokens: int = option(
        0,
        "cut text without sentence punctuation into chunks of this many words (the "
        "paper did so for Zhihu; 0: max_sentence_tokens)",
    )


# How documents are split (jman_core.data.split_documents reads each).
SPLITS = ("random", "canonical", "predefined")


@dataclass
class DataConfig:
    """Where the documents come from, which columns hold what, and how they are split."""

    title_column: str = option("title", "column holding the title")
    content_column: str = option("content", "column holding the content (abstract or body also accepted)")
    tags_column: str = option("tags", "column holding the tags")
    id_column: str = option("id", "column holding the document id")
    tag_separator: str = option(" ", "separator of tags in CSV/TSV (' ' splits on any whitespace)")
    normalise_tags: bool = option(
        True, "normalise tags: case, and runs of spaces, underscores and hyphens become one hyphen"
    )
    min_label_count: int = option(10, "keep tags used at least this many times in the training part")
    split: str = option(
        "random",
        "random: seeded fractions; canonical: Stack Exchange ids (test id % 10 == "
        "0, validation id % 10 == 1); predefined: the source's own parts (Reuters, "
        "CiteULike-a)",
        choices=SPLITS,
    )
    test_fraction: float = option(0.1, "share of documents held out for testing (random split)")
    validation_fraction: float = option(0.1, "share of documents for validation (random split)")
    kfold: int = option(
        -1,
        "k-fold cross-validation over the non-test part, -1 for one split (jman train "
        "then trains one model per fold)",
        app=False,
    )
    fold: int = option(0, "with kfold: which fold is the validation part", app=False)


@dataclass
class ModelConfig:
    """Hyper-parameters of the network only (section IV-B: hidden 100, dropout 0.5, embeddings 100)."""

    variation: str = option(
        "JMAN-s",
        "the network: a JMAN variation (JMAN adds the Sim/Sub regularisers) "
        "or a baseline network (HAN, BiGRU)",
        choices=tuple(NETWORKS),
        flag="variations",
        card=False,
    )
    embedding_dim: int = option(100, "word vector size E", card=False)
    hidden_size: int = option(100, "GRU hidden size H per direction", card=False)
    dropout: float = option(0.5, "dropout before the output layer (the paper's only dropout)")
    embedding_dropout: float = option(0.0, "dropout on the word vectors (not in the paper)")
    # Score heads beyond the paper's classifier, by name, each with its options ({} = its defaults); the
    # heads and their options are declared in model.HEADS.
    heads: dict[str, dict[str, Any]] = option(
        {},
        "score heads added to the paper's classifier, by name (model.HEADS lists them)",
        flag="head",
        card=False,
    )
    vocabulary_size: int = option(0, "set from the data when training", cli=False)
    num_labels: int = option(0, "set from the data when training", cli=False)

    def __post_init__(self) -> None:
        if self.variation not in NETWORKS:
            raise ConfigError(f"Unknown variation {self.variation!r}. Choose one of: {', '.join(NETWORKS)}.")
        if not all(isinstance(options, dict) for options in self.heads.values()):
            raise ConfigError(
                "model.heads maps each head's name to a mapping of its options ({} for its defaults)."
            )

    @property
    def parts(self) -> dict[str, bool]:
        return NETWORKS[self.variation]


# Model settings written before the score heads and the linear section (issue 18): the head booleans, and the
# linear part's settings by their new names in LinearConfig. Read by old checkpoints and stored bench runs.
LEGACY_HEADS = ("lexical_path", "label_attention", "label_mentions")
LEGACY_LINEAR = {
    "linear_part": "enabled",
    "linear_content_words": "content_words",
    "linear_per_label": "per_label",
}


def split_legacy_model(model: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], int]:
    """Old model settings -> (model settings with `heads`, the linear settings they named, the fitted linear
    part's feature count (0 when none was fitted))."""
    model = dict(model)
    heads = dict(model.pop("heads", {}))
    heads.update({name: {} for name in LEGACY_HEADS if model.pop(name, False)})
    linear = {new: model.pop(old) for old, new in LEGACY_LINEAR.items() if old in model}
    features = int(model.pop("linear_features", 0) or 0)
    return {**model, "heads": heads}, linear, features


@dataclass
class LinearConfig:
    """The word-and-pair SVM blended with the network (not in the paper; jman_core.linear)."""

    enabled: bool = option(
        True,
        "fit a linear SVM over TF-IDF of the words and word pairs read, and blend it "
        "with the network (the weight tuned on validation); it beats every network alone",
    )
    per_label: int = option(
        500, "largest SVM weights kept per tag (more barely helps on crypto; bench/gap.py)"
    )
    content_words: int = option(
        1000,
        "content words the SVM reads, sentence limits aside (0: what the "
        "network reads); 1000 raised F1@t by 0.8-0.9 over 0 on crypto and biology",
    )
    regularisation: float = option(1.0, "the SVM's C (as the svm-linear baseline)")

    def __post_init__(self) -> None:
        if self.content_words < 0:
            raise ConfigError(
                f"linear.content_words must be 0 (read what the network reads) or more "
                f"(got {self.content_words})."
            )
        if self.per_label < 1:
            raise ConfigError(
                f"linear.per_label must be at least 1 (got {self.per_label}): "
                "the number of SVM weights each tag keeps."
            )
        if self.regularisation <= 0:
            raise ConfigError(f"linear.regularisation must be positive (got {self.regularisation}).")


# The fixed choices of TrainingConfig's settings, each declared once (the fields and their checks use them).
DEVICES = ("auto", "cpu", "cuda")
OPTIMIZERS = ("adam", "adamw")
SELECTION_METRICS = ("f1", "loss")
OUTPUT_BIAS_INITS = ("prior", "zero")
CALIBRATIONS = ("platt", "isotonic")


@dataclass
class TrainingConfig:
    """The paper's training schedule (Adam, lr 0.01, batch 128, halve lr when validation loss rises)."""

    learning_rate: float = option(0.01, "Adam's initial learning rate")
    batch_size: int = option(128, "documents per step")
    num_epochs: int = option(100, "at most this many epochs")
    l2: float = option(1e-4, "L2 penalty on weight matrices (with adamw: their decay rate)")
    # adam's l2 is the original l2_lambda penalty; under Adam's scaling it barely shrinks anything.
    optimizer: str = option(
        "adam",
        "adam: the paper's, l2 added to the gradient of weight matrices; adamw: "
        "decoupled weight decay, each step shrinking them by learning_rate * l2 (try l2 "
        "0.01-0.1)",
        choices=OPTIMIZERS,
    )
    early_stop_lr: float = option(2e-5, "stop once the decayed learning rate falls below this")
    lr_decay: float = option(0.5, "multiply the learning rate by this whenever the validation loss rises")
    seed: int = option(42, "random seed (splits, initialisation, batches)")
    device: str = option(
        "auto", "auto, cpu or cuda (bf16 mixed precision on cuda)", choices=DEVICES, card=False
    )
    selection_metric: str = option(
        "f1",
        "which validation figure picks the best epoch: f1 (example-based F1 at the tuned threshold) or loss",
        choices=SELECTION_METRICS,
    )
    embeddings: str = option(
        "word2vec",
        "initial word vectors: word2vec (trained on your data), random, or the path of a word2vec file",
        app=False,
    )
    # "zero", the TensorFlow default of the original code, pushes the content encoder into a constant,
    # saturated output while the bias catches up (on crypto the content-only network then stays at the
    # majority tag for 7 epochs).
    output_bias_init: str = option(
        "prior",
        "initial output bias: prior (each label's log odds in the "
        "training part) or zero (the original code's)",
        choices=OUTPUT_BIAS_INITS,
    )
    word2vec_epochs: int = option(5, "passes of word2vec over the training documents")
    freeze_embeddings: bool = option(
        False, "keep the initial word vectors fixed (far fewer trained parameters on small datasets)"
    )
    cache_dir: str = option(
        "", "where trained word2vec vectors are cached ('': ~/.cache/jman)", app=False, card=False
    )
    # Weights of L_sim and L_sub (equation 4); None: the variation's, as config.semantic_lambdas says. The
    # model card states the values in force.
    lambda_sim: float | None = option(
        None,
        "weight of the similarity regulariser L_sim (unset: "
        f"{SEMANTIC_LAMBDAS['lambda_sim']:g} for JMAN, 0 for the other "
        "networks)",
        card=False,
    )
    lambda_sub: float | None = option(
        None,
        "weight of the subsumption regulariser L_sub (unset: "
        f"{SEMANTIC_LAMBDAS['lambda_sub']:g} for JMAN, 0 for the other "
        "networks)",
        card=False,
    )
    similarity_threshold: float = option(0.0, "label similarities below this count as 0 (a sparser Sim)")
    similarity_file: str = option(
        "", "CSV of label,label,similarity rows for Sim ('': Sim learned from the training tags)", app=False
    )
    knowledge_base: str = option(
        "",
        "CSV of hyponym,hypernym[,true|false] rows for Sub ('': Sub inferred from the training tags)",
        app=False,
    )
    subsumption_min_confidence: float = option(
        0.6, "inferred Sub: share of a child tag's documents that must carry the parent"
    )
    subsumption_min_support: int = option(
        5, "inferred Sub: documents in which child and parent must co-occur"
    )
    dynamic_sem: bool = option(
        False,
        "JMANd: learn Sim and Sub during training, from the static ones (memory grows with labels squared)",
    )
    dynamic_sem_l2: bool = option(False, "L2-normalise the rows of the learnable Sim and Sub")
    max_grad_norm: float = option(5.0, "clip the gradient norm at this")
    calibration: str = option(
        "isotonic",
        "how each component's scores become probabilities on validation "
        "before the blend: isotonic (a step function) or platt (a logistic fit); isotonic "
        "kept P@1 and nDCG@3 of the shipped models, Platt lost up to 1.6 (bench/calibration.py)",
        choices=CALIBRATIONS,
    )

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ConfigError(f"device must be auto, cpu or cuda, not {self.device!r}.")
        if self.output_bias_init not in OUTPUT_BIAS_INITS:
            raise ConfigError(f"output_bias_init must be 'prior' or 'zero', not {self.output_bias_init!r}.")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer must be 'adam' or 'adamw', not {self.optimizer!r}.")
        if self.l2 < 0:
            raise ConfigError(f"l2 must be 0 or more, got {self.l2}.")
        if self.calibration not in CALIBRATIONS:
            raise ConfigError(f"calibration must be 'platt' or 'isotonic', not {self.calibration!r}.")
        if self.selection_metric not in SELECTION_METRICS:
            raise ConfigError(f"selection_metric must be 'f1' or 'loss', not {self.selection_metric!r}.")
        for name in ("learning_rate", "batch_size", "num_epochs"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}.")


@dataclass
class ExperimentConfig:
    """Everything one training run needs, grouped as the sections of a config file."""

    text: TextConfig = field(default_factory=TextConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    linear: LinearConfig = field(default_factory=LinearConfig)


Config = TypeVar("Config")


def _check_type(section: str, name: str, value: Any, expected: Any) -> Any:
    if isinstance(expected, types.UnionType):  # `float | None`
        if value is None:
            return None
        expected = next(option for option in typing.get_args(expected) if option is not type(None))
    if typing.get_origin(expected) is dict and not isinstance(value, dict):
        raise ConfigError(f"{section}.{name} must be a mapping, got {value!r}.")
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is bool and not isinstance(value, bool):
        raise ConfigError(f"{section}.{name} must be true or false, got {value!r}.")
    if expected in (int, float, str) and (not isinstance(value, expected) or isinstance(value, bool)):
        raise ConfigError(f"{section}.{name} must be {expected.__name__}, got {value!r}.")
    return value


def from_dict(cls: type[Config], values: dict[str, Any], section: str = "") -> Config:
    """Builds a config dataclass from a dict, rejecting unknown keys and wrong types with a clear message."""
    section = section or cls.__name__
    if not isinstance(values, dict):
        raise ConfigError(f"Section {section} must be a mapping, got {type(values).__name__}.")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(
            f"Unknown key(s) in {section}: {', '.join(unknown)}. Known keys: {', '.join(known)}."
        )
    hints = typing.get_type_hints(cls)
    converted = {}
    for name, value in values.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            converted[name] = from_dict(hint, value, f"{section}.{name}")
        else:
            converted[name] = _check_type(section, name, value, hint)
    return cls(**converted)


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Nested dict merge: values in `override` win (defaults < config file < flags)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Reads a JSON (or YAML, when PyYAML is installed) config file into a nested dict."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"Cannot read config file {path}: {error.strerror}.") from None
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ConfigError("YAML config files need PyYAML (pip install pyyaml); or use JSON.") from None
        try:
            values = yaml.safe_load(text) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f"{path} is not valid YAML: {error}") from None
    else:
        try:
            values = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(f"{path}, line {error.lineno}: not valid JSON ({error.msg}).") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path} must hold a mapping with sections text, data, model, training.")
    return values


def build_config(
    file_values: dict[str, Any] | None = None, flag_values: dict[str, Any] | None = None
) -> ExperimentConfig:
    """Defaults < config file < flags, then validated into an ExperimentConfig."""
    values = merge(to_dict(ExperimentConfig()), file_values or {})
    values = merge(values, flag_values or {})
    return from_dict(ExperimentConfig, values)


def semantic_lambdas(model: ModelConfig, training: TrainingConfig) -> tuple[float, float]:
    """(lambda_sim, lambda_sub) in force: the given values, else the variation's defaults."""
    with_semantics = model.parts["semantic_losses"]
    lambda_sim = (
        training.lambda_sim
        if training.lambda_sim is not None
        else (SEMANTIC_LAMBDAS["lambda_sim"] if with_semantics else 0.0)
    )
    lambda_sub = (
        training.lambda_sub
        if training.lambda_sub is not None
        else (SEMANTIC_LAMBDAS["lambda_sub"] if with_semantics else 0.0)
    )
    return float(lambda_sim), float(lambda_sub)
