"""Training jobs in a separate process: start, follow, cancel and list them through files on disk.

The app starts a job and then only reads files, so the page stays responsive, other tabs keep working,
and a page reload finds the job still going. One job runs at a time per jobs folder.

A job folder holds: spec.json (what to train), status.json (state and progress, rewritten atomically),
epochs.jsonl (one line per epoch), log.txt (the worker's output), data.<ext> (the uploaded file), and
cancel (present when a stop was asked for).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import ConfigError, JmanError

ACTIVE_STATES = ("starting", "running")


@dataclass
class JobStatus:
    """What a job's status.json says, plus where the job lives."""

    job_id: str
    name: str
    state: str  # starting, running, finished, failed, cancelled, died
    message: str = ""
    epoch: int = 0
    num_epochs: int = 0
    step: int = 0
    steps: int = 0
    elapsed_seconds: float = 0.0
    seconds_left: float | None = None
    pid: int | None = None
    created: str = ""
    finished: str = ""
    checkpoint: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    per_label: list[dict[str, Any]] = field(default_factory=list)
    folder: str = ""

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_json_atomic(path: Path, value: Any) -> None:
    write_text_atomic(path, json.dumps(value, indent=2, ensure_ascii=False))


def write_text_atomic(path: Path, text: str) -> None:
    """`text` at `path`, whole or not at all: written beside it, then renamed over it."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:6]}")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _process_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a finished child that nobody waited for is a zombie: not alive for our purposes
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().split(") ")[-1].split()[0] != "Z"
    except OSError:
        return True


def read_status(folder: str | Path) -> JobStatus:
    """The job's status; a job whose process has vanished without saying so is reported as 'died'."""
    folder = Path(folder)
    try:
        values = json.loads((folder / "status.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        values = {
            "job_id": folder.name,
            "name": folder.name,
            "state": "died",
            "message": "no readable status.json",
        }
    known = set(JobStatus.__dataclass_fields__)
    status = JobStatus(**{key: value for key, value in values.items() if key in known})
    status.folder = str(folder)
    if status.active and not _process_alive(status.pid):
        grace = (
            time.time() - (folder / "status.json").stat().st_mtime
            if (folder / "status.json").exists()
            else 99
        )
        if status.state == "running" or grace > 30 or (folder / "cancel").exists():
            _ended_without_saying(folder, status)
    return status


def _ended_without_saying(folder: Path, status: JobStatus) -> None:
    """What a vanished process left on disk decides its state: a model saved by this job (newer than its
    spec) means finished, a cancel asked for means cancelled, else it died."""
    saved = _saved_model(folder)
    if saved:
        status.state, status.checkpoint = "finished", saved
        status.message = "the model was saved; the training process ended before it could report so"
    elif (folder / "cancel").exists():
        status.state, status.message = "cancelled", "cancelled on request; no model was saved"
    else:
        status.state = "died"
        status.message = (
            "the training process ended without finishing (killed, or out of memory); no model was saved"
        )


def _saved_model(folder: Path) -> str:
    """The checkpoint this job saved, or "" (a checkpoint
    at its output from before the job does not count)."""
    try:
        output = Path(json.loads((folder / "spec.json").read_text(encoding="utf-8"))["output"])
        saved = (output / "checkpoint.json").stat().st_mtime >= (folder / "spec.json").stat().st_mtime
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    return str(output) if saved else ""


def list_jobs(jobs_dir: str | Path) -> list[JobStatus]:
    """Every job ever started in this folder, newest first (including those of earlier server sessions)."""
    jobs_dir = Path(jobs_dir)
    if not jobs_dir.exists():
        return []
    statuses = [read_status(folder) for folder in jobs_dir.iterdir() if (folder / "spec.json").exists()]
    return sorted(statuses, key=lambda status: status.created, reverse=True)


def active_job(jobs_dir: str | Path) -> JobStatus | None:
    return next((status for status in list_jobs(jobs_dir) if status.active), None)


class JobAlreadyRunning(JmanError):
    """A second training was asked for while one is running."""


def start_job(
    jobs_dir: str | Path,
    name: str,
    data_name: str,
    data: bytes,
    overrides: dict[str, Any],
    checkpoints_dir: str | Path,
    replace_existing: bool = False,
) -> JobStatus:
    """Saves the uploaded data and the settings, then starts the worker process; returns at once.

    `overrides` is a nested dict of config sections (data, text, model, training). Raises
    JobAlreadyRunning if a job is active in `jobs_dir`, ConfigError for a bad model name, or for the name of
    an existing model unless `replace_existing` (the user confirmed it). The check and the start hold a lock
    on the jobs folder, so two simultaneous calls cannot both start.
    """
    jobs_dir = Path(jobs_dir)
    jobs_dir.mkdir(parents=True, exist_ok=True)
    with _start_lock(jobs_dir):
        return _start_locked(jobs_dir, name, data_name, data, overrides, checkpoints_dir, replace_existing)


@contextlib.contextmanager
def _start_lock(jobs_dir: Path) -> Iterator[None]:
    with open(jobs_dir / ".start.lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _start_locked(
    jobs_dir: Path,
    name: str,
    data_name: str,
    data: bytes,
    overrides: dict[str, Any],
    checkpoints_dir: str | Path,
    replace_existing: bool,
) -> JobStatus:
    from .checkpoint import check_output_path
    from .config import build_config

    running = active_job(jobs_dir)
    if running:
        raise JobAlreadyRunning(
            f"A training is already running ('{running.name}', started {running.created}). "
            "Wait for it to finish or cancel it: one training at a time per server."
        )
    output = Path(checkpoints_dir) / checked_model_name(name)
    check_output_path(output)
    if model_exists(output) and not replace_existing:
        raise ConfigError(
            f"A model named '{output.name}' exists; training would replace it at the end. "
            "Choose another name, or confirm that it may be replaced."
        )
    config = build_config(None, overrides)  # fail now, in the page, not later in the worker
    job_id = datetime.now().strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:4]
    folder = jobs_dir / job_id
    folder.mkdir()
    suffix = "".join(Path(data_name).suffixes[-1:]) or ".csv"
    (folder / f"data{suffix}").write_bytes(data)
    spec = {
        "name": output.name,
        "data_file": f"data{suffix}",
        "data_name": data_name,
        "overrides": overrides,
        "output": str(output.resolve()),
    }
    write_json_atomic(folder / "spec.json", spec)
    status = JobStatus(
        job_id,
        output.name,
        "starting",
        "starting the training process",
        num_epochs=config.training.num_epochs,
        created=_now(),
    )
    write_json_atomic(folder / "status.json", asdict(status))
    with (folder / "log.txt").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "jman_core.jobs", str(folder)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=str(Path(__file__).resolve().parents[1]),
        )
    status.pid = process.pid
    _update(folder, pid=process.pid)
    return read_status(folder)


