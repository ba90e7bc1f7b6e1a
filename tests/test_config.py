"""Tests for jman_core.config: paper defaults, override order, validation messages, config files."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from jman_core.config import (
    CALIBRATIONS,
    DEVICES,
    OPTIMIZERS,
    VARIATIONS,
    DataConfig,
    ExperimentConfig,
    LinearConfig,
    ModelConfig,
    TextConfig,
    TrainingConfig,
    build_config,
    from_dict,
    load_config_file,
    merge,
    to_dict,
)
from jman_core.errors import ConfigError


def test_defaults_are_the_papers():
    config = ExperimentConfig()
    assert config.training.learning_rate == 0.01
    assert config.training.batch_size == 128
    assert config.model.hidden_size == 100
    assert config.model.dropout == 0.5
    assert config.model.embedding_dim == 100
    assert config.text.max_title_tokens == 30
    assert config.text.max_sentences == 10
    assert config.text.max_sentence_tokens == 30
    assert config.model.variation in VARIATIONS


def test_variations_are_the_seven_of_the_paper():
    assert list(VARIATIONS) == [
        "JMAN",
        "JMAN-s",
        "JMAN-s-att",
        "JMAN-s-tg",
        "JMAN-s+t-only",
        "JMAN-s+tg-only",
        "JMAN-s+att-only",
    ]
    assert VARIATIONS["JMAN"]["semantic_losses"] is True
    assert not any(VARIATIONS[name]["semantic_losses"] for name in VARIATIONS if name != "JMAN")


def test_build_config_without_values_gives_defaults():
    assert build_config() == ExperimentConfig()
    assert build_config({}, {}) == ExperimentConfig()


def test_build_config_override_order():
    file_values = {"training": {"learning_rate": 0.001, "batch_size": 64}, "model": {"hidden_size": 50}}
    flag_values = {"training": {"batch_size": 32}}
    config = build_config(file_values, flag_values)
    assert config.training.batch_size == 32  # flag beats file
    assert config.training.learning_rate == 0.001  # file beats default
    assert config.model.hidden_size == 50  # file beats default
    assert config.model.dropout == 0.5 and config.training.num_epochs == 100  # untouched defaults
    assert config.text == TextConfig()


def test_build_config_does_not_mutate_its_inputs():
    file_values = {"model": {"hidden_size": 50}}
    flag_values = {"model": {"dropout": 0.1}}
    build_config(file_values, flag_values)
    assert file_values == {"model": {"hidden_size": 50}} and flag_values == {"model": {"dropout": 0.1}}


def test_merge_is_nested():
    base = {"a": {"x": 1, "y": 2}, "b": 3}
    assert merge(base, {"a": {"y": 5}}) == {"a": {"x": 1, "y": 5}, "b": 3}
    assert base == {"a": {"x": 1, "y": 2}, "b": 3}


def test_round_trip_through_dict():
    config = build_config({"model": {"variation": "JMAN-s-tg"}, "data": {"split": "canonical"}})
    assert from_dict(ExperimentConfig, to_dict(config)) == config


@pytest.mark.parametrize(
    "values, key",
    [
        ({"model": {"hiden_size": 10}}, "hiden_size"),
        ({"training": {"learning_rte": 0.1}}, "learning_rte"),
        ({"optimizer": {"name": "adam"}}, "optimizer"),
        ({"text": {"max_words": 3}}, "max_words"),
    ],
)
def test_unknown_keys_are_errors_naming_the_key(values, key):
    with pytest.raises(ConfigError, match=key):
        build_config(values)


@pytest.mark.parametrize(
    "values, key",
    [
        ({"model": {"hidden_size": "100"}}, "hidden_size"),
        ({"model": {"hidden_size": 100.0}}, "hidden_size"),
        ({"training": {"batch_size": True}}, "batch_size"),
        ({"training": {"learning_rate": "0.01"}}, "learning_rate"),
        ({"text": {"lowercase": 1}}, "lowercase"),
        ({"text": {"lowercase": "false"}}, "lowercase"),
        ({"data": {"title_column": 3}}, "title_column"),
        ({"model": {"dropout": None}}, "dropout"),
        ({"model": 5}, "model"),
    ],
)
def test_wrong_types_are_errors_naming_the_key(values, key):
    with pytest.raises(ConfigError, match=key):
        build_config(values)


def test_wrong_type_in_flags_is_reported_too():
    with pytest.raises(ConfigError, match="num_epochs"):
        build_config({}, {"training": {"num_epochs": "ten"}})


def test_integer_is_accepted_for_a_float_setting():
    config = build_config({"training": {"learning_rate": 1}, "model": {"dropout": 0}})
    assert config.training.learning_rate == 1.0 and isinstance(config.training.learning_rate, float)
    assert config.model.dropout == 0.0 and isinstance(config.model.dropout, float)


def test_unknown_variation_lists_the_choices():
    with pytest.raises(ConfigError) as raised:
        build_config({"model": {"variation": "JMAN-xyz"}})
    message = str(raised.value)
    assert "JMAN-xyz" in message
    assert all(name in message for name in VARIATIONS)
    with pytest.raises(ConfigError, match="JMAN-s\\+att-only"):
        ModelConfig(variation="nope")


@pytest.mark.parametrize(
    "values, key",
    [
        ({"training": {"device": "tpu"}}, "device"),
        ({"training": {"selection_metric": "accuracy"}}, "selection_metric"),
        ({"training": {"output_bias_init": "random"}}, "output_bias_init"),
        ({"training": {"learning_rate": 0.0}}, "learning_rate"),
        ({"training": {"batch_size": -1}}, "batch_size"),
        ({"training": {"calibration": "magic"}}, "calibration"),
        ({"training": {"optimizer": "sgd"}}, "optimizer"),
        ({"linear": {"per_label": 0}}, "per_label"),
        ({"linear": {"content_words": -1}}, "content_words"),
        ({"linear": {"regularisation": 0.0}}, "regularisation"),
        ({"linear": {"part": True}}, "part"),
        ({"model": {"heads": ["label_mentions"]}}, "heads"),
        ({"model": {"heads": {"label_mentions": 3}}}, "heads"),
    ],
)
def test_invalid_training_values(values, key):
    with pytest.raises(ConfigError, match=key):
        build_config(values)


def test_model_parts_follow_the_variation():
    assert ModelConfig(variation="JMAN-s+t-only").parts == VARIATIONS["JMAN-s+t-only"]
    assert DataConfig().min_label_count == 10 and TrainingConfig().lr_decay == 0.5


# ---- config files -------------------------------------------------------------------------------


def test_load_json_config_file(tmp_path: Path):
    path = tmp_path / "experiment.json"
    values = {"model": {"variation": "JMAN-s", "hidden_size": 16}, "training": {"batch_size": 8}}
    path.write_text(json.dumps(values, indent=2), encoding="utf-8")
    loaded = load_config_file(path)
    assert loaded == values
    config = build_config(loaded, {"training": {"batch_size": 4}})
    assert (config.model.variation, config.model.hidden_size, config.training.batch_size) == ("JMAN-s", 16, 4)
    assert load_config_file(str(path)) == values


def test_load_invalid_json_names_the_line(tmp_path: Path):
    path = tmp_path / "broken.json"
    path.write_text(
        '{\n  "model": {"hidden_size": 16},\n  "training": {"batch_size": 8,}\n}\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError) as raised:
        load_config_file(path)
    message = str(raised.value)
    assert "line 3" in message and "broken.json" in message


def test_load_config_file_that_is_not_a_mapping(tmp_path: Path):
    path = tmp_path / "list.json"
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ConfigError, match="mapping"):
        load_config_file(path)


def test_load_missing_config_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="missing.json"):
        load_config_file(tmp_path / "missing.json")


def test_load_yaml_config_file(tmp_path: Path):
    path = tmp_path / "experiment.yaml"
    path.write_text("model:\n  variation: JMAN-s-att\ntraining:\n  learning_rate: 0.005\n", encoding="utf-8")
    broken = tmp_path / "broken.yml"
    broken.write_text("model: [unclosed\n", encoding="utf-8")
    try:
        import yaml  # noqa: F401  (optional dependency)
    except ImportError:
        with pytest.raises(ConfigError, match="PyYAML"):
            load_config_file(path)
        return
    config = build_config(load_config_file(path))
    assert config.model.variation == "JMAN-s-att" and config.training.learning_rate == 0.005
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config_file(broken)


# ---- declarations (config.option) ----------------------------------------------------------------


@pytest.mark.parametrize("config_type", [TextConfig, DataConfig, ModelConfig, TrainingConfig, LinearConfig])
def test_every_field_is_declared_with_its_help_and_choices_that_hold_its_default(config_type):
    instance = config_type()
    for field in dataclasses.fields(config_type):
        assert field.metadata.get("help"), f"{config_type.__name__}.{field.name} has no help"
        choices = field.metadata.get("choices")
        if choices:
            assert getattr(instance, field.name) in choices


def test_the_fixed_choices_are_the_ones_checked():
    for name, choices in (("device", DEVICES), ("optimizer", OPTIMIZERS), ("calibration", CALIBRATIONS)):
        field = next(field for field in dataclasses.fields(TrainingConfig) if field.name == name)
        assert tuple(field.metadata["choices"]) == choices
        for choice in choices:
            build_config({"training": {name: choice}})


def test_a_mutable_default_is_not_shared_between_configs():
    first, second = ModelConfig(), ModelConfig()
    first.heads["lexical_path"] = {}
    assert second.heads == {} and ModelConfig().heads == {}


def test_the_linear_section_is_on_by_default_and_read_from_a_file():
    assert ExperimentConfig().linear.enabled
    config = build_config({"linear": {"enabled": False, "content_words": 0}})
    assert not config.linear.enabled and config.linear.content_words == 0
    assert config.linear.per_label == LinearConfig().per_label
