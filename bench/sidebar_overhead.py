"""How much slower is training from the app's sidebar than `jman train` on the same settings?

Both start a fresh process: the command line, and the job worker the sidebar's "Start training" button
starts (jman_core.jobs.start_job, which the button calls). Each gets its own empty word2vec cache so
neither profits from the other. Run by hand on an otherwise idle machine:
    python bench/sidebar_overhead.py --site cooking --num_epochs 3
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jman_core.jobs import read_status, start_job  # noqa: E402

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "stackexchange"


def settings(epochs: int, cache: Path) -> dict:
    """What the sidebar sends with its default options (random split, 10% test, 10% validation)."""
    return {
        "data": {"split": "random", "test_fraction": 0.1, "validation_fraction": 0.1, "min_label_count": 10},
        "model": {"variation": "JMAN-s"},
        "training": {
            "num_epochs": epochs,
            "seed": 42,
            "device": "cpu",
            "cache_dir": str(cache),
            "lambda_sim": 0.0,
            "lambda_sub": 0.0,
        },
    }


def run_command_line(data: Path, epochs: int, work: Path) -> float:
    started = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "jman_core",
            "train",
            "--data",
            str(data),
            "--output",
            str(work / "cli-model"),
            "--split",
            "random",
            "--num_epochs",
            str(epochs),
            "--seed",
            "42",
            "--device",
            "cpu",
            "--variations",
            "JMAN-s",
            "--cache_dir",
            str(work / "cache-cli"),
            "--quiet",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.monotonic() - started


def run_sidebar_job(data: Path, epochs: int, work: Path) -> tuple[float, float]:
    started = time.monotonic()
    status = start_job(
        work / "jobs",
        "sidebar-model",
        data.name,
        data.read_bytes(),
        settings(epochs, work / "cache-job"),
        work / "checkpoints",
    )
    while read_status(status.folder).active:
        time.sleep(0.5)
    final = read_status(status.folder)
    if final.state != "finished":
        raise SystemExit(f"the job ended as {final.state}: {final.message}")
    return time.monotonic() - started, final.elapsed_seconds


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--site", default="cooking")
    parser.add_argument("--num_epochs", type=int, default=3)
    arguments = parser.parse_args()
    data = DATASETS / f"{arguments.site}.csv.zip"
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        command_line = run_command_line(data, arguments.num_epochs, work)
        sidebar, training_only = run_sidebar_job(data, arguments.num_epochs, work)
    print(f"| {arguments.site}, {arguments.num_epochs} epochs | command line | sidebar job | overhead |")
    print("|---|---|---|---|")
    print(
        f"| wall time, start to saved model | {command_line:.1f} s | {sidebar:.1f} s | "
        f"{sidebar - command_line:+.1f} s ({100 * (sidebar / command_line - 1):+.1f}%) |"
    )
    print(f"\n(the job's own clock, training loop only: {training_only:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