def model_exists(output: str | Path) -> bool:
    """Whether a checkpoint (or the remains of an interrupted save of one) is at `output`."""
    output = Path(output)
    return (
        output.exists() or any(output.parent.glob(f".{output.name}.old-*"))
        if output.parent.exists()
        else False
    )


def checked_model_name(name: str) -> str:
    """A model name usable as a folder name: letters, digits, '-', '_' and '.', not starting with '.'."""
    cleaned = name.strip()
    if (
        not cleaned
        or cleaned.startswith(".")
        or any(not (c.isalnum() or c in "-_.") for c in cleaned)
        or len(cleaned) > 80
    ):
        raise ConfigError(
            f"Model name {name!r} cannot be a folder name. "
            "Use letters, digits, '-', '_' or '.', at most 80 characters."
        )
    return cleaned


def cancel_job(folder: str | Path) -> None:
    """Asks the job to stop; it stops after the current step and saves nothing."""
    folder = Path(folder)
    (folder / "cancel").touch()
    status = read_status(folder)
    if status.state == "starting" and status.pid and _process_alive(status.pid):
        os.killpg(status.pid, signal.SIGTERM)  # not yet training: nothing to keep
        _update(
            folder, state="cancelled", message="cancelled on request; no model was saved", finished=_now()
        )


