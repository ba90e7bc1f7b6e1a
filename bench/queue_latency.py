"""Click latency of the review queue in a real browser (issue 16, requirement 9).

    python bench/queue_latency.py [--checkpoint checkpoints/stackexchange-cooking] [--documents 40]
        [--clicks 12]

Starts `streamlit run` on the checkpoint with a fresh workspace database, uploads a collection (cooking test
questions from ../shared/datasets when present, else the sample documents repeated), then in Debian's
chromium measures, inside the page (a MutationObserver and performance.now(), so no polling delay):
- accept / reject: from the click to the row's verdict shown ("✓ accepted" / "✗ rejected");
- next: from the click on "Next →" to the next document's caption and title shown, and to its heatmap drawn;
each with the heatmaps shown and hidden. Prints the median and the worst of each.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY_ROOT / "tests"))
DATASET = REPOSITORY_ROOT.parent / "shared" / "datasets" / "stackexchange" / "cooking.csv.zip"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGUMENTS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Resolves with the milliseconds from the click until `condition()` holds (checked on every DOM change).
MEASURE = """([selector, condition]) => new Promise((resolve) => {
  const test = new Function('return (' + condition + ')();');
  let start = null;
  const observer = new MutationObserver(() => {
    if (start !== null && test()) { observer.disconnect(); resolve(performance.now() - start); }
  });
  observer.observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true});
  const element = document.querySelector(selector);
  start = performance.now();
  element.click();
  setTimeout(() => { observer.disconnect(); resolve(-1); }, 20000);
})"""


def collection_file(count: int, folder: Path) -> Path:
    rows = []
    if DATASET.exists():
        with zipfile.ZipFile(DATASET) as archive:
            text = archive.read(archive.namelist()[0]).decode("utf-8")
        rows = [row for row in csv.DictReader(io.StringIO(text)) if int(row["id"]) % 10 == 0][:count]
    else:
        from test_app import tiny_rows

        rows = tiny_rows(count)
    path = folder / "collection.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "title", "content", "tags"])
        writer.writeheader()
        writer.writerows({key: row[key] for key in ("id", "title", "content", "tags")} for row in rows)
    return path


def start_server(checkpoints: Path, database: Path, port: int) -> subprocess.Popen:
    environment = dict(
        os.environ,
        JMAN_CHECKPOINTS_DIR=str(checkpoints),
        JMAN_DATABASE_URL=f"sqlite:///{database}",
        OMP_NUM_THREADS="1",
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app/streamlit_app.py",
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=REPOSITORY_ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(180):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
            return process
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit("the app did not start")


def idle(page) -> None:
    page.wait_for_timeout(250)
    page.locator("[data-testid='stStatusWidget']").wait_for(state="hidden", timeout=120_000)


def measure(page, selector: str, condition: str) -> float:
    value = page.evaluate(MEASURE, [selector, condition])
    idle(page)
    return value


def verdict_clicks(page, clicks: int) -> list[float]:
    """Alternates accept and reject on the first tag of the
    current document: until its button shows the verdict."""
    timings = []
    for number in range(clicks):
        kind = "accept" if number % 2 == 0 else "reject"
        selector = f"[class*='st-key-{kind}-'] button"
        condition = (
            f'() => {{ const button = document.querySelector("{selector}");'
            " return button && button.getAttribute('data-testid') === 'stBaseButton-primary'; }"
        )
        timings.append(measure(page, selector, condition))
    return timings


CAPTION_SHOWN = (
    "() => Array.from(document.querySelectorAll(\"[data-testid='stCaptionContainer']\"))"
    ".some((caption) => caption.textContent.startsWith('Document NUMBER of'))"
)


def next_clicks(page, clicks: int) -> list[float]:
    """Next, until the next document's caption is shown."""
    timings = []
    for _ in range(clicks):
        caption = page.locator("text=/Document \\d+ of \\d+ shown/").inner_text()
        number = int(caption.split()[1]) + 1
        timings.append(
            measure(page, ".st-key-queue-next button", CAPTION_SHOWN.replace("NUMBER", str(number)))
        )
    return timings


def heatmap_clicks(page, clicks: int) -> list[float]:
    """Next, until the heatmap holds the new document's first title word."""
    timings = []
    for _ in range(clicks):
        caption = page.locator("text=/Document \\d+ of \\d+ shown/").inner_text()
        number = int(caption.split()[1]) + 1
        # the first heatmap's drawn text differs from the one shown before the click
        page.evaluate(
            "() => { window.__heatmapBefore = (document.querySelector(\"[data-testid='stPlotlyChart']\")"
            " || {}).textContent || ''; }"
        )
        condition = (
            f"() => ({CAPTION_SHOWN.replace('NUMBER', str(number))})() && "
            "(() => { const chart = document.querySelector(\"[data-testid='stPlotlyChart']\");"
            " const text = chart ? chart.textContent : '';"
            " return text.length > 0 && text !== window.__heatmapBefore; })()"
        )
        timings.append(measure(page, ".st-key-queue-next button", condition))
    return timings


def summary(name: str, timings: list[float]) -> str:
    valid = [value for value in timings if value >= 0]
    if not valid:
        return f"| {name} | - | - | {len(timings)} timed out |"
    return f"| {name} | {statistics.median(valid):.0f} | {max(valid):.0f} | {len(valid)} of {len(timings)} |"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--checkpoint", default=str(REPOSITORY_ROOT / "checkpoints" / "stackexchange-cooking")
    )
    parser.add_argument("--documents", type=int, default=40)
    parser.add_argument("--clicks", type=int, default=12)
    parser.add_argument("--port", type=int, default=8765)
    arguments = parser.parse_args()
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="jman-queue-latency-"))
    checkpoints = folder / "checkpoints"
    checkpoints.mkdir()
    (checkpoints / Path(arguments.checkpoint).name).symlink_to(Path(arguments.checkpoint).resolve())
    data = collection_file(arguments.documents, folder)
    server = start_server(checkpoints, folder / "workspace.sqlite", arguments.port)
    rows = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGUMENTS)
            page = browser.new_page(viewport={"width": 1500, "height": 2200})
            page.set_default_timeout(120_000)
            page.goto(f"http://127.0.0.1:{arguments.port}/?curator=bench&view=Batch")
            idle(page)
            page.locator(".st-key-batch_file [data-testid='stFileUploaderDropzoneInput']").set_input_files(
                str(data)
            )
            page.get_by_text("Document 1 of").wait_for()
            idle(page)
            page.locator(".st-key-hide_heatmaps label").click()
            idle(page)
            hidden_verdicts = verdict_clicks(page, arguments.clicks)
            rows.append(summary("accept / reject, heatmaps hidden", hidden_verdicts))
            rows.append(summary("next: document shown, heatmaps hidden", next_clicks(page, arguments.clicks)))
            page.locator(".st-key-hide_heatmaps label").click()
            idle(page)
            shown_verdicts = verdict_clicks(page, arguments.clicks)
            rows.append(summary("accept / reject, heatmaps shown", shown_verdicts))
            rows.append(summary("next: document shown, heatmaps shown", next_clicks(page, arguments.clicks)))
            rows.append(summary("next: heatmap drawn", heatmap_clicks(page, arguments.clicks)))
            rows.append(summary("accept / reject, every click of the run", hidden_verdicts + shown_verdicts))
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
    print(
        f"Queue latency in chromium, {Path(arguments.checkpoint).name}, {arguments.documents} documents, "
        f"load average {os.getloadavg()[0]:.2f}, milliseconds from the click:"
    )
    print("| action | median | worst | measured |")
    print("|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
