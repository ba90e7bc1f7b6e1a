"""Options declared once: the CLI flags, the app's training form and the model card's settings, generated
from the fields of the config sections (each declared with config.option: its default, help and choices)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .config import ExperimentConfig, build_config, from_dict, merge
from .errors import ConfigError
from .model import HEADS

# The sections of a config, by name: text, data, model, training, linear.
SECTIONS: dict[str, type] = typing.get_type_hints(ExperimentConfig)
# Sections whose flags carry the section's name: --linear_per_label, and --linear/--no-linear for `enabled`.
PREFIXED_SECTIONS = ("linear",)
# A mapping option holds the chosen entries of a registry, each with its own options dataclass.
REGISTRIES: dict[str, dict[str, Any]] = {"model.heads": HEADS}

# The settings that beat the project's linear SVM baseline on all three Stack Exchange sites: those of the
# shipped checkpoints/stackexchange-{cooking,biology,crypto}, JMAN-s blended with the word-and-pair SVM and
# trained with --early_stop_lr 1e-3 --num_epochs 30 (early stopping ended them after 6-7 epochs); on the
# test parts P@1 74.0 / 61.4 / 78.9 against the SVM's 71.1 / 60.2 / 75.4 (README, "The shipped models").
# The app's training form starts from them.
RECOMMENDED: dict[str, dict[str, Any]] = {
    "model": {"variation": "JMAN-s"},
    "linear": {"enabled": True},
    "training": {"num_epochs": 30, "early_stop_lr": 1e-3},
}

# What a training costs on a 2-core CPU with one training thread (the app's: limits.training_threads), the
# network the app starts from (JMAN-s, hidden 100, embeddings 100, batch 128), measured by
# `python bench/training_rate.py --documents N` on the first 5,000 and all 10,432 crypto questions (the
# machine shared with other work): training documents per second of one epoch, its validation pass included
# (155.7, 157.5); seconds of preparation per document read: vocabulary, word2vec, encoding, calibration, the
# domain check, saving (0.0057, 0.0053); seconds of the SVM's fit per training document, which grow with the
# tags and words (0.0031, 0.0049).
TRAINING_DOCUMENTS_PER_SECOND = 155.0
PREPARATION_SECONDS_PER_DOCUMENT = 0.0055
SVM_SECONDS_PER_DOCUMENT = 0.004


@dataclass(frozen=True)
class Option:
    """One declared setting: where it lives, its type, default, help and choices, and where it is offered."""

    section: str
    name: str
    type: type  # bool, int, float, str, or dict (a registry's chosen entries, e.g. model.heads)
    default: Any
    help: str
    choices: tuple[Any, ...] | None = None
    flag: str = ""  # the CLI flag without its leading --
    optional: bool = False  # None is a value: unset, resolved when training (lambda_sim, lambda_sub)
    cli: bool = True  # False: set by training from the data, not by the user
    app: bool = True  # False: not in the app's form (a path on the server, folds)
    card: bool = True  # False: the model card states it elsewhere, or it does not change the model

    @property
    def path(self) -> str:
        return f"{self.section}.{self.name}"

    @property
    def label(self) -> str:
        """The name as a person reads it: "max_title_tokens" -> "Max title tokens"."""
        return self.name.replace("_", " ").capitalize()

    @property
    def registry(self) -> dict[str, Any] | None:
        return REGISTRIES.get(self.path)

    def describe(self, value: Any) -> str:
        """A value as the CLI's help and the model card write it."""
        if value is None:
            return "unset"
        if self.type is bool:
            return "on" if value else "off"
        if self.type is dict:
            return ", ".join(value) if value else "none"
        if isinstance(value, float):
            return f"{value:g}"
        if isinstance(value, str):
            return repr(value)
        return str(value)


def _flag(section: str, field: dataclasses.Field) -> str:
    if "flag" in field.metadata:
        return field.metadata["flag"]
    if section in PREFIXED_SECTIONS:
        return section if field.name == "enabled" else f"{section}_{field.name}"
    return field.name


def declared_options() -> list[Option]:
    """Every field of every section, in the order of the sections and of their declarations."""
    found = []
    for section, config_type in SECTIONS.items():
        hints = typing.get_type_hints(config_type)
        for field in dataclasses.fields(config_type):
            kind, optional = hints[field.name], False
            if isinstance(kind, types.UnionType):  # `float | None`
                kind, optional = next(part for part in typing.get_args(kind) if part is not type(None)), True
            kind = typing.get_origin(kind) or kind
            default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
            metadata = field.metadata
            choices = metadata.get("choices")
            found.append(
                Option(
                    section,
                    field.name,
                    kind,
                    default,
                    metadata.get("help", ""),
                    tuple(choices) if choices else None,
                    _flag(section, field),
                    optional,
                    metadata.get("cli", True),
                    metadata.get("app", True),
                    metadata.get("card", True),
                )
            )
    return found


