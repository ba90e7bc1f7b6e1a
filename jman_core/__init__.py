"""jman_core: the Joint Multi-label Attention Network (Dong et al., IEEE TNNLS 2020) for social tagging."""

from .config import (  # noqa: E402
    VARIATIONS,
    DataConfig,
    ExperimentConfig,
    ModelConfig,
    TextConfig,
    TrainingConfig,
    build_config,
)
from .errors import CheckpointError, ConfigError, DataError, DocumentError, JmanError  # noqa: E402
from .version import __version__  # noqa: E402, F401

__all__ = [
    "VARIATIONS",
    "DataConfig",
    "ExperimentConfig",
    "ModelConfig",
    "TextConfig",
    "TrainingConfig",
    "build_config",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "DocumentError",
    "JmanError",
    "Predictor",
    "train_documents",
    "train_file",
    "read_documents",
    "load_checkpoint",
]


def __getattr__(name: str):
    """Heavy parts (torch, tokenizers) load on first use, so `import jman_core` stays cheap."""
    if name == "Predictor":
        from .predict import Predictor

        return Predictor
    if name in ("train_documents", "train_file"):
        from . import experiment

        return getattr(experiment, name)
    if name == "read_documents":
        from .data import read_documents

        return read_documents
    if name == "load_checkpoint":
        from .checkpoint import load_checkpoint

        return load_checkpoint
    raise AttributeError(f"module 'jman_core' has no attribute {name!r}")
