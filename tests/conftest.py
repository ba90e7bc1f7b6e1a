"""Shared fixtures: a small synthetic tagged dataset, one tiny model trained on it once per session, and a
dummy checkpoint (random weights, no training) for the tests that only need *a* model."""

from __future__ import annotations

import csv
import random
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import torch

from jman_core.config import (
    DataConfig,
    ExperimentConfig,
    LinearConfig,
    ModelConfig,
    TextConfig,
    TrainingConfig,
)

# Four topics; each has title words, content words and a few sub-tags, so the labels are learnable.
TOPICS = {
    "cooking": {
        "title": ["bread", "oven", "recipe", "dough", "sauce", "flour"],
        "content": ["bake", "knead", "yeast", "butter", "garlic", "simmer", "salt", "pan", "roast", "taste"],
        "subtags": ["baking", "sauces"],
    },
    "astronomy": {
        "title": ["star", "planet", "telescope", "galaxy", "orbit", "comet"],
        "content": [
            "light",
            "gravity",
            "moon",
            "nebula",
            "sky",
            "lens",
            "observe",
            "mass",
            "sun",
            "distance",
        ],
        "subtags": ["telescopes", "planets"],
    },
    "football": {
        "title": ["match", "goal", "striker", "league", "referee", "penalty"],
        "content": [
            "pass",
            "tackle",
            "coach",
            "stadium",
            "team",
            "score",
            "defender",
            "kick",
            "season",
            "fans",
        ],
        "subtags": ["tactics", "rules"],
    },
    "programming": {
        "title": ["python", "function", "compiler", "loop", "variable", "bug"],
        "content": [
            "code",
            "debug",
            "syntax",
            "error",
            "module",
            "class",
            "return",
            "list",
            "test",
            "runtime",
        ],
        "subtags": ["debugging", "python-lang"],
    },
}
# The models here are tiny: one intra-op thread is as fast, and it avoids the slowdowns of several
# threads spinning on a shared two-core machine (10x and worse when other processes are busy).
torch.set_num_threads(1)

FILLER = ["the", "a", "is", "how", "why", "with", "and", "my", "to", "of", "when", "does", "it", "in"]
DOCUMENT_COUNT = 240


def make_rows(count: int = DOCUMENT_COUNT, seed: int = 1234) -> list[dict[str, str]]:
    """Synthetic documents: topic words in the title, a few HTML sentences of content, space-separated
    tags."""
    generator = random.Random(seed)
    names = sorted(TOPICS)
    rows = []
    for number in range(1, count + 1):
        topic = names[number % len(names)]
        words = TOPICS[topic]
        title_words = generator.sample(words["title"], 2) + generator.sample(FILLER, 2)
        generator.shuffle(title_words)
        sentences = []
        for _ in range(generator.randint(2, 4)):
            sentence = generator.sample(words["content"], 3) + generator.sample(FILLER, 3)
            generator.shuffle(sentence)
            sentences.append(" ".join(sentence).capitalize() + ".")
        content = "<p>" + " ".join(sentences[:2]) + "</p>" + "".join(f"<p>{s}</p>" for s in sentences[2:])
        tags = [topic] + ([generator.choice(words["subtags"])] if generator.random() < 0.6 else [])
        rows.append(
            {
                "id": str(number),
                "title": " ".join(title_words).capitalize() + "?",
                "content": content,
                "tags": " ".join(tags),
            }
        )
    return rows


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "title", "content", "tags"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def tiny_config(cache_dir: str | Path, **training) -> ExperimentConfig:
    """The smallest configuration that still exercises every part of the model."""
    return ExperimentConfig(
        text=TextConfig(min_word_frequency=1),
        data=DataConfig(min_label_count=2),
        model=ModelConfig(hidden_size=8, embedding_dim=8),
        training=replace(
            TrainingConfig(
                num_epochs=2,
                batch_size=32,
                embeddings="word2vec",
                word2vec_epochs=2,
                cache_dir=str(cache_dir),
                device="cpu",
            ),
            **training,
        ),
    )


@dataclass
class TrainedModel:
    """What the session's one training run produced, and what its callbacks saw."""

    checkpoint: Path
    data_csv: Path
    cache_dir: Path
    config: ExperimentConfig
    result: object  # experiment.RunResult
    progress: list
    epochs: list
    log_path: Path


@pytest.fixture(autouse=True)
def private_workspace(tmp_path, monkeypatch):
    """Every test gets its own workspace database, never the repository's runs/workspace.sqlite."""
    monkeypatch.setenv("JMAN_DATABASE_URL", f"sqlite:///{tmp_path / 'workspace.sqlite'}")


@pytest.fixture(scope="session")
def work_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("jman")


@pytest.fixture(scope="session")
def cache_dir(work_dir) -> Path:
    return work_dir / "cache"


@pytest.fixture(scope="session")
def data_csv(work_dir) -> Path:
    """~240 documents over four topics in a CSV with columns id,title,content,tags."""
    return write_csv(work_dir / "tagged.csv", make_rows())


@pytest.fixture(scope="session")
def documents(data_csv):
    from jman_core.data import read_documents

    return read_documents(data_csv, DataConfig(min_label_count=2))


@pytest.fixture(scope="session")
def trained(work_dir, data_csv, cache_dir) -> TrainedModel:
    """One tiny model trained through the library on the synthetic data and saved as a checkpoint."""
    from jman_core.experiment import train_file
    from jman_core.training import Callbacks

    config = tiny_config(cache_dir)
    progress, epochs = [], []
    log_path = work_dir / "logs" / "train.jsonl"
    output = work_dir / "checkpoints" / "tiny"
    result = train_file(
        data_csv,
        config,
        output,
        callbacks=Callbacks(on_progress=progress.append, on_epoch_end=epochs.append),
        log_path=log_path,
    )
    assert result.checkpoint == output, "the session's training run saved no checkpoint"
    return TrainedModel(output, data_csv, cache_dir, config, result, progress, epochs, log_path)