def cli_options() -> list[Option]:
    """The options a user sets (with a flag each)."""
    return [option for option in declared_options() if option.cli]


def form_options() -> list[Option]:
    """The options of the app's training form."""
    return [option for option in cli_options() if option.app]


def option_named(path: str) -> Option:
    """The option at "section.name"; KeyError for an unknown one."""
    return {option.path: option for option in declared_options()}[path]


# ---- the CLI ------------------------------------------------------------------------------------------


# An option with at most this many choices shows them in the usage line ({adam,adamw}); more, in its help.
MAX_CHOICES_SHOWN = 4


def _help(option: Option) -> str:
    text = option.help
    if option.registry is not None:
        entries = "; ".join(f"{name}: {entry.description}" for name, entry in option.registry.items())
        text = f"{text}; repeat for several ({entries})"
    else:
        if option.choices and len(option.choices) > MAX_CHOICES_SHOWN:
            text = f"{text}; one of: {', '.join(map(str, option.choices))}"
        if not option.optional:  # an optional one's help says what unset means
            text = f"{text} (default: {option.describe(option.default)})"
    return text.replace("%", "%%")  # argparse formats help with %


def add_flags(
    parser: argparse.ArgumentParser,
    sections: Iterable[str] = tuple(SECTIONS),
    extra: Iterable[str] = (),
    settings: bool = True,
) -> None:
    """Adds a flag for every user option of `sections` (and the options named in `extra`, "section.name"),
    grouped by section, each defaulting to None (unset: the config file's or the declared default wins).
    Booleans get --name and --no-name; model.heads is --head NAME, repeatable; with `settings`, --set
    SECTION.NAME=VALUE sets any option, a head's options included. The values are read and checked by
    overrides(), so that a wrong one is one line naming the flag."""
    sections, extra = tuple(sections), set(extra)
    for section in SECTIONS:
        chosen = [
            option
            for option in cli_options()
            if option.section == section and (section in sections or option.path in extra)
        ]
        if not chosen:
            continue
        group = parser.add_argument_group(
            f"{section} settings", (SECTIONS[section].__doc__ or "").strip().splitlines()[0]
        )
        for option in chosen:
            _add_flag(group, option)
            if option.path == "data.normalise_tags":  # the flag of the first releases
                group.add_argument(
                    "--keep_tags_as_is",
                    dest=option.path,
                    action="store_false",
                    default=None,
                    help="the same as --no-normalise_tags",
                )
    if settings:
        parser.add_argument(
            "--set",
            dest="set_values",
            action="append",
            default=[],
            metavar="SECTION.NAME=VALUE",
            help="set any option, e.g. --set training.lr_decay=0.3 or --set "
            "model.heads.label_mentions.name_words=3 (repeatable; the value is read as JSON when it "
            "parses, else as text; it wins over the flags)",
        )


def _add_flag(group, option: Option) -> None:
    name = f"--{option.flag}"
    if option.type is bool:
        group.add_argument(
            name, dest=option.path, action=argparse.BooleanOptionalAction, default=None, help=_help(option)
        )
        return
    if option.registry is not None:
        metavar = "NAME"
    elif option.choices and len(option.choices) <= MAX_CHOICES_SHOWN:
        metavar = "{" + ",".join(map(str, option.choices)) + "}"
    else:
        metavar = option.type.__name__.upper()
    action = "append" if option.registry is not None else "store"
    group.add_argument(
        name, dest=option.path, action=action, metavar=metavar, default=None, help=_help(option)
    )


def overrides(arguments: argparse.Namespace) -> dict[str, Any]:
    """The flags given, read and checked against their declarations, as the nested dict that
    config.build_config takes (sections of option values); the --set values last. Raises ConfigError, one
    line naming the flag, for a value that is not of the option's type or choices."""
    values: dict[str, Any] = {}
    for option in cli_options():
        given = getattr(arguments, option.path, None)
        if given is None:
            continue
        if option.registry is not None:
            value = {name: _checked_entry(f"--{option.flag} {name}", option, name, {}) for name in given}
        elif option.type is bool:
            value = given
        else:
            value = _flag_value(option, given)
        values.setdefault(option.section, {})[option.name] = value
    for text in getattr(arguments, "set_values", None) or []:
        values = merge(values, parse_setting(text))
    return values


def _flag_value(option: Option, text: str) -> Any:
    where = f"--{option.flag} {text}"
    try:
        value = option.type(text)
    except ValueError:
        raise ConfigError(f"{where}: {option.path} must be {option.type.__name__}.") from None
    _check_value(where, option, value)
    return value


