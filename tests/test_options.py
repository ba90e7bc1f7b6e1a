"""Tests for jman_core.options: every declared option has a flag and a help, booleans turn off with --no-,
--set reaches nested keys and refuses bad ones in one line, and the model card lists changed settings."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from jman_core import options
from jman_core.checkpoint import CheckpointMetadata, model_card
from jman_core.cli import make_parser
from jman_core.config import (
    CALIBRATIONS,
    DataConfig,
    ExperimentConfig,
    LinearConfig,
    ModelConfig,
    TextConfig,
    TrainingConfig,
    build_config,
)
from jman_core.errors import ConfigError
from jman_core.model import HEADS


def parse(*flags: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    options.add_flags(parser)
    return parser.parse_args(list(flags))


def overrides(*flags: str) -> dict:
    return options.overrides(parse(*flags))


def train_help() -> str:
    subparsers = next(
        action for action in make_parser()._actions if isinstance(action, argparse._SubParsersAction)
    )
    return subparsers.choices["train"].format_help()


# ---- the declarations ------------------------------------------------------------------------------


def test_every_field_of_every_section_is_declared_with_a_help():
    declared = {option.path for option in options.declared_options()}
    for section, config_type in options.SECTIONS.items():
        for field in dataclasses.fields(config_type):
            assert f"{section}.{field.name}" in declared
            assert field.metadata.get("help"), f"{section}.{field.name} has no help"
    assert set(options.SECTIONS) == {"text", "data", "model", "training", "linear"}


def test_declared_defaults_are_the_configs_and_fit_their_choices():
    defaults = ExperimentConfig()
    for option in options.declared_options():
        assert getattr(getattr(defaults, option.section), option.name) == option.default, option.path
        if option.choices:
            assert option.default in option.choices, option.path


def test_values_set_by_training_have_no_flag():
    paths = {option.path for option in options.cli_options()}
    assert "model.vocabulary_size" not in paths and "model.num_labels" not in paths
    assert "training.learning_rate" in paths


# ---- flags -------------------------------------------------------------------------------------------


def test_every_user_option_has_a_flag_and_a_help_in_jman_train():
    text = train_help()
    flags = [option.flag for option in options.cli_options()]
    assert len(flags) == len(set(flags)), "two options share a flag"
    for option in options.cli_options():
        assert f"--{option.flag} " in text or f"--{option.flag}," in text or f"--{option.flag}\n" in text, (
            option
        )
        assert option.help, option.path
    for flag in (
        "--variations",
        "--head",
        "--set",
        "--linear",
        "--no-linear",
        "--linear_content_words",
        "--linear_per_label",
        "--linear_regularisation",
        "--calibration",
        "--keep_tags_as_is",
    ):
        assert flag in text, flag
    assert "(default: 0.01)" in text  # the paper's learning rate, shown from its declaration


def test_each_flag_reaches_its_option():
    values = overrides(
        "--num_epochs",
        "3",
        "--learning_rate",
        "0.5",
        "--variations",
        "JMAN",
        "--split",
        "canonical",
        "--title_column",
        "heading",
        "--linear_content_words",
        "300",
    )
    config = build_config(None, values)
    assert config.training.num_epochs == 3 and config.training.learning_rate == 0.5
    assert config.model.variation == "JMAN" and config.data.split == "canonical"
    assert config.data.title_column == "heading" and config.linear.content_words == 300
    assert overrides() == {}  # flags not given leave the config file and the defaults alone


@pytest.mark.parametrize(
    "option",
    [option for option in options.cli_options() if option.type is bool],
    ids=lambda option: option.path,
)
def test_every_boolean_turns_on_and_off(option):
    off = overrides(f"--no-{option.flag}")
    on = overrides(f"--{option.flag}")
    assert off[option.section][option.name] is False and on[option.section][option.name] is True
    assert getattr(getattr(build_config(None, off), option.section), option.name) is False


def test_the_linear_part_is_on_by_default_and_no_linear_turns_it_off():
    assert build_config(None, overrides()).linear.enabled
    assert not build_config(None, overrides("--no-linear")).linear.enabled


def test_keep_tags_as_is_is_no_normalise_tags():
    assert (
        overrides("--keep_tags_as_is")
        == overrides("--no-normalise_tags")
        == {"data": {"normalise_tags": False}}
    )


def test_head_adds_each_named_head_with_its_defaults():
    values = overrides("--head", "label_mentions", "--head", "lexical_path")
    assert build_config(None, values).model.heads == {"label_mentions": {}, "lexical_path": {}}
    assert "label_attention" in train_help()  # the choices come from model.HEADS, with their descriptions
    assert HEADS["label_mentions"].description[:30] in " ".join(train_help().split())


@pytest.mark.parametrize(
    "flags, fragments",
    [
        (["--head", "bogus"], ["--head bogus", "lexical_path"]),
        (["--num_epochs", "ten"], ["--num_epochs ten", "training.num_epochs", "int"]),
        (["--variations", "JMAN-x"], ["--variations JMAN-x", "JMAN-s+att-only"]),
        (["--optimizer", "sgd"], ["--optimizer sgd", "adam, adamw"]),
        (["--learning_rate", "-1"], ["--learning_rate -1", "positive"]),
    ],
)
def test_a_bad_flag_value_is_one_line_naming_the_flag(flags, fragments):
    with pytest.raises(ConfigError) as raised:
        overrides(*flags)
    message = str(raised.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


# ---- --set -------------------------------------------------------------------------------------------


def test_set_reaches_nested_keys_and_reads_json():
    values = overrides(
        "--head",
        "label_mentions",
        "--set",
        "model.heads.label_mentions.name_words=3",
        "--set",
        "training.lr_decay=0.25",
        "--set",
        "text.lowercase=false",
        "--set",
        "training.lambda_sim=null",
        "--set",
        "data.tag_separator=,",
        "--set",
        "data.title_column=123",
        "--set",
        "linear.enabled=false",
    )
    config = build_config(None, values)
    assert config.model.heads == {"label_mentions": {"name_words": 3}}
    assert config.training.lr_decay == 0.25 and config.text.lowercase is False
    assert config.training.lambda_sim is None
    assert config.data.tag_separator == "," and config.data.title_column == "123"  # text stays text
    assert not config.linear.enabled
    assert options.parse_setting('model.heads={"lexical_path": {}}') == {
        "model": {"heads": {"lexical_path": {}}}
    }


def test_set_wins_over_the_flags_which_win_over_the_config_file():
    file_values = {"training": {"num_epochs": 7, "batch_size": 16}}
    config = build_config(file_values, overrides("--num_epochs", "3", "--set", "training.num_epochs=5"))
    assert config.training.num_epochs == 5 and config.training.batch_size == 16
    assert build_config(file_values, overrides("--num_epochs", "3")).training.num_epochs == 3


@pytest.mark.parametrize(
    "setting, fragments",
    [
        ("training.learning_rte=0.1", ["no option 'learning_rte'", "learning_rate"]),
        ("optimiser.name=adam", ["no section 'optimiser'", "training"]),
        ("learning_rate", ["SECTION.NAME=VALUE"]),
        ("training.num_epochs=ten", ["training.num_epochs must be int", "'ten'"]),
        ("data.split=sideways", ["data.split must be one of", "canonical"]),
        ("model.vocabulary_size=3", ["no option 'vocabulary_size'"]),
        ("model.heads.bogus.x=1", ["no heads entry 'bogus'", "label_mentions"]),
        ("model.heads.label_mentions.name_word=3", ["name_word", "name_words"]),
        ("model.heads.label_mentions.name_words=many", ["name_words must be int"]),
        ("model.heads=[1]", ["must be a mapping"]),
        ("training.seed.more=1", ["no further names"]),
    ],
)
def test_a_bad_set_is_one_clear_line(setting, fragments):
    with pytest.raises(ConfigError) as raised:
        overrides("--set", setting)
    message = str(raised.value)
    assert "\n" not in message and message.startswith(f"--set {setting}"[:12])
    for fragment in fragments:
        assert fragment in message, (fragment, message)


# ---- the model card, the app's form and the estimate -------------------------------------------------


OTHER_CALIBRATION = next(method for method in CALIBRATIONS if method != TrainingConfig().calibration)


def metadata_with(**configs) -> CheckpointMetadata:
    values = dict(
        model_config=ModelConfig(), text_config=TextConfig(), labels=["a", "b"], label_counts=[3, 2]
    )
    return CheckpointMetadata(**{**values, **configs})


def test_the_model_card_lists_every_changed_setting_with_its_help():
    metadata = metadata_with(
        training_config=TrainingConfig(
            num_epochs=7, calibration=OTHER_CALIBRATION, device="cpu", cache_dir="/x"
        ),
        data_config=DataConfig(split="canonical"),
        linear_config=LinearConfig(per_label=50),
        text_config=TextConfig(lowercase=False),
    )
    card = model_card(metadata)
    for path, value in (
        ("training.num_epochs", "7"),
        ("training.calibration", repr(OTHER_CALIBRATION)),
        ("data.split", "'canonical'"),
        ("linear.per_label", "50"),
        ("text.lowercase", "off"),
    ):
        assert f"{path} = {value}: {options.option_named(path).help}" in card, path
    assert "learning_rate" not in card  # unchanged
    assert "cache_dir" not in card and "training.device" not in card  # the machine's, not the model's
    assert "Settings: the defaults" in model_card(metadata_with(linear_config=LinearConfig()))


def test_the_model_card_says_plainly_when_the_model_does_not_beat_the_baseline():
    behind = {
        "test": {"P@1": 0.7, "nDCG@3": 0.6, "F1": 0.5},
        "baseline_svm_test": {"P@1": 0.6, "nDCG@3": 0.6, "F1": 0.55},
    }
    card = model_card(metadata_with(metrics=behind))
    assert "does NOT beat the linear SVM baseline" in card and "F1 0.500 against 0.550" in card
    assert "nDCG@3 0.600 against 0.600" in card and "P@1 0.700" not in card.split("NOT beat")[1]
    ahead = {"test": {"P@1": 0.7, "nDCG@3": 0.7, "F1": 0.6}, "baseline_svm_test": behind["baseline_svm_test"]}
    assert "The model beats the linear SVM baseline" in model_card(metadata_with(metrics=ahead))


def test_the_form_offers_every_user_option_but_server_paths_and_folds():
    offered = {option.path for option in options.form_options()}
    assert {"training.cache_dir", "training.knowledge_base", "data.kfold", "model.num_labels"}.isdisjoint(
        offered
    )
    assert {"model.heads", "linear.enabled", "training.calibration", "text.max_sentences"} <= offered


def test_the_recommended_settings_are_the_shipped_models():
    config = options.recommended_config()
    assert config.model.variation == "JMAN-s" and config.linear.enabled and config.model.heads == {}
    assert config.training.num_epochs == 30 and config.training.early_stop_lr == 1e-3


def test_the_estimate_grows_with_documents_and_epochs():
    base = options.estimated_seconds(1000, 800, 10)
    assert base == pytest.approx(
        1000 * options.PREPARATION_SECONDS_PER_DOCUMENT
        + 10 * 800 / options.TRAINING_DOCUMENTS_PER_SECOND
        + 800 * options.SVM_SECONDS_PER_DOCUMENT
    )
    assert options.estimated_seconds(2000, 1600, 10) > base < options.estimated_seconds(1000, 800, 20)
