"""Tests for training jobs in a separate process: finish, one at a time, cancel, killed worker, listing."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from jman_core.errors import ConfigError
from jman_core.jobs import (
    JobAlreadyRunning,
    cancel_job,
    checked_model_name,
    list_jobs,
    read_status,
    start_job,
)


def overrides(cache_dir: Path, epochs: int) -> dict:
    return {
        "data": {"min_label_count": 2},
        "text": {"min_word_frequency": 1},
        "model": {"hidden_size": 8, "embedding_dim": 8},
        "training": {
            "num_epochs": epochs,
            "batch_size": 16,
            "word2vec_epochs": 1,
            "cache_dir": str(cache_dir),
            "early_stop_lr": 1e-9,
            "device": "cpu",
        },
    }


def wait_for(folder: Path, predicate, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = read_status(folder)
        if predicate(status):
            return status
        time.sleep(0.2)
    raise AssertionError(
        f"timed out; last status: {read_status(folder)}; log: {(folder / 'log.txt').read_text()[-2000:]}"
    )


@pytest.fixture
def places(tmp_path, cache_dir, monkeypatch):
    # the worker inherits the environment: one thread is as fast for these tiny models and does not
    # spin against other processes on a two-core machine
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    return tmp_path / "jobs", tmp_path / "checkpoints", cache_dir


def test_a_job_trains_in_its_own_process_and_saves_a_model(places, data_csv):
    jobs, checkpoints, cache = places
    status = start_job(
        jobs, "my-model", "tagged.csv", data_csv.read_bytes(), overrides(cache, 2), checkpoints
    )
    assert status.pid and status.pid != os.getpid()
    folder = Path(status.folder)
    final = wait_for(folder, lambda s: not s.active)
    assert final.state == "finished", final.message
    assert (checkpoints / "my-model" / "checkpoint.json").exists()
    assert final.metrics["test"]["P@1"] >= 0 and final.per_label and "label" in final.per_label[0]
    epochs = [json.loads(line) for line in (folder / "epochs.jsonl").read_text().splitlines()]
    assert [record["epoch"] for record in epochs] == [1, 2]
    assert [job.job_id for job in list_jobs(jobs)] == [final.job_id]


def test_one_training_at_a_time_and_cancel_leaves_no_model(places, data_csv):
    jobs, checkpoints, cache = places
    status = start_job(jobs, "long", "tagged.csv", data_csv.read_bytes(), overrides(cache, 200), checkpoints)
    folder = Path(status.folder)
    with pytest.raises(JobAlreadyRunning, match="one training at a time"):
        start_job(jobs, "second", "tagged.csv", data_csv.read_bytes(), overrides(cache, 1), checkpoints)
    wait_for(folder, lambda s: s.state == "running" and s.epoch >= 1)
    cancel_job(folder)
    final = wait_for(folder, lambda s: not s.active)
    assert final.state == "cancelled"
    assert not (checkpoints / "long").exists()
    assert not list(checkpoints.glob(".*")) if checkpoints.exists() else True


def test_a_killed_worker_is_reported_and_leaves_no_corrupt_checkpoint(places, data_csv):
    jobs, checkpoints, cache = places
    status = start_job(
        jobs, "killed", "tagged.csv", data_csv.read_bytes(), overrides(cache, 200), checkpoints
    )
    folder = Path(status.folder)
    running = wait_for(folder, lambda s: s.state == "running" and s.epoch >= 1)
    os.killpg(running.pid, signal.SIGKILL)
    final = wait_for(folder, lambda s: not s.active, timeout=30)
    assert final.state == "died" and "no model" in final.message
    assert not (checkpoints / "killed").exists()
    # a new job may start once the dead one is recognised
    again = start_job(jobs, "after", "tagged.csv", data_csv.read_bytes(), overrides(cache, 1), checkpoints)
    assert wait_for(Path(again.folder), lambda s: not s.active).state == "finished"


def test_a_bad_file_fails_with_the_readers_message(places):
    jobs, checkpoints, cache = places
    status = start_job(jobs, "bad", "bad.csv", b"title,body\nonly,two\n", overrides(cache, 1), checkpoints)
    final = wait_for(Path(status.folder), lambda s: not s.active)
    assert final.state == "failed" and "tags" in final.message
    assert not (checkpoints / "bad").exists()


@pytest.mark.parametrize("name", ["", "../escape", ".hidden", "with space", "a/b"])
def test_model_names_must_be_folder_names(name):
    with pytest.raises(ConfigError, match="folder name"):
        checked_model_name(name)


def test_bad_settings_are_refused_before_a_process_starts(places, data_csv):
    jobs, checkpoints, cache = places
    settings = overrides(cache, 1)
    settings["model"]["variation"] = "JMAN-x"
    with pytest.raises(ConfigError, match="Unknown variation"):
        start_job(jobs, "x", "tagged.csv", data_csv.read_bytes(), settings, checkpoints)
    assert list_jobs(jobs) == []


_REAL_POPEN = __import__("subprocess").Popen


class _SleepingProcess:
    """Stands in for the worker: a real process (so its pid is alive) that does nothing for a while."""

    def __init__(self, *arguments, **options):
        self._process = _REAL_POPEN(["sleep", "30"], start_new_session=True)
        self.pid = self._process.pid


def test_two_simultaneous_starts_start_one_training(places, data_csv, monkeypatch):
    import threading

    import jman_core.jobs as jobs_module

    jobs, checkpoints, cache = places
    monkeypatch.setattr(jobs_module.subprocess, "Popen", _SleepingProcess)
    barrier, outcomes = threading.Barrier(4), []

    def start(number: int) -> None:
        barrier.wait()
        try:
            outcomes.append(
                start_job(
                    jobs,
                    f"model-{number}",
                    "tagged.csv",
                    data_csv.read_bytes(),
                    overrides(cache, 1),
                    checkpoints,
                )
            )
        except JobAlreadyRunning:
            outcomes.append("refused")

    threads = [threading.Thread(target=start, args=(number,)) for number in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    started = [outcome for outcome in outcomes if outcome != "refused"]
    for job in started:
        os.killpg(job.pid, signal.SIGKILL)
    assert len(started) == 1 and outcomes.count("refused") == 3


def test_a_job_killed_just_after_saving_is_finished_with_its_model(places, data_csv, monkeypatch):
    import jman_core.jobs as jobs_module

    jobs, checkpoints, cache = places
    monkeypatch.setattr(jobs_module.subprocess, "Popen", _SleepingProcess)
    status = start_job(jobs, "saved", "tagged.csv", data_csv.read_bytes(), overrides(cache, 1), checkpoints)
    jobs_module._update(Path(status.folder), state="running")
    (checkpoints / "saved").mkdir(parents=True)
    (checkpoints / "saved" / "checkpoint.json").write_text("{}", encoding="utf-8")  # saved, then killed:
    os.killpg(status.pid, signal.SIGKILL)
    os.waitpid(status.pid, 0)
    final = read_status(status.folder)
    assert (final.state, final.checkpoint) == ("finished", str((checkpoints / "saved").resolve())), (
        final.message
    )


def test_a_job_cancelled_while_starting_is_cancelled_not_died(places, data_csv, monkeypatch):
    import jman_core.jobs as jobs_module

    jobs, checkpoints, cache = places
    monkeypatch.setattr(jobs_module.subprocess, "Popen", _SleepingProcess)
    status = start_job(jobs, "early", "tagged.csv", data_csv.read_bytes(), overrides(cache, 1), checkpoints)
    assert status.state == "starting"
    cancel_job(status.folder)
    os.waitpid(status.pid, 0)
    final = read_status(status.folder)
    assert final.state == "cancelled" and not (checkpoints / "early").exists(), final.message
