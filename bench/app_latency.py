"""App latency on the shipped checkpoint and the sample documents: warm explain + figures, and AppTest runs.

    python bench/app_latency.py [--checkpoint checkpoints/stackexchange-cooking] [--repeats 20]

Prints, per sample document, the median of `explain`, of building the Fig. 4 plotly figure and the altair
chart, of their sum, and of `tag_evidence` + its figure; then the wall time of AppTest runs of the app.
The timings run in a worker thread, as Streamlit runs a page's script: on a busy machine, torch's
intra-op threads called from the main thread can be many times slower than from a worker thread.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY_ROOT))

from app.components.attention import sentence_attention_chart, sentence_attention_table  # noqa: E402
from app.components.heatmap import attention_grid, evidence_grid, heatmap_figure  # noqa: E402
from app.documents import read_samples  # noqa: E402
from jman_core.predict import Predictor  # noqa: E402


def median_seconds(action, repeats: int) -> float:
    action()  # warm: first call pays for lazy initialisation
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def build_figures(explanation, variation: str) -> None:
    heatmap_figure(attention_grid(explanation, variation))
    table = sentence_attention_table(explanation)
    if not table.empty:
        sentence_attention_chart(table).to_dict()


def document_timings(predictor: Predictor, sample, repeats: int) -> dict[str, float]:
    variation = predictor.metadata.model_config.variation
    explanation = predictor.explain(sample.title, sample.content)
    label = explanation.prediction.tags[0].label
    return {
        "explain": median_seconds(lambda: predictor.explain(sample.title, sample.content), repeats),
        "figures": median_seconds(lambda: build_figures(explanation, variation), repeats),
        "explain+figures": median_seconds(
            lambda: build_figures(predictor.explain(sample.title, sample.content), variation), repeats
        ),
        "evidence+figure": median_seconds(
            lambda: heatmap_figure(
                evidence_grid(
                    explanation.document, predictor.tag_evidence(sample.title, sample.content, label)
                )
            ),
            repeats,
        ),
    }


def in_worker_thread(function, *arguments):
    """function(*arguments) run in a new thread, as Streamlit's script runner does; returns its result."""
    results = []
    worker = threading.Thread(target=lambda: results.append(function(*arguments)))
    worker.start()
    worker.join()
    return results[0]


def apptest_timings(checkpoint: Path) -> dict[str, float]:
    """Wall time of AppTest runs: the first page (loads the model), a sample's prediction, a slider move."""
    from streamlit.testing.v1 import AppTest

    os.environ["JMAN_CHECKPOINTS_DIR"] = str(checkpoint.parent)
    app = AppTest.from_file(str(REPOSITORY_ROOT / "app" / "streamlit_app.py"), default_timeout=120)
    timings = {}
    start = time.perf_counter()
    app.run()
    timings["first page (loads the model; libraries already imported)"] = time.perf_counter() - start
    app.selectbox(key="sample").set_value(read_samples()[0].name).run()
    start = time.perf_counter()
    app.button(key="predict").click().run()
    timings["press Suggest tags (explain, tags, figures, evidence)"] = time.perf_counter() - start
    start = time.perf_counter()
    app.slider(key="threshold").set_value(0.3).run()
    timings["move the threshold slider (no model run)"] = time.perf_counter() - start
    if app.exception:
        raise SystemExit(f"the app raised: {app.exception[0].value}")
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--checkpoint", type=Path, default=REPOSITORY_ROOT / "checkpoints" / "stackexchange-cooking"
    )
    parser.add_argument("--repeats", type=int, default=20)
    arguments = parser.parse_args(argv)
    predictor = Predictor.from_checkpoint(arguments.checkpoint)
    print(
        f"checkpoint: {arguments.checkpoint} ({predictor.metadata.model_config.variation}, "
        f"{len(predictor.labels)} labels); median of {arguments.repeats} warm runs, milliseconds"
    )
    columns = ["explain", "figures", "explain+figures", "evidence+figure"]
    print(f"| document | {' | '.join(columns)} |\n|---|{'---:|' * len(columns)}")
    totals: dict[str, list[float]] = {column: [] for column in columns}
    for sample in read_samples():
        timings = in_worker_thread(document_timings, predictor, sample, arguments.repeats)
        for column in columns:
            totals[column].append(timings[column])
        print(
            f"| {sample.name} | " + " | ".join(f"{1000 * timings[column]:.1f}" for column in columns) + " |"
        )
    print(
        "| **median over documents** | "
        + " | ".join(f"**{1000 * statistics.median(totals[column]):.1f}**" for column in columns)
        + " |"
    )
    print("\nAppTest (one run each, seconds)")
    for name, seconds in apptest_timings(arguments.checkpoint).items():
        print(f"- {name}: {seconds:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
