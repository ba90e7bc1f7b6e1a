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
    "JMAN-s+att-only": dict(use_title=False, use_title_guided=False, use_original=True, semantic_losses=False),
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


@dataclass
class TextConfig:
    """How raw text becomes token ids (section IV-B: title 30 tokens, content 10 sentences of 30)."""

    max_title_tokens: int = 30
    max_sentences: int = 10
    max_sentence_tokens: int = 30
    min_word_frequency: int = 2
    max_vocabulary_size: int = 50_000
    lowercase: bool = True
    # Text with no sentence punctuation is cut into chunks of this many tokens (the paper did so for Zhihu);
    # 0 means max_sentence_tokens.
    chunk_tokens: int = 0


@dataclass
class DataConfig:
    """Where the documents come from, which columns hold what, and how they are split."""

    title_column: str = "title"
    content_column: str = "content"
    tags_column: str = "tags"
    id_column: str = "id"
    tag_separator: str = " "
    normalise_tags: bool = True
    min_label_count: int = 10
    # "canonical": Stack Exchange ids (test id % 10 == 0, validation id % 10 == 1); "random": seeded fractions.
    split: str = "random"
    test_fraction: float = 0.1
    validation_fraction: float = 0.1
    # k-fold cross-validation over the non-test part; -1 means one train/validation split.
    kfold: int = -1
    fold: int = 0


@dataclass
class ModelConfig:
    """Hyper-parameters of the network only (section IV-B: hidden 100, dropout 0.5, embeddings 100)."""

    # JMAN-s by default: the shipped models are JMAN-s; "JMAN" adds the Sim/Sub regularisers.
    variation: str = "JMAN-s"
    embedding_dim: int = 100
    hidden_size: int = 100
    dropout: float = 0.5
    # Dropout on the word vectors (not in the paper, whose only dropout is before the output layer).
    embedding_dropout: float = 0.0
    # A bag-of-words path from the words read straight to the tag scores, added to the network's logits
    # (not in the paper). The TF-IDF SVM recalls far more of the tags whose name is written in the text
    # (bench/gap.py); this path lets a word vote for a tag without passing the attention-pooled vector.
    lexical_path: bool = False
    # Label-wise attention (not in the paper; as in CAML and LAAT): each tag has its own attention query
    # over every title and content word read, and adds a score from the words it attends to. JMAN pools
    # each document into one vector per branch, so a tag named once in the text must survive two poolings.
    label_attention: bool = False
    # Tag-name matching (not in the paper): a learned score for each tag whose name's words are all read
    # in the title, and in the content. Aimed at the same gap: the tags named in the text.
    label_mentions: bool = False
    # The wide part (not in the paper): a linear SVM over TF-IDF of the words and word pairs read, fitted
    # after the network and blended with it, the blend weight tuned on validation. The linear SVM is the
    # strongest baseline on every site; bench/gap.py found that the network still adds to it.
    linear_part: bool = False
    linear_per_label: int = 500  # largest SVM weights kept per tag (more barely helps on crypto; see bench/gap.py)
    linear_features: int = 0  # words and pairs kept; set when the part is fitted
    # Content words the linear part reads, sentence limits aside; 0: only what the network reads (10
    # sentences of 30 words). On the shipped networks, 1000 raised the blend's F1@t by 0.8 (crypto) and 0.9
    # (biology) over 0.
    linear_content_words: int = 1000
    vocabulary_size: int = 0
    num_labels: int = 0

    def __post_init__(self) -> None:
        if self.variation not in NETWORKS:
            raise ConfigError(
                f"Unknown variation {self.variation!r}. Choose one of: {', '.join(NETWORKS)}."
            )
        if self.linear_content_words < 0:
            raise ConfigError(f"linear_content_words must be 0 (read what the network reads) or more "
                              f"(got {self.linear_content_words}).")
        if self.linear_per_label < 1:
            raise ConfigError(f"linear_per_label must be at least 1 (got {self.linear_per_label}): "
                              "the number of SVM weights each tag keeps.")
        if self.label_attention and self.variation in BASELINE_NETWORKS:
            raise ConfigError(
                f"label_attention is a JMAN option; {self.variation} has no word states to share it with. "
                f"Choose a JMAN variation ({', '.join(VARIATIONS)}) or turn label_attention off."
            )

    @property
    def parts(self) -> dict[str, bool]:
        return NETWORKS[self.variation]


