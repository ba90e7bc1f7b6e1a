"""One real browser run: `streamlit run` in a subprocess, Debian's chromium driven by Playwright."""

from __future__ import annotations

import os
import re
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_app import REPOSITORY_ROOT, train_tiny_checkpoints  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
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
STARTUP_SECONDS = 90
WAIT_MILLISECONDS = 60_000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_healthy(port: int, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"streamlit exited with code {server.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"streamlit did not answer on port {port} within {STARTUP_SECONDS} s")


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", "the screenshot is not a PNG"
    return struct.unpack(">II", header[16:24])


@pytest.fixture
def server(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(
            "no browser: Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium)"
        )
    checkpoints = train_tiny_checkpoints(tmp_path)
    port = free_port()
    # one torch thread: the tiny model needs no more, and spinning threads slow a busy two-core machine badly
    environment = dict(
        os.environ,
        JMAN_CHECKPOINTS_DIR=str(checkpoints),
        OMP_NUM_THREADS="1",
        JMAN_JOBS_DIR=str(tmp_path / "jobs"),
        JMAN_TRAINING_THREADS="1",
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
    try:
        wait_until_healthy(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_until_idle(page) -> None:
    """Waits until Streamlit's "running" indicator is gone (the script run has finished)."""
    page.wait_for_timeout(300)
    page.locator("[data-testid='stStatusWidget']").wait_for(state="hidden", timeout=WAIT_MILLISECONDS)


def test_browser_shows_tags_and_the_attention_heatmap(server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    screenshot = tmp_path / "app.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGUMENTS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 2200})
            page.set_default_timeout(WAIT_MILLISECONDS)  # every click too: a busy two-core machine is slow
            page.goto(server, timeout=WAIT_MILLISECONDS)
            page.get_by_role("combobox", name="Start from a sample document").click(timeout=WAIT_MILLISECONDS)
            page.get_by_role("option").filter(has_text="cooked rice").first.click()
            # The Title box itself, not any input: the sample picker's own input shows the same words as
            # soon as the option is clicked, before the rerun has filled the boxes.
            expect(page.get_by_label("Title", exact=True)).to_have_value(
                re.compile("cooked rice"), timeout=WAIT_MILLISECONDS
            )
            expect(page.get_by_label("Content (plain text or HTML)")).not_to_have_value(
                "", timeout=WAIT_MILLISECONDS
            )
            wait_until_idle(page)  # a click while the sample's rerun is still going can be lost
            page.get_by_role("button", name="Suggest tags").click()
            heatmap = page.locator("[data-testid='stPlotlyChart']").first
            try:
                heatmap.locator("svg.main-svg").first.wait_for(timeout=WAIT_MILLISECONDS)
            except Exception as error:  # say what the page shows instead of only "timeout"
                raise AssertionError(
                    f"no heatmap; the page shows: {page.inner_text('body')[:3000]}"
                ) from error
            page.get_by_text("Suggested (").wait_for(timeout=WAIT_MILLISECONDS)
            page.wait_for_timeout(1500)  # let plotly finish drawing the cell texts
            heatmap_text = heatmap.inner_text()
            page.screenshot(path=str(screenshot), full_page=True)
            # beside the attention, how much of the scores the network carries (issue 18)
            expect(
                page.get_by_text(re.compile(r"The network carries .* of this model.s scores")).first
            ).to_be_visible()
            # the evidence: the whole score first; the SVM's own map only once its tab is opened
            shown_captions = page.get_by_text("One component's own evidence").filter(visible=True)
            expect(shown_captions).to_have_count(0)
            page.get_by_role("tab", name="the word-and-pair SVM").click()
            expect(shown_captions).to_have_count(1, timeout=WAIT_MILLISECONDS)
            # a document unlike the training documents: the warning, with its reasons, above the tags
            page.get_by_label("Title", exact=True).fill("Quantum entanglement of photon qubits")
            page.get_by_label("Content (plain text or HTML)").fill(
                "Superconducting lattice decay measured in a dilution cryostat at millikelvin temperatures."
            )
            wait_until_idle(page)
            page.get_by_role("button", name="Suggest tags").click()
            wait_until_idle(page)  # not the first document's page, still shown while this one runs
            expect(page.locator("[data-testid='stPlotlyChart']").first).to_contain_text("photon")
            warning = page.get_by_text("This reads unlike what the model was trained on").first
            warning.wait_for(timeout=WAIT_MILLISECONDS)
            expect(warning).to_contain_text("of the model's own validation documents")
            suggested = page.get_by_text("Suggested (").first
            suggested.wait_for(timeout=WAIT_MILLISECONDS)
            warning_top, suggested_top = warning.bounding_box()["y"], suggested.bounding_box()["y"]
        finally:
            browser.close()
    assert warning_top < suggested_top, "the domain warning is not above the suggestions"
    assert "rice" in heatmap_text and "ori" in heatmap_text, "the heatmap does not show the document's words"
    width, height = png_size(screenshot)
    assert width >= 1000 and height >= 1000
    assert screenshot.stat().st_size > 50_000, "the screenshot is nearly empty"


def test_browser_trains_from_the_sidebar_and_annotates_with_the_new_model(server, tmp_path):
    """The whole sidebar flow in a real browser; "Annotate
    with" sits in a fragment that AppTest cannot click."""
    import csv

    from playwright.sync_api import expect, sync_playwright
    from test_app import tiny_rows

    data = tmp_path / "sidebar-tiny.csv"
    with data.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "title", "content", "tags"])
        writer.writeheader()
        writer.writerows(tiny_rows(120))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGUMENTS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 2200})
            page.set_default_timeout(WAIT_MILLISECONDS)
            page.goto(server, timeout=WAIT_MILLISECONDS)
            page.get_by_text("Train a new model").first.click()
            page.locator(".st-key-train_file [data-testid='stFileUploaderDropzoneInput']").set_input_files(
                str(data)
            )
            expect(page.locator(".st-key-train_name input")).to_have_value("sidebar-tiny")
            wait_until_idle(page)
            epochs = page.locator(
                ".st-key-train_option-training-num_epochs input"
            )  # key train_option.training.num_epochs
            epochs.fill("1")
            epochs.press("Enter")
            wait_until_idle(page)
            page.locator(".st-key-train_start button").first.click()
            use = page.locator(".st-key-train_use_model button").first
            use.wait_for(timeout=240_000)
            wait_until_idle(page)  # the panel redraws the whole page once the run ends: click after that
            use.click()
            expect(page.get_by_role("radio", name="One document")).to_be_checked(timeout=WAIT_MILLISECONDS)
            # the picker (a searchable box) shows the new model
            expect(page.locator(".st-key-model_folder input")).to_have_value(
                "sidebar-tiny", timeout=WAIT_MILLISECONDS
            )
        finally:
            browser.close()
    assert (tmp_path / "jobs").is_dir()
