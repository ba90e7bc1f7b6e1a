"""Finding checkpoints and loading one predictor per checkpoint, shared by every session."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from jman_core.checkpoint import METADATA_FILE, CheckpointMetadata, model_card, read_metadata
from jman_core.errors import JmanError
from jman_core.predict import Predictor

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
CHECKPOINTS_VARIABLE = "JMAN_CHECKPOINTS_DIR"
DEFAULT_CHECKPOINT = (
    "stackexchange-cooking"  # chosen first when present (the sample documents are cooking questions)
)


@dataclass
class CheckpointEntry:
    """One checkpoint folder as the model picker shows it; `problem` is set when its metadata cannot be
    read."""

    folder: Path
    metadata: CheckpointMetadata | None
    problem: str = ""

    @property
    def name(self) -> str:
        return self.folder.name


def checkpoints_directory() -> Path:
    """$JMAN_CHECKPOINTS_DIR, or `checkpoints/` at the repository root (not the working directory)."""
    configured = os.environ.get(CHECKPOINTS_VARIABLE, "").strip()
    return Path(configured).expanduser() if configured else REPOSITORY_ROOT / "checkpoints"


def find_checkpoints(directory: Path) -> list[CheckpointEntry]:
    """Every folder under `directory` holding a checkpoint.json (half-written `.name.building-*` ones
    skipped)."""
    if not directory.is_dir():
        return []
    folders = sorted(
        path.parent for path in directory.glob(f"*/{METADATA_FILE}") if not path.parent.name.startswith(".")
    )
    if (directory / METADATA_FILE).is_file():
        folders.insert(0, directory)
    return [_entry(folder) for folder in folders]


def default_entry(entries: list[CheckpointEntry]) -> CheckpointEntry:
    """The shipped cooking model when it is listed, else the first checkpoint."""
    return next((entry for entry in entries if entry.name == DEFAULT_CHECKPOINT), entries[0])


def _entry(folder: Path) -> CheckpointEntry:
    try:
        return CheckpointEntry(folder, read_metadata(folder))
    except JmanError as error:
        return CheckpointEntry(folder, None, str(error))


def modification_time(folder: Path) -> float:
    """checkpoint.json's mtime: part of the cache key, so a replaced checkpoint is loaded afresh."""
    try:
        return (folder / METADATA_FILE).stat().st_mtime
    except OSError:
        return 0.0


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def load_predictor(folder: str, modified: float) -> Predictor:
    """One Predictor per (folder, checkpoint.json mtime), shared by all sessions (it is read-only)."""
    del modified  # only part of the cache key
    return Predictor.from_checkpoint(folder)


def card_markdown(metadata: CheckpointMetadata) -> str:
    """The library's model card with its title demoted so it sits under the sidebar's own headings."""
    card = model_card(metadata, markdown=True)  # tag and file names shown as text, never as Markdown
    return card.replace("# ", "#### ", 1) if card.startswith("# ") else card


def test_metrics_rows(metadata: CheckpointMetadata) -> list[dict[str, str]]:
    """Test metrics at the tuned threshold and at 0.5 as percentages, for a small table."""
    names = ["P@1", "P@3", "nDCG@3", "P", "R", "F1", "Micro-F1", "Macro-F1"]
    rows = []
    for part, caption in (("test", "tuned threshold"), ("test_at_0.5", "threshold 0.5")):
        values = metadata.metrics.get(part) or {}
        if values:
            rows.append(
                {
                    "test set": caption,
                    **{
                        name: f"{100 * values[name]:.1f}"
                        for name in names
                        if isinstance(values.get(name), (int, float))
                    },
                }
            )
    return rows
