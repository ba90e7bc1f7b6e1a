"""The curation workspace in a real browser: a real `streamlit run` server process, Debian's chromium driven
by Playwright. Reviews survive a reload, a server restart and a kill -9; two curators work side by side."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_app import REPOSITORY_ROOT, train_tiny_checkpoints  # noqa: E402
from test_browser import CHROMIUM, CHROMIUM_ARGUMENTS, WAIT_MILLISECONDS, free_port, wait_until_healthy  # noqa: E402

BATCH = (
    b"id,title,content,tags\n"
    b"k1,Dull knife,The blade will not cut. Should I use a whetstone or a steel?,knives\n"
    b"s2,Cloudy stock,I simmer the chicken bones too hard. The soup is cloudy.,stock\n"
    b"b3,Bread did not rise,My dough with fresh yeast and flour stayed flat.,bread\n"
    b"r4,Rice in the fridge,How many days is cooked rice safe in a container?,food-safety\n"
)


class Server:
    """`streamlit run` on a fixed port, which a test may kill and start again on the same files."""

    def __init__(self, checkpoints: Path, database: Path):
        self.port = free_port()
        self.environment = dict(
            os.environ,
            JMAN_CHECKPOINTS_DIR=str(checkpoints),
            OMP_NUM_THREADS="1",
            JMAN_DATABASE_URL=f"sqlite:///{database}",
        )
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "app/streamlit_app.py",
                "--server.headless",
                "true",
                "--server.port",
                str(self.port),
                "--server.address",
                "127.0.0.1",
                "--browser.gatherUsageStats",
                "false",
            ],
            cwd=REPOSITORY_ROOT,
            env=self.environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until_healthy(self.port, self.process)

    def stop(self, kill: bool = False) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        if kill:
            os.kill(self.process.pid, signal.SIGKILL)
        else:
            self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def server(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(
            "no browser: Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium)"
        )
    running = Server(train_tiny_checkpoints(tmp_path), tmp_path / "workspace.sqlite")
    running.start()
    yield running
    running.stop()


def wait_until_idle(page) -> None:
    page.wait_for_timeout(300)
    page.locator("[data-testid='stStatusWidget']").wait_for(state="hidden", timeout=WAIT_MILLISECONDS)


def reviewed_text(page, count: int, total: int, curator: str):
    return page.get_by_text(f"{count} of {total} reviewed by {curator}")


def upload(page, path: Path) -> None:
    page.get_by_text("Review a collection").click()
    page.locator(".st-key-batch_file [data-testid='stFileUploaderDropzoneInput']").set_input_files(str(path))
    page.get_by_text("Document 1 of 4 shown").wait_for(timeout=WAIT_MILLISECONDS)
    wait_until_idle(page)


def click_key(page, key: str) -> None:
    """Clicks the button of the element whose key is `key` (Streamlit gives it the class st-key-KEY)."""
    page.locator(f".st-key-{key} button").first.click()
    wait_until_idle(page)


def decisions(database: Path, curator: str) -> dict:
    from jman_core.workspace import Workspace, forget_stores

    store = Workspace.open(f"sqlite:///{database}")
    collection = store.find_collection("batch.csv")
    result = {
        document.source_id: (review.status, review.verdicts)
        for document in store.documents(collection.id)
        for review in [store.review(document.id, curator)]
    }
    forget_stores()
    return result


def press(page, key: str) -> None:
    page.keyboard.press(key)
    wait_until_idle(page)


def check_keyboard_shortcuts(page, database: Path) -> None:
    """N and P move, 1 accepts the first row's tag; keys typed into a box stay in the box."""
    page.evaluate("document.activeElement && document.activeElement.blur()")  # focus on the page, not a box
    press(page, "n")
    page.get_by_text("Document 2 of 4 shown").wait_for()
    press(page, "p")
    page.get_by_text("Document 1 of 4 shown").wait_for()
    press(page, "1")
    assert list(decisions(database, "ann")["k1"][1].values()) == ["accept"], (
        "key 1 did not accept the first tag"
    )
    page.get_by_label("New tags (comma or space separated)").fill("")
    page.get_by_label("New tags (comma or space separated)").type("np")
    wait_until_idle(page)
    assert page.get_by_text("Document 1 of 4 shown").is_visible(), "typing in a box moved the queue"
    page.get_by_label("New tags (comma or space separated)").fill("")