@dataclass
class TrainingConfig:
    """The paper's training schedule (Adam, lr 0.01, batch 128, halve lr when validation loss rises)."""

    learning_rate: float = 0.01
    batch_size: int = 128
    num_epochs: int = 100
    l2: float = 1e-4
    # "adam": the paper's Adam, with `l2` added to the gradient of weight matrices (the original l2_lambda
    # penalty; under Adam's scaling it barely shrinks anything); "adamw": decoupled weight decay, each
    # step shrinking weight matrices by learning_rate * l2 (try l2 around 0.01-0.1).
    optimizer: str = "adam"
    early_stop_lr: float = 2e-5
    lr_decay: float = 0.5
    seed: int = 42
    device: str = "auto"
    # Which validation figure picks the best epoch: "f1" (example-based F1 at the tuned threshold) or "loss".
    selection_metric: str = "f1"
    embeddings: str = "word2vec"  # "word2vec", "random", or a path to a word2vec file
    # Initial output-layer bias. "prior": each label's log odds in the training part, so the first steps
    # need not learn the label frequencies; "zero": the TensorFlow default of the original code, which
    # pushes the content encoder into a constant, saturated output while the bias catches up (measured on
    # crypto: the content-only network then stays at the majority tag for 7 epochs).
    output_bias_init: str = "prior"
    word2vec_epochs: int = 5
    # Keep the initial word vectors fixed: far fewer trained parameters on small datasets.
    freeze_embeddings: bool = False
    cache_dir: str = ""
    # Weights of L_sim and L_sub (equation 4). None: the default of the variation, SEMANTIC_LAMBDAS for
    # "JMAN" and 0 for every "-s" variation.
    lambda_sim: float | None = None
    lambda_sub: float | None = None
    similarity_threshold: float = 0.0  # Sim entries below this become 0 (sparser Sim)
    similarity_file: str = ""  # CSV of label,label,similarity; empty: Sim learned from the training tags
    knowledge_base: str = ""  # CSV of hyponym,hypernym[,true|false]; empty: Sub inferred from the training tags
    subsumption_min_confidence: float = 0.6
    subsumption_min_support: int = 5
    dynamic_sem: bool = False  # JMANd: Sim and Sub learnable, initialised from the static ones
    dynamic_sem_l2: bool = False  # L2-normalise the rows of the learnable Sim and Sub
    max_grad_norm: float = 5.0

    def __post_init__(self) -> None:
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"device must be auto, cpu or cuda, not {self.device!r}.")
        if self.output_bias_init not in ("prior", "zero"):
            raise ConfigError(f"output_bias_init must be 'prior' or 'zero', not {self.output_bias_init!r}.")
        if self.optimizer not in ("adam", "adamw"):
            raise ConfigError(f"optimizer must be 'adam' or 'adamw', not {self.optimizer!r}.")
        if self.l2 < 0:
            raise ConfigError(f"l2 must be 0 or more, got {self.l2}.")
        if self.selection_metric not in ("f1", "loss"):
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


Config = TypeVar("Config")


def _check_type(section: str, name: str, value: Any, expected: Any) -> Any:
    if isinstance(expected, types.UnionType):  # `float | None`
        if value is None:
            return None
        expected = next(option for option in typing.get_args(expected) if option is not type(None))
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


def build_config(file_values: dict[str, Any] | None = None, flag_values: dict[str, Any] | None = None) -> ExperimentConfig:
    """Defaults < config file < flags, then validated into an ExperimentConfig."""
    values = merge(to_dict(ExperimentConfig()), file_values or {})
    values = merge(values, flag_values or {})
    return from_dict(ExperimentConfig, values)



def semantic_lambdas(model: ModelConfig, training: TrainingConfig) -> tuple[float, float]:
    """(lambda_sim, lambda_sub) in force: the given values, else the variation's defaults."""
    with_semantics = model.parts["semantic_losses"]
    lambda_sim = training.lambda_sim if training.lambda_sim is not None else (
        SEMANTIC_LAMBDAS["lambda_sim"] if with_semantics else 0.0)
    lambda_sub = training.lambda_sub if training.lambda_sub is not None else (
        SEMANTIC_LAMBDAS["lambda_sub"] if with_semantics else 0.0)
    return float(lambda_sim), float(lambda_sub)
