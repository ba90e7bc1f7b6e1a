"""The curation workspace's costs (issue 16, requirement 10).

    python bench/workspace.py [--checkpoint checkpoints/stackexchange-cooking] [--documents 10000]
        [--clicks 200]

Prints:
- the time from a click to its decision being durable (committed, fsync'd), median and p99 over `--clicks`
  decisions, on SQLite (WAL, synchronous=FULL) and on a PostgreSQL server started here with fsync on;
- the time to import a file of `--documents` cooking questions as a collection, and to score it with the
  model;
- the database's size per 1,000 documents imported and scored, and per 1,000 documents reviewed.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY_ROOT))
sys.path.insert(0, str(REPOSITORY_ROOT / "tests"))
DATASET = REPOSITORY_ROOT.parent / "shared" / "datasets" / "stackexchange" / "cooking.csv.zip"

from jman_core.workspace import Workspace, forget_stores  # noqa: E402
from jman_core.workspace.scoring import import_file, register_predictor, score_collection  # noqa: E402


def collection_bytes(count: int) -> bytes:
    if not DATASET.exists():
        raise SystemExit(f"{DATASET} is missing: this benchmark reads the cooking questions from ../shared")
    with zipfile.ZipFile(DATASET) as archive:
        text = archive.read(archive.namelist()[0]).decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))[:count]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["id", "title", "content", "tags"])
    writer.writeheader()
    writer.writerows({key: row[key] for key in ("id", "title", "content", "tags")} for row in rows)
    return buffer.getvalue().encode("utf-8")


def click_timings(url: str, clicks: int) -> list[float]:
    """Seconds per decision, each one a committed transaction, as one click in the app."""
    workspace = Workspace.open(url)
    data = b"id,title,content\n" + b"".join(f"{n},Title {n},Content {n}\n".encode() for n in range(clicks))
    collection = import_file(workspace, "clicks.csv", data)
    documents = workspace.documents(collection.id)
    timings = []
    for number, document in enumerate(documents):
        start = time.perf_counter()
        workspace.decide(document.id, "bench", f"tag-{number % 7}", "accept" if number % 2 else "reject", 0.5)
        timings.append(time.perf_counter() - start)
    forget_stores()
    return timings


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def durability_rows(folder: Path, clicks: int) -> list[str]:
    from postgres_server import PostgresServer, postgres_binaries

    rows = []
    sqlite_timings = click_timings(f"sqlite:///{folder / 'clicks.sqlite'}", clicks)
    rows.append(("SQLite (WAL, synchronous=FULL)", sqlite_timings))
    if postgres_binaries() is not None:
        server_folder = Path(tempfile.mkdtemp(prefix="jman-bench-postgres-"))
        server = PostgresServer(server_folder)
        server.start(durable=True)
        try:
            rows.append(
                ("PostgreSQL 15 (fsync on, loopback)", click_timings(server.create_database("bench"), clicks))
            )
        finally:
            server.stop()
            shutil.rmtree(server_folder, ignore_errors=True)
    return [
        f"| {name} | {1000 * statistics.median(values):.1f} | {1000 * percentile(values, 0.99):.1f} "
        f"| {len(values)} |"
        for name, values in rows
    ]


def size_of(path: Path) -> int:
    return sum(candidate.stat().st_size for candidate in path.parent.glob(path.name + "*"))


def scale_rows(folder: Path, checkpoint: str, count: int) -> list[str]:
    from jman_core.predict import Predictor

    path = folder / "scale.sqlite"
    workspace = Workspace.open(f"sqlite:///{path}")
    data = collection_bytes(count)
    start = time.perf_counter()
    collection = import_file(workspace, "cooking.csv", data)
    imported = time.perf_counter() - start
    empty_size = size_of(path)
    predictor = Predictor.from_checkpoint(checkpoint)
    model = register_predictor(workspace, predictor, checkpoint, Path(checkpoint).name)
    start = time.perf_counter()
    score_collection(workspace, collection.id, predictor, model)
    scored = time.perf_counter() - start
    scored_size = size_of(path)
    reviewed = review_documents(workspace, collection.id, model, predictor.threshold, 1000)
    reviewed_size = size_of(path)
    forget_stores()
    return [
        f"| import {count:,} documents as a collection | {imported:.1f} s |",
        f"| score them with {Path(checkpoint).name} ({len(predictor.labels)} tags) | {scored:.1f} s "
        f"({count / scored:.0f} documents/s) |",
        f"| database size per 1,000 documents imported | {empty_size / count * 1000 / 1e6:.2f} MB |",
        f"| database size per 1,000 documents scored (every tag's score) | "
        f"{(scored_size - empty_size) / count * 1000 / 1e6:.2f} MB |",
        f"| database size per 1,000 documents reviewed ({reviewed} decisions) | "
        f"{(reviewed_size - scored_size) / 1e6:.2f} MB |",
    ]


def review_documents(workspace: Workspace, collection_id: int, model, threshold: float, count: int) -> int:
    """Reviews `count` documents as a curator would: rejects
    the first proposal, accepts the rest, marks reviewed."""
    from jman_core.workspace.queue import proposals

    scores = workspace.scores(collection_id, model)
    decisions = 0
    for document in workspace.documents(collection_id)[:count]:
        proposed = proposals(scores.get(document.id), model.labels, threshold)
        verdicts = [
            (item.tag, "reject" if index == 0 else "accept", item.score)
            for index, item in enumerate(proposed)
        ]
        for tag, verdict, score in verdicts:
            workspace.decide(document.id, "bench", tag, verdict, score)
        workspace.set_status(document.id, "bench", "reviewed")
        decisions += len(verdicts) + 1
    return decisions


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--checkpoint", default=str(REPOSITORY_ROOT / "checkpoints" / "stackexchange-cooking")
    )
    parser.add_argument("--documents", type=int, default=10_000)
    parser.add_argument("--clicks", type=int, default=200)
    arguments = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="jman-bench-workspace-"))
    try:
        durability = durability_rows(folder, arguments.clicks)
        scale = scale_rows(folder, arguments.checkpoint, arguments.documents)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(
        f"Load average {os.getloadavg()[0]:.2f}; "
        f"torch threads {os.environ.get('OMP_NUM_THREADS', 'default')}."
    )
    print("| store | click to durable, median ms | p99 ms | clicks |")
    print("|---|---|---|---|")
    print("\n".join(durability))
    print()
    print("| what | measured |")
    print("|---|---|")
    print("\n".join(scale))


if __name__ == "__main__":
    main()