def download_export(page, folder: Path) -> list[dict]:
    """The Export expander's CSV, as a browser downloads it (the file is built when the button is pressed)."""
    import csv

    page.get_by_text("Export", exact=True).click()
    with page.expect_download(timeout=WAIT_MILLISECONDS) as download:
        page.locator(".st-key-download_reviews_csv-queue button").click()
    path = folder / "export.csv"
    download.value.save_as(path)
    return list(csv.DictReader(path.open(encoding="utf-8")))


def test_reviews_survive_reload_restart_and_kill_and_two_curators_keep_their_own(server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    batch = tmp_path / "batch.csv"
    batch.write_bytes(BATCH)
    database = Path(server.environment["JMAN_DATABASE_URL"].removeprefix("sqlite:///"))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGUMENTS)
        try:
            ann = browser.new_context(viewport={"width": 1500, "height": 2200}).new_page()
            ann.set_default_timeout(WAIT_MILLISECONDS)
            ann.goto(f"{server.url}/?curator=ann", timeout=WAIT_MILLISECONDS)
            upload(ann, batch)
            check_keyboard_shortcuts(ann, database)
            click_key(ann, "accept-all")  # first document: every proposal accepted, reviewed, next one shown
            ann.get_by_text("Document 2 of 4 shown").wait_for()
            # second: one tag rejected, then reviewed
            ann.locator("[class*='st-key-reject-'] button").first.click()
            wait_until_idle(ann)
            click_key(ann, "mark-reviewed")
            expect(reviewed_text(ann, 2, 4, "ann")).to_be_visible()
            exported = download_export(ann, tmp_path)
            before = decisions(database, "ann")
            assert before["k1"][0] == "reviewed" and before["s2"][0] == "reviewed"
            assert "reject" in before["s2"][1].values()

            ann.reload()  # the URL carries the curator, the view, the collection and the document
            expect(reviewed_text(ann, 2, 4, "ann")).to_be_visible(timeout=WAIT_MILLISECONDS)
            for kill in (False, True):  # a clean restart, then a kill -9
                server.stop(kill=kill)
                server.start()
                ann.reload()
                expect(reviewed_text(ann, 2, 4, "ann")).to_be_visible(timeout=WAIT_MILLISECONDS)
            assert decisions(database, "ann") == before

            bob = browser.new_context(viewport={"width": 1500, "height": 2200}).new_page()
            bob.set_default_timeout(WAIT_MILLISECONDS)
            bob.goto(ann.url.replace("curator=ann", "curator=bob"), timeout=WAIT_MILLISECONDS)
            expect(reviewed_text(bob, 0, 4, "bob")).to_be_visible(timeout=WAIT_MILLISECONDS)
            wait_until_idle(bob)
            click_key(bob, "mark-skipped")
            ann.locator("[class*='st-key-accept-'] button").first.click()  # both at once, on one collection
            wait_until_idle(ann)
            ann.reload()
            expect(reviewed_text(ann, 2, 4, "ann")).to_be_visible(timeout=WAIT_MILLISECONDS)
        finally:
            browser.close()
    assert [(row["id"], row["status"]) for row in exported if row["curator"] == "ann"][:2] == [
        ("k1", "reviewed"),
        ("s2", "reviewed"),
    ], "the downloaded CSV carries the statuses"
    assert [status for status, _ in decisions(database, "bob").values()].count("skipped") == 1
    after = decisions(database, "ann")
    assert after["k1"] == before["k1"] and after["s2"][0] == "reviewed", (
        "bob's click changed nothing of ann's"
    )