def parse_setting(text: str) -> dict[str, Any]:
    """ "section.name=value" (a head's options: "model.heads.HEAD.NAME=value") -> a nested dict of that one
    value, checked against its declaration. The value is read as JSON when it parses, else taken as text.
    Raises ConfigError with one line that names the problem."""
    where = f"--set {text}"
    key, equals, raw = text.partition("=")
    parts = key.strip().split(".")
    if not equals or len(parts) < 2 or not all(parts):
        raise ConfigError(f"{where}: write SECTION.NAME=VALUE, e.g. --set training.learning_rate=0.005.")
    section, name, rest = parts[0], parts[1], parts[2:]
    if section not in SECTIONS:
        raise ConfigError(f"{where}: no section {section!r}; the sections are {', '.join(SECTIONS)}.")
    known = {option.name: option for option in declared_options() if option.section == section}
    if name not in known or not known[name].cli:
        names = ", ".join(option.name for option in known.values() if option.cli)
        raise ConfigError(f"{where}: {section} has no option {name!r}; its options: {names}.")
    option, raw = known[name], raw.strip()
    if rest:
        return {section: {name: _registry_entry(where, option, rest, raw)}}
    value = _read_value(raw, option.type)
    _check_value(where, option, value)
    return {section: {name: value}}


def _read_value(raw: str, kind: Any) -> Any:
    """JSON when it parses, else the text; a text option keeps its text ("123" stays a string)."""
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    return raw if kind is str and value is not None and not isinstance(value, str) else value


def _registry_entry(where: str, option: Option, rest: list[str], raw: str) -> dict[str, Any]:
    """--set model.heads.HEAD=MAPPING or --set model.heads.HEAD.NAME=VALUE -> {HEAD: {NAME: VALUE}}."""
    registry = option.registry
    if registry is None or len(rest) > 2:
        raise ConfigError(f"{where}: {option.path} has no further names; write --set {option.path}=VALUE.")
    entry = rest[0]
    if len(rest) == 2:
        kind = typing.get_type_hints(registry[entry].Options).get(rest[1]) if entry in registry else None
        values = {rest[1]: _read_value(raw, kind)}
    else:
        values = _read_value(raw, dict)
    return {entry: _checked_entry(where, option, entry, values)}


def _checked_entry(where: str, option: Option, entry: str, values: Any) -> dict[str, Any]:
    """A registry entry's options (a head's), checked against its Options dataclass."""
    registry = option.registry or {}
    if entry not in registry:
        raise ConfigError(f"{where}: no {option.name} entry {entry!r}; choose among: {', '.join(registry)}.")
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: {option.path}.{entry} must be a mapping of its options, e.g. {{}}.")
    try:
        from_dict(registry[entry].Options, values, f"{option.path}.{entry}")
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}") from None
    return values


def _check_value(where: str, option: Option, value: Any) -> None:
    """The option's type, choices and its section's own checks (a positive learning rate...)."""
    if option.registry is not None:
        if not isinstance(value, dict):
            example = f'{{"{next(iter(option.registry))}": {{}}}}'
            raise ConfigError(
                f"{where}: {option.path} must be a mapping of names to options, e.g. {example}."
            )
        for entry, entry_values in value.items():
            _checked_entry(where, option, entry, entry_values)
        return
    if option.choices and value not in option.choices:
        choices = ", ".join(map(str, option.choices))
        raise ConfigError(f"{where}: {option.path} must be one of {choices}, not {value!r}.")
    try:
        from_dict(SECTIONS[option.section], {option.name: value}, option.section)
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}") from None


# ---- the model card ----------------------------------------------------------------------------------


def changed_settings(sections: dict[str, Any]) -> list[tuple[Option, Any]]:
    """Each option of the card whose value in `sections` (section name -> its config) differs from its
    declared default, with that value, in declaration order."""
    changed = []
    for option in declared_options():
        config = sections.get(option.section)
        if config is None or not (option.cli and option.card):
            continue
        value = getattr(config, option.name)
        if value != option.default:
            changed.append((option, value))
    return changed


# ---- the app's form ----------------------------------------------------------------------------------


def recommended_config() -> ExperimentConfig:
    """The declared defaults with RECOMMENDED over them: where the app's training form starts."""
    return build_config(None, RECOMMENDED)


def estimated_seconds(documents: int, training_documents: int, epochs: int) -> float:
    """About how long a training of the default network takes on a 2-core CPU: preparing `documents`,
    `epochs` epochs over `training_documents`, and the SVM's fit (the rates of bench/training_rate.py)."""
    return (
        documents * PREPARATION_SECONDS_PER_DOCUMENT
        + epochs * training_documents / TRAINING_DOCUMENTS_PER_SECOND
        + training_documents * SVM_SECONDS_PER_DOCUMENT
    )  # the SVM is fitted even when not blended