@pytest.fixture(scope="session")
def checkpoint_path(trained) -> Path:
    return trained.checkpoint


@pytest.fixture(scope="session")
def predictor(checkpoint_path):
    from jman_core.predict import Predictor

    return Predictor.from_checkpoint(checkpoint_path)


@pytest.fixture
def checkpoint_copy(checkpoint_path, tmp_path) -> Path:
    """A private copy of the session checkpoint that a test may damage."""
    return Path(shutil.copytree(checkpoint_path, tmp_path / "copy"))


# The dummy checkpoint's network: every head, so the Predictor tests see label attention and tag-name scores.
DUMMY_HEADS = {"lexical_path": {}, "label_mentions": {}, "label_attention": {}}


def build_dummy_checkpoint(
    folder: Path,
    documents,
    variation: str = "JMAN-s",
    heads: dict | None = None,
    linear: bool = True,
    seed: int = 0,
) -> Path:
    """A complete checkpoint (network, tokenizer, word-and-pair SVM, blend, domain check) with random network
    weights, built in well under a second: no epoch, no word2vec. The heads' weights, which start at zero
    in training, are random too, so every head adds to the scores. The SVM is fitted on the training part
    (a few milliseconds) and the blend mixes two Platt calibrations half and half."""
    from jman_core.blend import LINEAR, NETWORK, Blend
    from jman_core.calibration import PlattCalibrator
    from jman_core.checkpoint import CheckpointMetadata, save_checkpoint
    from jman_core.data import split_and_filter
    from jman_core.experiment import encode_dataset, fit_domain
    from jman_core.linear import WordPairSVM
    from jman_core.metrics import tune_threshold
    from jman_core.model import build_model
    from jman_core.text import TextPipeline
    from jman_core.training import predict_logits

    data_config, text_config = DataConfig(min_label_count=2), TextConfig(min_word_frequency=1)
    split, label_list, statistics = split_and_filter(list(documents), data_config, seed)
    labels = [label for label, _ in label_list]
    pipeline = TextPipeline.build([text for d in split.train for text in (d.title, d.content)], text_config)
    model_config = ModelConfig(
        variation=variation,
        hidden_size=4,
        embedding_dim=4,
        heads=DUMMY_HEADS if heads is None else heads,
        vocabulary_size=pipeline.vocabulary_size,
        num_labels=len(labels),
    )
    torch.manual_seed(seed)
    model = build_model(model_config, labels=labels, pipeline=pipeline).eval()
    with torch.no_grad():
        for parameter in model.heads.parameters():
            parameter.normal_()
    linear_config = LinearConfig(enabled=linear, per_label=50, content_words=200 if linear else 0)
    train, validation = (
        encode_dataset(pipeline, getattr(split, part), labels, linear_config.content_words)
        for part in ("train", "validation")
    )
    svm = WordPairSVM(linear_config).fit(train, pipeline.id_to_word, seed=seed) if linear else None
    raw = {NETWORK: predict_logits(model, validation, 64, torch.device("cpu"))[0]}
    calibrators = {NETWORK: PlattCalibrator(1.0, -1.0)}
    weights = {NETWORK: 1.0}
    if svm is not None:
        raw[LINEAR] = svm.scores(validation)
        calibrators[LINEAR] = PlattCalibrator().fit(raw[LINEAR], validation.labels)
        weights = {NETWORK: 0.5, LINEAR: 0.5}
    blend = Blend(calibrators, weights)
    threshold, _ = tune_threshold(validation.labels, blend.probabilities(raw))
    domain = fit_domain(pipeline, split)
    metadata = CheckpointMetadata(
        model_config=model_config,
        text_config=text_config,
        labels=labels,
        label_counts=[count for _, count in label_list],
        threshold=threshold,
        data_config=data_config,
        training_config=TrainingConfig(embeddings="random", device="cpu"),
        statistics={
            **statistics,
            **(svm.statistics_ if svm else {}),
            "domain_check": domain.summary(),
            "calibrated": True,
        },
        data_source="dummy: random weights",
        stopped_because="not trained (a test fixture)",
        linear_config=linear_config,
        blend=blend.to_json(),
    )
    return save_checkpoint(folder, model, pipeline, metadata, domain, svm)


@pytest.fixture(scope="session")
def dummy_checkpoint(work_dir, documents) -> Path:
    """A checkpoint with random weights (see build_dummy_checkpoint): for tests that need *a* model, not a
    trained one's behaviour. Do not change it; copy it with `dummy_checkpoint_copy`."""
    return build_dummy_checkpoint(work_dir / "checkpoints" / "dummy", documents)


@pytest.fixture(scope="session")
def dummy_predictor(dummy_checkpoint):
    from jman_core.predict import Predictor

    return Predictor.from_checkpoint(dummy_checkpoint)


@pytest.fixture
def dummy_checkpoint_copy(dummy_checkpoint, tmp_path) -> Path:
    """A private copy of the dummy checkpoint that a test may damage."""
    return Path(shutil.copytree(dummy_checkpoint, tmp_path / "dummy"))


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory) -> Path:
    """A checkpoints folder with the app tests' tiny kitchen model (test_app.train_tiny_checkpoints), trained
    once per session for every module that uses it."""
    from test_app import train_tiny_checkpoints

    return train_tiny_checkpoints(tmp_path_factory.mktemp("app"))


@pytest.fixture(scope="session")
def tiny_predictor(tiny_checkpoints):
    from jman_core.predict import Predictor

    return Predictor.from_checkpoint(tiny_checkpoints / "tiny")
