"""The paper's tables II-V and the Reuters comparison on our data, as markdown, from stored runs.

Every (table setting, site, model, seed) is one run whose result is stored as JSON under
bench/results/runs/; a run already stored is not trained again, so the tables fill up over several
sessions (or machines) and --report re-draws them without training. Run by hand (hours on a 2-core CPU
at full settings; use a GPU with --device cuda, or --quick to check it runs):
    python bench/tables.py --tables II IV --sites crypto --seeds 1 2 3 --workers 2
    python bench/tables.py --tables III V --sites cooking --seeds 1
    python bench/tables.py --tables reuters
    python bench/tables.py --tables II --sites crypto --models JMAN-s --set training.learning_rate=0.002
    python bench/tables.py --report                # draw every table from the stored runs only
    python bench/tables.py --report --set training.output_bias_init=zero  # runs with the original zero bias
    python bench/tables.py --study --sites crypto --models BiGRU JMAN-s   # runs grouped by changed settings
    python bench/tables.py --quick                 # tiny settings on every table, minutes
Each table is printed and written to bench/results/tables-<tables>.md with the command, the date, the
machine and, per cell, how many seeds it averages.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
RESULTS = Path(__file__).resolve().parent / "results"
RUNS = RESULTS / "runs"
SITES = ("cooking", "biology", "crypto")
BASELINE_NAMES = ("tfidf-lr", "svm-linear", "svm-rbf", "lda")
TABLE_II = [
    "tfidf-lr",
    "svm-linear",
    "svm-rbf",
    "lda",
    "BiGRU",
    "HAN",
    "JMAN-s-tg",
    "JMAN-s-att",
    "JMAN-s",
    "JMAN",
    "JMANd",
]
TABLE_III = [
    (network, sim, sub)
    for network in ("BiGRU", "HAN", "JMAN-s")
    for sim, sub in ((0, 0), (1, 0), (0, 1), (1, 1))
]
TABLE_III_SUFFIX = {(0, 0): "", (1, 0): "+L_sim", (0, 1): "+L_sub", (1, 1): "+both"}
TABLE_V = ["JMAN-s+t-only", "JMAN-s+att-only", "JMAN-s+tg-only", "JMAN-s-att", "JMAN-s-tg", "JMAN-s"]
REUTERS_MODELS = ["svm-linear", "JMAN-s", "JMAN"]
METRICS = ["H", "A", "P", "R", "F1", "F1@t", "P@1", "nDCG@3"]
METRICS_NOTE = (
    "H: Hamming loss divided by the mean number of gold tags per document (the paper's Q), lower is better; "
    "it passes 100 when wrong plus missed tags outnumber the gold tags, as for LDA. A, P, R, F1: "
    "example-based, at threshold 0.5; F1@t at the threshold tuned on validation; "
    "P@1 and nDCG@3 from the ranking."
)
DEFAULT_LAMBDAS = (1e-3, 1e-2)


@dataclass(frozen=True)
class RunSpec:
    """One training run: a model on a site with a seed; `lambdas` (on/off for L_sim, L_sub) for Table III."""

    site: str
    model: str
    seed: int
    settings_json: str  # the overrides every run of the command shares, as sorted JSON
    lambdas: tuple[int, int] | None = None

    @property
    def name(self) -> str:
        return self.model + (TABLE_III_SUFFIX[self.lambdas] if self.lambdas is not None else "")

    @property
    def path(self) -> Path:
        digest = hashlib.sha256(legacy_settings_json(self.settings_json, self.model).encode()).hexdigest()[
            :10
        ]
        lambdas = "" if self.lambdas is None else f"-lambdas{self.lambdas[0]}{self.lambdas[1]}"
        return RUNS / self.site / f"{self.model}{lambdas}-seed{self.seed}-{digest}.json"


# Runs stored before training.output_bias_init existed used a zero output bias and did not name it; a run
# with "zero" is hashed without the key so that it finds them, and every other value makes a new digest.
# The non-neural baselines have no output bias: the setting never changes their digest.
LEGACY_DEFAULTS = {"training": {"output_bias_init": "zero"}}


def legacy_settings_json(settings_json: str, model: str) -> str:
    """`settings_json` without the settings whose value is the one runs had before they could be set
    (and, for a non-neural baseline, without the settings it does not read)."""
    settings = json.loads(settings_json)
    for section, values in LEGACY_DEFAULTS.items():
        for name, value in values.items():
            if name in settings.get(section, {}) and (
                settings[section][name] == value or model in BASELINE_NAMES
            ):
                del settings[section][name]
    return json.dumps(settings, sort_keys=True)


def run_overrides(spec: RunSpec) -> dict:
    """The build_config overrides of one run: the shared settings plus its seed, variation and lambdas."""
    from jman_core.config import split_legacy_model

    settings = json.loads(spec.settings_json)
    model, linear, _ = split_legacy_model(settings["model"])  # runs stored before issue 18 keep their digests
    overrides = {
        "data": dict(settings["data"]),
        "model": model,
        "text": dict(settings["text"]),
        "training": {**settings["training"], "seed": spec.seed},
        # The paper's tables are of the networks alone: the SVM blend only where a run asks for it.
        "linear": {"enabled": False, **linear, **settings.get("linear", {})},
    }
    if spec.model not in BASELINE_NAMES:
        overrides["model"]["variation"] = "JMAN" if spec.model == "JMANd" else spec.model
        overrides["training"]["dynamic_sem"] = spec.model == "JMANd"
    if spec.lambdas is not None:
        scale = settings["lambdas"]
        overrides["training"]["lambda_sim"] = scale[0] * spec.lambdas[0]
        overrides["training"]["lambda_sub"] = scale[1] * spec.lambdas[1]
    return overrides


@functools.lru_cache(maxsize=4)
def site_documents(site: str, data_json: str):
    """The documents of a Stack Exchange site, or of Reuters-21578 restricted to the 90 ModApte topics."""
    from jman_core.config import build_config
    from jman_core.data import read_documents, read_reuters

    if site != "reuters":
        return read_documents(
            DATASETS / "stackexchange" / f"{site}.csv.zip",
            build_config(None, {"data": json.loads(data_json)}).data,
        )
    documents = read_reuters(DATASETS / "reuters21578")
    train_topics = {tag for d in documents if d.part == "train" for tag in d.tags}
    test_topics = {tag for d in documents if d.part == "test" for tag in d.tags}
    kept = train_topics & test_topics
    documents = [replace(d, tags=[t for t in d.tags if t in kept]) for d in documents]
    return [d for d in documents if d.tags]


def claim(spec: RunSpec) -> bool:
    """Marks `spec` as being trained by this process; False when it is stored already or another live
    process has claimed it (two commands over the same tables then share the work)."""
    marker = spec.path.with_suffix(".claim")
    marker.parent.mkdir(parents=True, exist_ok=True)
    if spec.path.exists():
        return False
    try:
        owner = int(marker.read_text(encoding="utf-8"))
        os.kill(owner, 0)
        return owner == os.getpid()
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        pass  # no claim, or its process is gone: take it over
    marker.write_text(str(os.getpid()), encoding="utf-8")
    return True


def train_one(spec: RunSpec) -> tuple[dict, list[dict], int, str] | None:
    """Trains and tests one run; returns its row of test metrics (at 0.5, plus "F1@t" at the tuned threshold),
    its epoch history, the torch threads it used and its Bi-GRU path; None when the run is stored already or
    being trained by another command."""
    if not claim(spec):
        return None
    from jman_core.baselines import run_baseline
    from jman_core.config import build_config
    from jman_core.experiment import train_documents

    overrides = run_overrides(spec)
    documents = site_documents(spec.site, json.dumps(overrides["data"], sort_keys=True))
    started = time.monotonic()
    config = build_config(None, overrides)
    if spec.model in BASELINE_NAMES:
        result = run_baseline(spec.model, documents, config)
    else:
        result = train_documents(documents, config, None)
    metrics = result.metrics
    row = dict(metrics["test_at_0.5"])
    row["F1@t"] = metrics["test"]["F1"]
    row["P@1"], row["nDCG@3"] = metrics["test"]["P@1"], metrics["test"]["nDCG@3"]
    row["Micro-F1@t"], row["Macro-F1@t"] = metrics["test"]["Micro-F1"], metrics["test"]["Macro-F1"]
    row["seconds"] = result.training_seconds or (time.monotonic() - started)
    # a neural run's epochs (losses, validation F1, learning rate) show why it stopped where it did
    return (
        row,
        [asdict(record) for record in getattr(result, "history", [])],
        _threads(),
        bigru_path(spec, config),
    )


def bigru_path(spec: RunSpec, config) -> str:
    """How the run's Bi-GRUs ran: "padded" on a CPU since 2026-11-28, "packed" on CUDA (and on a CPU in
    every run stored before, which has no such field); "none" for the non-neural baselines."""
    from jman_core.training import resolve_device

    if spec.model in BASELINE_NAMES:
        return "none"
    return "packed" if resolve_device(config.training.device).type == "cuda" else "padded"


def store(spec: RunSpec, row: dict, epochs: list[dict], threads: int, path: str, command: str) -> None:
    """Writes one run's row and epoch history atomically with what produced it."""
    record = {
        "site": spec.site,
        "model": spec.name,
        "seed": spec.seed,
        "settings": json.loads(spec.settings_json),
        "row": row,
        "epochs": epochs,
        "command": command,
        "machine": machine(),
        "threads": threads,
        "bigru_path": path,
        "code": code_version(),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    spec.path.parent.mkdir(parents=True, exist_ok=True)
    temporary = spec.path.with_suffix(".tmp")
    temporary.write_text(json.dumps(record, indent=1), encoding="utf-8")
    os.replace(temporary, spec.path)


def load(spec: RunSpec) -> dict | None:
    return json.loads(spec.path.read_text(encoding="utf-8"))["row"] if spec.path.exists() else None


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def _start_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def execute(specs: list[RunSpec], workers: int, threads: int, command: str) -> None:
    """Trains every run not stored yet, `workers` at a time with `threads` torch threads each; every
    model's first seed before any second seed, so a run cut short still fills each column once."""
    unique = list(dict.fromkeys(specs))
    missing = sorted((spec for spec in unique if not spec.path.exists()), key=lambda spec: spec.seed)
    print(f"{len(unique) - len(missing)} runs stored, {len(missing)} to train", file=sys.stderr, flush=True)
    with ProcessPoolExecutor(workers, initializer=_start_worker, initargs=(threads,)) as pool:
        futures = {pool.submit(train_one, spec): spec for spec in missing}
        for future in as_completed(futures):
            spec = futures[future]
            outcome = future.result()
            if outcome is None:
                print(
                    f"{spec.site} {spec.name} seed {spec.seed}: stored or trained by another command",
                    file=sys.stderr,
                    flush=True,
                )
                continue
            row, epochs, threads, path = outcome
            store(spec, row, epochs, threads, path, command)
            spec.path.with_suffix(".claim").unlink(missing_ok=True)
            print(
                f"{spec.site} {spec.name} seed {spec.seed}: F1@t {100 * row['F1@t']:.1f}, "
                f"P@1 {100 * row['P@1']:.1f}, {row['seconds'] / 60:.1f} min",
                file=sys.stderr,
                flush=True,
            )


def collect(specs: list[RunSpec]) -> dict[str, list[dict]]:
    """The stored rows of `specs`, grouped by model name (in the order of `specs`)."""
    rows: dict[str, list[dict]] = {}
    for spec in specs:
        row = load(spec)
        rows.setdefault(spec.name, [])
        if row is not None:
            rows[spec.name].append(row)
    return rows


def summarise(rows_by_model: dict[str, list[dict]]) -> dict[str, tuple[int, dict[str, tuple[float, float]]]]:
    from jman_core.metrics import mean_and_std

    return {model: (len(rows), mean_and_std(rows) if rows else {}) for model, rows in rows_by_model.items()}


def ranks(summary, metric: str) -> dict[str, int]:
    lower_is_better = metric == "H"
    present = [model for model, (count, values) in summary.items() if count]
    order = sorted(present, key=lambda model: summary[model][1][metric][0] * (1 if lower_is_better else -1))
    return {model: position + 1 for position, model in enumerate(order)}


def metric_table(title: str, summary, metrics: list[str] = METRICS) -> str:
    from jman_core.metrics import format_mean_std

    models = list(summary)
    lines = [f"### {title}", "", "| metric | " + " | ".join(models) + " |", "|---|" + "---|" * len(models)]
    lines.append("| runs | " + " | ".join(str(summary[model][0]) for model in models) + " |")
    for metric in metrics:
        position = ranks(summary, metric)
        cells = [
            f"{format_mean_std(*summary[model][1][metric])} ({position[model]})" if summary[model][0] else "–"
            for model in models
        ]
        lines.append(f"| {metric} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def time_table(title: str, specs: list[RunSpec]) -> str:
    """Training minutes per model, apart by Bi-GRU path: the padded CPU path made the same runs up to 7x
    faster, so averaging across it would say nothing."""
    from jman_core.metrics import mean_and_std

    minutes: dict[str, dict[str, list[dict[str, float]]]] = {}
    for spec in specs:
        record = json.loads(spec.path.read_text(encoding="utf-8")) if spec.path.exists() else None
        by_path = minutes.setdefault(spec.name, {"packed": [], "padded": [], "none": []})
        if record is not None:
            by_path[record.get("bigru_path", "none" if spec.model in BASELINE_NAMES else "packed")].append(
                {"minutes": record["row"]["seconds"] / 60}
            )

    def cell(runs: list[dict]) -> str:
        if not runs:
            return "–"
        mean, std = mean_and_std(runs)["minutes"]
        return f"{mean:.1f} ± {std:.1f} ({len(runs)})"

    lines = [
        f"### {title}",
        "",
        "| model | non-neural (min, runs) | Bi-GRU packed (min, runs) | Bi-GRU padded (min, runs) |",
        "|---|---|---|---|",
    ]
    for model, by_path in minutes.items():
        lines.append(
            f"| {model} | {cell(by_path['none'])} | {cell(by_path['packed'])} | {cell(by_path['padded'])} |"
        )
    return "\n".join(lines) + (
        "\n\nMean ± std training minutes (runs). The neural networks' Bi-GRUs ran as packed "
        "sequences on the CPU until 2026-11-28 and over padded rows since: the same "
        "numbers, 1.3x faster for JMAN and 7x for the Bi-GRU baseline "
        "(`python bench/gru_paths.py`). Compare times within one column."
    )


def plan(arguments, settings_json: str, reuters_json: str) -> list[tuple[str, str, list[RunSpec]]]:
    """Every table section the command asks for: (kind, title, its runs)."""
    seeds = arguments.seeds
    sections = []
    for site in arguments.sites:
        if {"II", "IV"} & set(arguments.tables):
            specs = [
                RunSpec(site, model, seed, settings_json) for model in arguments.models for seed in seeds
            ]
            if "II" in arguments.tables:
                sections.append(
                    ("metrics", f"Table II, {site} (x100, mean ± std over seeds {seeds}, rank)", specs)
                )
            if "IV" in arguments.tables:
                sections.append(("time", f"Table IV, {site}: training time on this machine", specs))
        if "III" in arguments.tables:
            # the (0, 0) row is the plain network, the same run as in Table II
            specs = [
                RunSpec(site, network, seed, settings_json, None if (sim, sub) == (0, 0) else (sim, sub))
                for network, sim, sub in TABLE_III
                if network in arguments.models
                for seed in seeds
            ]
            sections.append(
                ("metrics", f"Table III, {site}: semantic regularisers (x100, seeds {seeds})", specs)
            )
        if "V" in arguments.tables:
            specs = [RunSpec(site, model, seed, settings_json) for model in TABLE_V for seed in seeds]
            sections.append(
                ("metrics", f"Table V, {site}: multi-source components (x100, seeds {seeds})", specs)
            )
    if "reuters" in arguments.tables:
        specs = [RunSpec("reuters", model, seed, reuters_json) for model in REUTERS_MODELS for seed in seeds]
        sections.append(("reuters", f"Reuters-21578 ModApte (90 topics), test (x100, seeds {seeds})", specs))
    return sections


def render(kind: str, title: str, specs: list[RunSpec]) -> str:
    if kind == "time":
        return time_table(title, specs)
    summary = summarise(collect(specs))
    if kind == "reuters":
        table = metric_table(
            title, summary, ["Micro-F1", "Macro-F1", "Micro-F1@t", "Macro-F1@t", "F1@t", "P@1"]
        )
        return (
            table + "\n\nMicro-F1 and Macro-F1 at 0.5; @t at the threshold tuned on validation. "
            "Published anchor: micro-F1 about 86-87 for linear SVMs on ModApte."
        )
    return metric_table(title, summary) + "\n\n" + METRICS_NOTE


def settings_changes(settings: dict, reference: dict, model: str) -> str:
    """The settings of a stored run that differ from `reference`,
    as "section.name=value" (or "as the tables")."""
    changes = []
    for section in ("data", "text", "model", "training"):
        for name in sorted(set(settings.get(section, {})) | set(reference.get(section, {}))):
            if model in BASELINE_NAMES and name in LEGACY_DEFAULTS.get(section, {}):
                continue
            value = settings.get(section, {}).get(name, LEGACY_DEFAULTS.get(section, {}).get(name))
            if value != reference.get(section, {}).get(name):
                changes.append(f"{section}.{name}={json.dumps(value)}")
    return ", ".join(changes) or "as the tables"


def settings_study(site: str, models: list[str], reference: dict) -> str:
    """Every stored run of `models` on `site`, grouped by its settings: what each change did."""
    from jman_core.metrics import format_mean_std, mean_and_std

    groups: dict[tuple[str, str, int], list[dict]] = {}
    for path in sorted((RUNS / site).glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        if record["model"] in models:
            # the command line says what a run used (runs stored
            # before 2026-11-27 recorded the parent's threads)
            threads = _command_threads(record["command"])
            key = (record["model"], settings_changes(record["settings"], reference, record["model"]), threads)
            groups.setdefault(key, []).append(record["row"])
    lines = [
        f"### Settings study, {site} (x100, mean ± std over the stored runs of each setting)",
        "",
        "| model | settings changed | runs | F1@t | P@1 | nDCG@3 | F1 at 0.5 "
        "| training min (torch threads) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (model, changes, threads), rows in sorted(
        groups.items(), key=lambda item: (models.index(item[0][0]), item[0][1] != "as the tables", item[0][1])
    ):
        summary = mean_and_std(rows)
        cells = [format_mean_std(*summary[metric]) for metric in ("F1@t", "P@1", "nDCG@3", "F1")]
        lines.append(
            f"| {model} | {changes} | {len(rows)} | "
            + " | ".join(cells)
            + f" | {summary['seconds'][0] / 60:.1f} ({threads}) |"
        )
    return "\n".join(lines)


def _command_threads(command: str) -> int:
    """The torch threads each run of a bench/tables.py
    command line used (--threads, else cores / --workers)."""
    words = command.split()
    if "--threads" in words and int(words[words.index("--threads") + 1]):
        return int(words[words.index("--threads") + 1])
    workers = int(words[words.index("--workers") + 1]) if "--workers" in words else 1
    return max(1, (os.cpu_count() or 1) // workers)


def parse_settings(arguments) -> dict:
    """The shared overrides: the paper's schedule with this command's epochs and device, then --set values."""
    settings = {
        "data": {"split": "canonical", "min_label_count": 10},
        "text": {},
        "model": {},
        "training": {
            "num_epochs": arguments.num_epochs,
            "early_stop_lr": arguments.early_stop_lr,
            "device": arguments.device,
            "output_bias_init": "prior",
        },
        "lambdas": list(DEFAULT_LAMBDAS),
    }
    if arguments.quick:
        settings["training"].update(num_epochs=1, word2vec_epochs=1)
        settings["model"].update(hidden_size=16, embedding_dim=16)
    for assignment in arguments.set:
        key, _, value = assignment.partition("=")
        section, _, name = key.partition(".")
        if section not in ("data", "text", "model", "training", "linear") or not name or not value:
            raise SystemExit(
                f"--set {assignment!r}: write SECTION.NAME=VALUE, SECTION one of data, text, model, "
                "training, linear."
            )
        try:
            settings.setdefault(section, {})[name] = json.loads(value)
        except json.JSONDecodeError:
            settings.setdefault(section, {})[name] = value
    return settings


@functools.cache
def code_version() -> str:
    """The git commit that trained a run ("+changes" when the tree had uncommitted edits); `main` asks
    first, so a commit made while the command runs is not credited with its runs."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+changes" if dirty else "")


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, {platform.processor() or 'cpu'}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--tables",
        nargs="+",
        default=["II", "III", "IV", "V", "reuters"],
        choices=["II", "III", "IV", "V", "reuters"],
    )
    parser.add_argument("--sites", nargs="+", default=list(SITES), choices=SITES)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument(
        "--models",
        nargs="+",
        default=TABLE_II,
        help="models of tables II and IV; Table III takes those of BiGRU, HAN, JMAN-s named here",
    )
    parser.add_argument("--num_epochs", type=int, default=30)
    parser.add_argument("--early_stop_lr", type=float, default=1e-3)
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.NAME=VALUE",
        help="override one setting of every run, e.g. training.learning_rate=0.002 (repeatable)",
    )
    parser.add_argument("--workers", type=int, default=1, help="runs trained at the same time")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads per run (default: cores / workers)"
    )
    parser.add_argument("--report", action="store_true", help="only draw the tables from the stored runs")
    parser.add_argument(
        "--study",
        action="store_true",
        help="only list every stored run of --models on --sites grouped by the settings it changed",
    )
    parser.add_argument("--output", default="", help="markdown file to write (default: tables-<tables>.md)")
    parser.add_argument("--quick", action="store_true", help="tiny settings to check the whole script runs")
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.seeds = arguments.seeds[:1]
        global RUNS
        RUNS = RESULTS / "runs-quick"  # tiny-settings runs are checks, not results: never mixed with them
    settings = parse_settings(arguments)
    settings_json = json.dumps(settings, sort_keys=True)
    reuters_settings = {
        **settings,
        "data": {**settings["data"], "split": "predefined", "min_label_count": 1, "normalise_tags": False},
    }
    sections = plan(arguments, settings_json, json.dumps(reuters_settings, sort_keys=True))
    command = "python " + " ".join(sys.argv)
    if arguments.study:
        sections_text = [settings_study(site, arguments.models, settings) for site in arguments.sites]
        return _write(
            f"Generated {date.today()} on {machine()}, command: {command}\n\n"
            + "\n\n".join(sections_text)
            + "\n",
            arguments.output or "settings-study.md",
        )
    if not arguments.report:
        code_version()
        threads = arguments.threads or max(1, (os.cpu_count() or 1) // arguments.workers)
        execute([spec for _, _, specs in sections for spec in specs], arguments.workers, threads, command)
    header = f"Generated {date.today()} on {machine()}, command: {command}\n" + (
        "\nSettings given with --set (the paper's schedule otherwise; "
        f"output bias from the label priors unless set): {', '.join(arguments.set)}\n"
        if arguments.set
        else ""
    )
    text = header + "\n" + "\n\n".join(render(*section) for section in sections) + "\n"
    return _write(
        text,
        arguments.output or f"tables-{'-'.join(arguments.tables)}{'-quick' if arguments.quick else ''}.md",
    )


def _write(text: str, name: str) -> int:
    """Prints `text` and writes it to bench/results/`name`."""
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / name).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