def _update(folder: Path, **changes: Any) -> None:
    values = json.loads((folder / "status.json").read_text(encoding="utf-8"))
    values.update(changes)
    write_json_atomic(folder / "status.json", values)


class _Reporter:
    """Training callbacks that write progress to status.json
    (at most twice a second) and read the cancel file."""

    def __init__(self, folder: Path, num_epochs: int):
        self.folder = folder
        self.num_epochs = num_epochs
        self.last_write = 0.0
        self.epoch_seconds: list[float] = []

    def on_progress(self, progress) -> None:
        now = time.monotonic()
        if now - self.last_write < 0.5 and progress.step != progress.steps:
            return
        self.last_write = now
        _update(
            self.folder,
            state="running",
            message=f"epoch {progress.epoch}, step {progress.step} of {progress.steps}",
            epoch=progress.epoch,
            step=progress.step,
            steps=progress.steps,
            elapsed_seconds=progress.elapsed_seconds,
            seconds_left=self._seconds_left(progress),
        )

    def _seconds_left(self, progress) -> float:
        """Time left if training runs all epochs (early stopping may end it sooner)."""
        per_step = progress.elapsed_seconds / max((progress.epoch - 1) * progress.steps + progress.step, 1)
        remaining_steps = (self.num_epochs - progress.epoch) * progress.steps + (
            progress.steps - progress.step
        )
        return per_step * remaining_steps

    def should_stop(self) -> bool:
        return (self.folder / "cancel").exists()


def run_job(folder: str | Path) -> int:
    """The worker: trains what spec.json says with the same function as `jman train`."""
    import torch

    from .config import build_config
    from .data import read_documents
    from .experiment import train_documents
    from .limits import current_limits
    from .training import Callbacks

    folder = Path(folder)
    spec = json.loads((folder / "spec.json").read_text(encoding="utf-8"))
    _update(folder, state="running", message="reading the data", pid=os.getpid())
    try:
        # leave the page server a core (JMAN_TRAINING_THREADS)
        torch.set_num_threads(current_limits().training_threads)
        config = build_config(None, spec["overrides"])
        documents = read_documents(folder / spec["data_file"], config.data)
        reporter = _Reporter(folder, config.training.num_epochs)
        callbacks = Callbacks(
            on_progress=reporter.on_progress,
            should_stop=reporter.should_stop,
            on_stage=lambda text: _update(folder, message=text),
        )
        _update(folder, message=f"preparing {len(documents):,} documents (vocabulary, word2vec)")
        result = train_documents(
            documents,
            config,
            spec["output"],
            callbacks,
            data_source=spec["data_name"],
            log_path=folder / "epochs.jsonl",
            save_when_stopped=False,
        )
    except JmanError as error:
        _update(folder, state="failed", message=str(error), finished=_now())
        return 2
    except Exception as error:  # the page shows the message; the log has the traceback
        traceback.print_exc()
        _update(folder, state="failed", message=f"{type(error).__name__}: {error}", finished=_now())
        return 1
    if reporter.should_stop():
        _update(
            folder, state="cancelled", message="cancelled on request; no model was saved", finished=_now()
        )
        return 0
    _update(
        folder,
        state="finished",
        message=result.stopped_because,
        finished=_now(),
        checkpoint=str(result.checkpoint or ""),
        metrics=result.metrics,
        per_label=result.statistics.get("per_label_test", []),
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_job(sys.argv[1]))
