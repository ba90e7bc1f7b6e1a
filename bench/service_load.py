"""Load test of `jman serve`: concurrent clients against gunicorn workers, latency and memory per worker.

    OMP_NUM_THREADS=1 python bench/service_load.py [--clients 50] [--seconds 60] [--workers 2]
        [--model stackexchange-cooking] [--explain_every 4]

Starts `jman serve --workers N` on a free port over checkpoints/ (OMP_NUM_THREADS=1 in the workers), warms
each worker with one request of each kind, then runs the clients (httpx, one asyncio loop) for the given
time: each sends the sample documents in turn, every `explain_every`-th request an explain, the rest
suggests, and waits for each answer (no request is abandoned: the timeout is generous). Prints one
Markdown table: requests, failures, requests per second, p50 and p99 latency per endpoint; then the
resident memory of each worker (at the start, the peak sampled once a second, at the end) and the load
average. The clients run on the same machine as the server, so they take some of its CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"suggest": [], "explain": []})
    failures: dict[str, list[str]] = field(default_factory=lambda: {"suggest": [], "explain": []})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def sample_documents() -> list[dict[str, str]]:
    documents = []
    for path in sorted((REPOSITORY_ROOT / "sample_docs").glob("*.json")):
        values = json.loads(path.read_text(encoding="utf-8"))
        documents.append({"title": values.get("title", ""), "content": values.get("content", "")})
    return documents


def start_server(port: int, workers: int, folder: Path) -> subprocess.Popen:
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    environment.pop("JMAN_API_KEYS", None)
    log = open(folder / "server.log", "w")  # noqa: SIM115 - open while the server runs
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jman_core",
            "serve",
            "--checkpoints",
            str(REPOSITORY_ROOT / "checkpoints"),
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--database",
            f"sqlite:///{folder / 'workspace.sqlite'}",
        ],
        cwd=REPOSITORY_ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_until_up(url: str, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the server exited before answering; see its log")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.3)
    raise SystemExit(f"the server did not answer within {seconds:.0f} s")


def worker_pids(master: int) -> list[int]:
    """The gunicorn master's children (its workers), from /proc."""
    children = []
    for task in Path(f"/proc/{master}/task").iterdir():
        children += [int(pid) for pid in (task / "children").read_text().split()]
    return sorted(children)


def resident_mebibytes(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class MemorySampler(threading.Thread):
    """The peak resident memory of each worker, sampled once a second."""

    def __init__(self, pids: list[int]):
        super().__init__(daemon=True)
        self.pids = pids
        self.peaks = {pid: resident_mebibytes(pid) for pid in pids}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            for pid in self.pids:
                self.peaks[pid] = max(self.peaks[pid], resident_mebibytes(pid))


async def one_client(
    client: httpx.AsyncClient,
    path: str,
    documents: list[dict],
    explain_every: int,
    offset: int,
    stop_at: float,
    results: Results,
) -> None:
    count = offset
    while time.monotonic() < stop_at:
        kind = "explain" if count % explain_every == 0 else "suggest"
        document = documents[count % len(documents)]
        count += 1
        start = time.perf_counter()
        try:
            response = await client.post(f"{path}/{kind}", json=document)
            if response.status_code != 200:
                results.failures[kind].append(f"{response.status_code}: {response.text[:200]}")
                continue
        except httpx.HTTPError as error:
            results.failures[kind].append(f"{type(error).__name__}: {error}")
            continue
        results.latencies[kind].append(time.perf_counter() - start)


async def run_clients(
    url: str, model: str, clients: int, seconds: float, explain_every: int
) -> tuple[Results, float]:
    documents = sample_documents()
    results = Results()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:
        start = time.monotonic()
        await asyncio.gather(
            *(
                one_client(
                    client, f"/v1/models/{model}", documents, explain_every, number, start + seconds, results
                )
                for number in range(clients)
            )
        )
        return results, time.monotonic() - start


def warm(url: str, model: str, workers: int) -> None:
    """Each worker loads the model on its first request:
    concurrent requests of each kind reach every worker."""
    document = sample_documents()[0]

    def send(kind: str) -> None:
        with httpx.Client(base_url=url, timeout=120) as client:
            for _ in range(4):
                client.post(f"/v1/models/{model}/{kind}", json=document).raise_for_status()

    threads = [
        threading.Thread(target=send, args=(kind,))
        for kind in ("suggest", "explain")
        for _ in range(2 * workers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))] if ordered else float("nan")


def report(
    results: Results,
    elapsed: float,
    memory: dict[int, tuple[float, float, float]],
    arguments,
    load_before: str,
    load_after: str,
) -> str:
    lines = [
        f"`jman serve --workers {arguments.workers}` on {arguments.model}: "
        f"{arguments.clients} concurrent clients for {elapsed:.0f} s "
        f"(every {arguments.explain_every}th request an explain), OMP_NUM_THREADS=1, "
        f"{os.cpu_count()} cores shared with the clients.",
        "",
        "| endpoint | answered | failed | requests/s | p50 ms | p99 ms |",
        "|---|---|---|---|---|---|",
    ]
    for kind in ("suggest", "explain"):
        values = results.latencies[kind]
        lines.append(
            f"| {kind} | {len(values)} | {len(results.failures[kind])} | {len(values) / elapsed:.1f} | "
            f"{1000 * percentile(values, 0.5):.0f} | {1000 * percentile(values, 0.99):.0f} |"
        )
    every = results.latencies["suggest"] + results.latencies["explain"]
    failed = sum(map(len, results.failures.values()))
    lines.append(
        f"| all | {len(every)} | {failed} | {len(every) / elapsed:.1f} | "
        f"{1000 * percentile(every, 0.5):.0f} | {1000 * percentile(every, 0.99):.0f} |"
    )
    lines += [
        "",
        "| worker pid | RSS after warm-up MiB | peak RSS MiB | RSS at end MiB |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {pid} | {start:.0f} | {peak:.0f} | {end:.0f} |" for pid, (start, peak, end) in memory.items()
    ]
    lines += ["", f"Load average before: {load_before}; after: {load_after}."]
    for kind, messages in results.failures.items():
        lines += [f"First {kind} failures: {messages[:3]}"] if messages else []
    return "\n".join(lines)


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model", default="stackexchange-cooking")
    parser.add_argument(
        "--explain_every", type=int, default=4, help="every Nth request of a client is an explain"
    )
    parser.add_argument("--output", help="also write the table to this file")
    arguments = parser.parse_args()
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="jman-load-") as folder:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start_server(port, arguments.workers, Path(folder))
        try:
            wait_until_up(url, server)
            warm(url, arguments.model, arguments.workers)
            pids = worker_pids(server.pid)
            sampler = MemorySampler(pids)
            warmed = dict(sampler.peaks)
            sampler.start()
            results, elapsed = asyncio.run(
                run_clients(
                    url, arguments.model, arguments.clients, arguments.seconds, arguments.explain_every
                )
            )
            sampler.stop.set()
            memory = {pid: (warmed[pid], sampler.peaks[pid], resident_mebibytes(pid)) for pid in pids}
        finally:
            server.terminate()
            server.wait(timeout=30)
            complaints = [
                line
                for line in (Path(folder) / "server.log").read_text().splitlines()
                if "WARNING" in line or "ERROR" in line or "CRITICAL" in line
            ]
    table = report(results, elapsed, memory, arguments, load_before, load_average())
    print(table)
    if complaints:
        print("Server log warnings and errors (last 20):", *complaints[-20:], sep="\n")
    if arguments.output:
        Path(arguments.output).write_text(table + "\n", encoding="utf-8")
    return 1 if any(results.failures.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
