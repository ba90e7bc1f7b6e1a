"""Plain helpers about documents: the sample folder, input limits, gold tags and per-document scores."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from jman_core.data import normalise_tag
from jman_core.text import markdown_literal

from .models import REPOSITORY_ROOT

SAMPLE_DIRECTORY = REPOSITORY_ROOT / "sample_docs"
# The model reads at most 10 sentences of 30 words; longer text only costs time, so it is cut here.
MAX_INPUT_CHARACTERS = 100_000


@dataclass
class SampleDocument:
    name: str
    title: str
    content: str
    tags: list[str] = field(default_factory=list)
    domain: str = ""
    models: list[str] = field(default_factory=list)  # the checkpoint folders it was written for


def read_samples(directory: Path = SAMPLE_DIRECTORY) -> list[SampleDocument]:
    """The sample documents (JSON files with title, content, tags, domain, models), sorted by file name."""
    samples = []
    for path in sorted(directory.glob("*.json")):
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue  # a broken sample is left out rather than breaking the page
        samples.append(
            SampleDocument(
                path.stem,
                str(values.get("title", "")),
                str(values.get("content", "")),
                [str(tag) for tag in values.get("tags", [])],
                str(values.get("domain", "")),
                [str(model) for model in values.get("models", []) if isinstance(model, str)],
            )
        )
    return samples


def samples_for_model(samples: list[SampleDocument], model_folder: str) -> list[SampleDocument]:
    """The samples written for the model in `model_folder` (a checkpoint folder's name or path) first, then
    the others, each group in its original order."""
    name = Path(model_folder).name
    return sorted(samples, key=lambda sample: name not in sample.models)


def document_key(title: str, content: str) -> str:
    """A short stable identifier of a document's text (reviews are kept per document)."""
    return hashlib.sha1(f"{title}\x00{content}".encode("utf-8", "replace")).hexdigest()[:12]


def cap_text(text: str, limit: int = MAX_INPUT_CHARACTERS) -> tuple[str, bool]:
    """The text cut to `limit` characters, and whether it was cut."""
    return (text[:limit], True) if len(text) > limit else (text, False)


def parse_tags(text: str) -> list[str]:
    """Tags typed by a person: separated by commas or spaces, normalised like the training data."""
    pieces = text.replace(";", ",").split(",") if "," in text or ";" in text else text.split()
    return list(dict.fromkeys(tag for tag in (normalise_tag(piece) for piece in pieces) if tag))


def precision_recall_f1(predicted: list[str], gold: list[str]) -> tuple[float, float, float]:
    """Set-based P, R and F1 of one document's tags against its gold tags (0 where undefined)."""
    predicted_set, gold_set = set(predicted), set(gold)
    correct = len(predicted_set & gold_set)
    precision = correct / len(predicted_set) if predicted_set else 0.0
    recall = correct / len(gold_set) if gold_set else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def markdown_text(text: str, limit: int = 400) -> str:
    """User text (a tag, a title, a name) cut to `limit` characters and made inert inside Markdown."""
    shown = str(text) if len(str(text)) <= limit else str(text)[:limit] + "…"
    return markdown_literal(shown)
