"""Tests for jman_core.service: `jman serve` run as a real
server process on a free port, httpx as the client."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import torch

from jman_core.checkpoint import load_checkpoint, model_card, read_metadata, save_checkpoint
from jman_core.cli import main
from jman_core.workspace import Workspace
from jman_core.workspace.scoring import model_fingerprint

KEYS = ("key-one", "key-two")
MAX_REQUEST_BYTES = 100_000
MAX_BATCH_DOCUMENTS = 4
MAX_DOCUMENT_CHARACTERS = 20_000
TITLE = "Bread dough in the oven"
CONTENT = "<p>Knead the yeast and butter. Bake with salt.</p><p>The python compiler has a bug in a loop.</p>"
ORIGIN = "https://platform.example"


@dataclass
class Server:
    url: str
    folder: Path
    database_url: str
    log: Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(tmp: Path, checkpoint: Path, extra_arguments: list[str], environment: dict[str, str]):
    """`python -m jman_core serve` over a folder holding a
    copy of the session's tiny model, once /health answers."""
    folder = tmp / "served"
    shutil.copytree(checkpoint, folder / "tiny")
    database_url = f"sqlite:///{tmp / 'workspace.sqlite'}"
    port = free_port()
    variables = {key: value for key, value in os.environ.items() if not key.startswith("JMAN_")}
    variables.update(
        OMP_NUM_THREADS="1",
        JMAN_MAX_REQUEST_BYTES=str(MAX_REQUEST_BYTES),
        JMAN_MAX_BATCH_DOCUMENTS=str(MAX_BATCH_DOCUMENTS),
        JMAN_MAX_DOCUMENT_CHARACTERS=str(MAX_DOCUMENT_CHARACTERS),
        **environment,
    )
    log = tmp / "server.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jman_core",
                "serve",
                "--checkpoints",
                str(folder),
                "--port",
                str(port),
                "--database",
                database_url,
                *extra_arguments,
            ],
            env=variables,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", folder, database_url, log)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the server exited:\n{log.read_text()}"
        try:
            if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return process, server
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    pytest.fail(f"the server did not answer within 90 s:\n{log.read_text()}")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory, checkpoint_path):
    """One uvicorn server for the module: API keys required, small limits, CORS closed."""
    process, running = start_server(
        tmp_path_factory.mktemp("service"), checkpoint_path, [], {"JMAN_API_KEYS": ",".join(KEYS)}
    )
    yield running
    stop(process)


@pytest.fixture(scope="module")
def open_server(tmp_path_factory, checkpoint_path):
    """`jman serve --workers 2` (gunicorn with uvicorn workers), no API key, CORS open to ORIGIN."""
    process, running = start_server(
        tmp_path_factory.mktemp("service-workers"),
        checkpoint_path,
        ["--workers", "2"],
        {"JMAN_CORS_ORIGINS": ORIGIN},
    )
    yield running
    stop(process)


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server.url, headers={"X-API-Key": KEYS[0]}, timeout=60) as opened:
        yield opened


def assert_error(response: httpx.Response, status: int, *fragments: str) -> str:
    """The status, and a JSON body {"error": one line} naming the problem, no stack trace."""
    assert response.status_code == status, response.text
    assert "Traceback" not in response.text and 'File "' not in response.text
    body = response.json()
    assert list(body) == ["error"] and "\n" not in body["error"], body
    for fragment in fragments:
        assert fragment in body["error"], (fragment, body["error"])
    return body["error"]


# ----------------------------------------------------------------------------------------------------
# Health, readiness, schema, models


def test_health_and_ready_answer_without_a_key(server):
    assert httpx.get(f"{server.url}/health").json() == {"status": "alive"}
    ready = httpx.get(f"{server.url}/ready")
    assert ready.status_code == 200, ready.text
    assert (
        ready.json()["status"] == "ready"
        and "tiny" in ready.json()["models"]
        and ready.json()["database"] == "ok"
    )


def test_openapi_schema_and_interactive_docs_are_served(server):
    schema = httpx.get(f"{server.url}/openapi.json").json()
    for path in (
        "/v1/models",
        "/v1/models/{name}",
        "/v1/models/{name}/suggest",
        "/v1/models/{name}/suggest-batch",
        "/v1/models/{name}/explain",
        "/v1/models/{name}/feedback",
        "/health",
        "/ready",
    ):
        assert path in schema["paths"], path
    assert "SuggestRequest" in schema["components"]["schemas"]
    docs = httpx.get(f"{server.url}/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_models_are_listed_with_their_cards(client, server, predictor):
    models = {model["name"]: model for model in client.get("/v1/models").json()["models"]}
    tiny = models["tiny"]
    assert tiny["fingerprint"] == model_fingerprint(server.folder / "tiny")
    assert tiny["threshold"] == pytest.approx(predictor.threshold)
    assert tiny["card"] == model_card(read_metadata(server.folder / "tiny"))
    one = client.get("/v1/models/tiny").json()
    assert one["tags"] == predictor.labels
    # how the scores are made: each component's weight, calibrated on validation (issue 18)
    assert tiny["components"]["weights"] == pytest.approx(predictor.blend.weights)
    assert tiny["components"]["calibrated"] is True


# ----------------------------------------------------------------------------------------------------
# Suggest, batch, explain


def test_suggest_gives_the_predictors_tags_with_scores_fingerprint_and_threshold(client, server, predictor):
    body = client.post("/v1/models/tiny/suggest", json={"title": TITLE, "content": CONTENT}).json()
    expected = predictor.predict(TITLE, CONTENT)
    assert [tag["label"] for tag in body["tags"]] == expected.selected
    for tag, score in zip(body["tags"], [tag.score for tag in expected.tags if tag.selected]):
        assert tag["score"] == pytest.approx(score, abs=1e-5)
    assert body["threshold"] == pytest.approx(predictor.threshold)
    assert body["fingerprint"] == model_fingerprint(server.folder / "tiny") and body["model"] == "tiny"


def test_suggest_limit_and_threshold(client):
    body = client.post(
        "/v1/models/tiny/suggest", json={"title": TITLE, "content": CONTENT, "limit": 3, "threshold": 0.0}
    ).json()
    scores = [tag["score"] for tag in body["tags"]]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True) and body["threshold"] == 0.0


def test_suggest_batch_gives_each_document_its_result_or_its_error(client, predictor):
    documents = [
        {"id": "a", "title": TITLE, "content": CONTENT},
        {"id": "b", "title": "", "content": " "},
        {"title": "Telescope and planet orbit", "content": ""},
    ]
    body = client.post("/v1/models/tiny/suggest-batch", json={"documents": documents}).json()
    first, empty, third = body["results"]
    assert (
        first["id"] == "a"
        and [tag["label"] for tag in first["tags"]] == predictor.predict(TITLE, CONTENT).selected
    )
    assert empty["id"] == "b" and "empty" in empty["error"] and "tags" not in empty
    assert (
        third["id"] is None
        and [tag["label"] for tag in third["tags"]]
        == predictor.predict("Telescope and planet orbit", "").selected
    )


def test_explain_gives_the_four_attention_maps_tokens_spans_and_evidence(client, predictor):
    label = predictor.labels[0]
    body = client.post(
        "/v1/models/tiny/explain", json={"title": TITLE, "content": CONTENT, "evidence": [label]}
    ).json()
    read_title = [token for token in body["title"]["tokens"] if token["read"]]
    assert len(body["title_word_attention"]) == len(read_title)
    assert sum(body["title_word_attention"]) == pytest.approx(1, abs=1e-4)
    assert TITLE[read_title[0]["start"] : read_title[0]["end"]] == read_title[0]["text"]
    assert (
        len(body["sentence_word_attention"])
        == len(body["original_sentence_attention"])
        == len(body["title_guided_sentence_attention"])
        == len([s for s in body["sentences"] if s["read"]])
    )
    evidence = body["evidence"][label]
    assert evidence["label"] == label and len(evidence["title_word_evidence"]) == len(read_title)
    assert len(evidence["sentence_evidence"]) == len(body["sentences"])
    assert "evidence" in client.post("/v1/models/tiny/explain", json={"title": TITLE}).json()
    # the whole score's evidence: each component's share sums to the tag's score
    shares = [part["share"] for part in evidence["components"].values()]
    assert sum(shares) == pytest.approx(evidence["score"], abs=1e-5)
    assert body["network_weight"] == pytest.approx(predictor.network_weight)
    assert body["attention_explains"] == (predictor.network_weight >= 0.05)
    domain = body["domain"]
    assert domain is None or set(domain) == {"score", "threshold", "unusual", "reason", "signals"}
    if domain is not None and domain["signals"]:  # the model's check: each signal with its typical share
        assert set(domain["signals"]) == set(predictor.domain.validation_) >= {"similarity", "vocabulary"}
        assert all(0 <= signal["typical_share"] < 1 for signal in domain["signals"].values())
        assert domain["unusual"] == (domain["score"] > domain["threshold"])
        if "confidence" in domain["signals"]:
            best = predictor.predict(TITLE, CONTENT).tags[0].score
            assert domain["signals"]["confidence"]["value"] == pytest.approx(best, abs=1e-5)


# ----------------------------------------------------------------------------------------------------
# Feedback into the workspace store


def test_feedback_is_stored_in_the_workspace_the_app_reads(client, server, predictor):
    accepted, rejected = predictor.labels[0], predictor.labels[1]
    answer = client.post(
        "/v1/models/tiny/feedback",
        json={
            "curator": "ana",
            "document_id": "doc-7",
            "title": TITLE,
            "content": CONTENT,
            "accepted": [accepted],
            "rejected": [rejected],
            "added": ["sourdough"],
        },
    )
    assert answer.status_code == 200, answer.text
    workspace = Workspace.open(server.database_url)
    collection = workspace.find_collection("API feedback")
    assert collection is not None and collection.kind == "api"
    [document] = workspace.documents(collection.id)
    assert (document.source_id, document.title, document.content) == ("doc-7", TITLE, CONTENT)
    review = workspace.review(document.id, "ana")
    assert review.status == "reviewed"
    assert review.verdicts == {accepted: "accept", rejected: "reject", "sourdough": "add"}
    assert workspace.reviews(collection.id, None)[(document.id, "ana")].final_tags == [accepted, "sourdough"]
    [model] = workspace.models_for(collection.id)  # the queue shows this model's proposals
    assert model.fingerprint == model_fingerprint(server.folder / "tiny") and model.labels == predictor.labels
    stored = workspace.scores(collection.id, model)[document.id]
    assert stored.tolist() == pytest.approx(predictor.predict_proba(TITLE, CONTENT).tolist(), abs=1e-5)
    check = predictor.domain_check(TITLE, CONTENT)  # stored beside the scores, so the queue counts it
    stored_check = workspace.domain_checks(collection.id, model)[document.id]
    assert stored_check.unusual == check.unusual
    assert stored_check.score == pytest.approx(check.score, abs=1e-5)
    # the same document again: one document, its text updated, the new verdict the latest
    again = client.post(
        "/v1/models/tiny/feedback",
        json={
            "curator": "ana",
            "document_id": "doc-7",
            "title": "New",
            "rejected": [accepted],
            "reviewed": False,
        },
    )
    assert again.status_code == 200, again.text
    [document] = workspace.documents(collection.id)
    assert document.title == "New" and workspace.review(document.id, "ana").verdicts[accepted] == "reject"


# ----------------------------------------------------------------------------------------------------
# Errors: each a JSON {"error": ...} with its status, never a stack trace


def test_bad_input_is_400_or_422(client, predictor):
    path = "/v1/models/tiny/suggest"
    headers = {"Content-Type": "application/json"}
    assert_error(client.post(path, content=b'{"title": ', headers=headers), 400, "not valid JSON")
    assert_error(
        client.post(path, content=b"title=x", headers={"Content-Type": "application/x-www-form-urlencoded"}),
        400,
        "JSON",
    )
    assert_error(client.post(path, json={"title": 3}), 422, "title")
    assert_error(client.post(path, json={"title": "x", "colour": "red"}), 422, "colour")
    assert_error(client.post(path, json={"title": "x", "threshold": 2}), 422, "threshold")
    assert_error(client.post(path, json={"title": "", "content": "  "}), 400, "empty")
    assert_error(
        client.post("/v1/models/tiny/explain", json={"title": TITLE, "evidence": ["no-such-tag"]}),
        400,
        "no-such-tag",
    )
    assert_error(
        client.post(
            "/v1/models/tiny/feedback",
            json={
                "curator": "ana",
                "document_id": "d",
                "title": TITLE,
                "accepted": [predictor.labels[0]],
                "rejected": [predictor.labels[0]],
            },
        ),
        422,
        "two verdicts",
    )
    assert_error(
        client.post("/v1/models/tiny/feedback", json={"curator": "  ", "document_id": "d", "title": TITLE}),
        422,
        "curator",
    )


def test_unknown_model_and_path_are_404(client):
    assert_error(client.post("/v1/models/nope/suggest", json={"title": TITLE}), 404, "nope", "tiny")
    assert_error(client.get("/v1/models/nope"), 404, "nope")
    assert_error(client.post("/v1/models/.hidden/suggest", json={"title": TITLE}), 404)
    assert_error(client.get("/v2/anything"), 404, "/v1")


def test_too_large_is_413_before_parsing(client):
    big = json.dumps({"title": "a " * MAX_REQUEST_BYTES}).encode()
    assert_error(
        client.post("/v1/models/tiny/suggest", content=big, headers={"Content-Type": "application/json"}),
        413,
        "JMAN_MAX_REQUEST_BYTES",
    )
    # streamed without a Content-Length: the bytes are counted as they come
    chunks = (big[start : start + 8192] for start in range(0, len(big), 8192))
    assert_error(
        client.post("/v1/models/tiny/suggest", content=chunks, headers={"Content-Type": "application/json"}),
        413,
        "JMAN_MAX_REQUEST_BYTES",
    )
    documents = [{"title": TITLE}] * (MAX_BATCH_DOCUMENTS + 1)
    assert_error(
        client.post("/v1/models/tiny/suggest-batch", json={"documents": documents}),
        413,
        "JMAN_MAX_BATCH_DOCUMENTS",
    )
    long_text = "word " * (MAX_DOCUMENT_CHARACTERS // 5 + 1)
    assert_error(
        client.post("/v1/models/tiny/suggest", json={"title": TITLE, "content": long_text}),
        413,
        "JMAN_MAX_DOCUMENT_CHARACTERS",
    )
    assert_error(
        client.post(
            "/v1/models/tiny/suggest-batch", json={"documents": [{"title": TITLE}, {"content": long_text}]}
        ),
        413,
        "Document 2",
        "JMAN_MAX_DOCUMENT_CHARACTERS",
    )


def test_an_unexpected_failure_is_a_500_with_one_line_and_no_trace(tmp_path):
    from fastapi.testclient import TestClient

    from jman_core.service import ServiceSettings, create_app

    app = create_app(tmp_path, settings=ServiceSettings(tmp_path))

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals at /srv/jman")

    with TestClient(app, raise_server_exceptions=False) as local:
        error = assert_error(local.get("/boom"), 500, "server's log")
        assert "secret" not in error and "RuntimeError" not in error
        assert_error(local.delete("/health"), 405, "DELETE")


# ----------------------------------------------------------------------------------------------------
# API key and CORS


def test_api_key_is_required_when_configured(server):
    path = f"{server.url}/v1/models/tiny/suggest"
    missing = httpx.post(path, json={"title": TITLE})
    assert_error(missing, 401, "API key")
    assert missing.headers["www-authenticate"] == "Bearer"
    assert_error(httpx.post(path, json={"title": TITLE}, headers={"X-API-Key": "key-on"}), 401, "not valid")
    assert_error(
        httpx.post(path, json={"title": TITLE}, headers={"Authorization": "Basic a2V5LW9uZQ=="}), 401
    )
    assert (
        httpx.post(path, json={"title": TITLE}, headers={"Authorization": f"Bearer {KEYS[1]}"}).status_code
        == 200
    )
    assert httpx.post(path, json={"title": TITLE}, headers={"X-API-Key": KEYS[0]}).status_code == 200
    assert_error(httpx.get(f"{server.url}/v1/models"), 401)


def test_cors_is_closed_unless_configured(server):
    preflight = httpx.options(
        f"{server.url}/v1/models", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}
    )
    assert "access-control-allow-origin" not in preflight.headers
    plain = httpx.get(f"{server.url}/health", headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in plain.headers


# ----------------------------------------------------------------------------------------------------
# Models change without a restart


def test_a_model_copied_into_the_folder_is_listed_and_served(client, server, checkpoint_path):
    assert "fresh" not in [model["name"] for model in client.get("/v1/models").json()["models"]]
    shutil.copytree(checkpoint_path, server.folder / "fresh")
    assert "fresh" in [model["name"] for model in client.get("/v1/models").json()["models"]]
    body = client.post("/v1/models/fresh/suggest", json={"title": TITLE, "content": CONTENT}).json()
    assert body["model"] == "fresh" and body["fingerprint"] == model_fingerprint(server.folder / "fresh")
    shutil.rmtree(server.folder / "fresh")
    assert_error(client.post("/v1/models/fresh/suggest", json={"title": TITLE}), 404, "fresh")


def test_a_save_that_crashed_between_its_renames_is_completed_and_served(client, server, checkpoint_path):
    # what a save killed after moving the old folder away leaves: no folder, the old one beside it
    shutil.copytree(checkpoint_path, server.folder / ".crashed.old-0123abcd")
    body = client.post("/v1/models/crashed/suggest", json={"title": TITLE})
    assert body.status_code == 200, body.text
    assert (server.folder / "crashed").is_dir() and not (server.folder / ".crashed.old-0123abcd").exists()


def test_a_model_being_replaced_keeps_answering_until_the_new_one_is_loaded(client, server, checkpoint_path):
    folder = Path(shutil.copytree(checkpoint_path, server.folder / "swapped"))
    old = client.post("/v1/models/swapped/suggest", json={"title": TITLE}).json()["fingerprint"]
    answers: list[tuple[int, str | None]] = []
    done = threading.Event()

    def hammer() -> None:
        with httpx.Client(base_url=server.url, headers={"X-API-Key": KEYS[0]}, timeout=60) as hammering:
            while not done.is_set():
                response = hammering.post(
                    "/v1/models/swapped/suggest", json={"title": TITLE, "content": CONTENT}
                )
                answers.append((response.status_code, response.json().get("fingerprint")))

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        time.sleep(0.3)
        retrained = load_checkpoint(folder)  # another version: other weights, another threshold
        with torch.no_grad():
            next(retrained.model.parameters()).add_(0.05)
        retrained.metadata.threshold = 0.123
        save_checkpoint(
            folder,
            retrained.model,
            retrained.pipeline,
            retrained.metadata,
            retrained.domain,
            retrained.linear,
        )  # atomic folder swap
        new = model_fingerprint(folder)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (not answers or answers[-1][1] != new):
            time.sleep(0.1)
        time.sleep(0.3)
    finally:
        done.set()
        thread.join()
    assert new != old
    assert all(status == 200 for status, _ in answers), answers
    fingerprints = [fingerprint for _, fingerprint in answers]
    assert set(fingerprints) <= {old, new} and fingerprints[-1] == new
    first_new = fingerprints.index(new)
    assert all(fingerprint == new for fingerprint in fingerprints[first_new:]), (
        "an answer went back to the old model"
    )
    assert client.post("/v1/models/swapped/suggest", json={"title": TITLE}).json()[
        "threshold"
    ] == pytest.approx(0.123)


# ----------------------------------------------------------------------------------------------------
# gunicorn with two uvicorn workers; no key configured; CORS opened by JMAN_CORS_ORIGINS


def test_two_workers_serve_without_a_key_and_cors_opens_for_the_configured_origin(open_server, predictor):
    with httpx.Client(base_url=open_server.url, timeout=60) as opened:
        bodies = [
            opened.post("/v1/models/tiny/suggest", json={"title": TITLE, "content": CONTENT})
            for _ in range(6)
        ]
        assert all(body.status_code == 200 for body in bodies)
        assert all(
            [tag["label"] for tag in body.json()["tags"]] == predictor.predict(TITLE, CONTENT).selected
            for body in bodies
        )
        allowed = opened.options(
            "/v1/models", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
        )
        assert allowed.headers.get("access-control-allow-origin") == ORIGIN
        too_large = opened.post(
            "/v1/models/tiny/suggest",
            headers={"Origin": ORIGIN, "Content-Type": "application/json"},
            content=b"[" + b" " * MAX_REQUEST_BYTES + b"]",
        )
        assert too_large.status_code == 413 and too_large.headers.get("access-control-allow-origin") == ORIGIN
        other = opened.get("/v1/models", headers={"Origin": "https://elsewhere.example"})
        assert other.status_code == 200 and "access-control-allow-origin" not in other.headers
    log = open_server.log.read_text()
    assert log.count("Booting worker") == 2 and "uvicorn_worker.UvicornWorker" in log


# ----------------------------------------------------------------------------------------------------
# The command line


def test_serve_refuses_a_missing_folder_and_a_busy_port_in_one_line(tmp_path, capsys):
    assert main(["serve", "--checkpoints", str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: {tmp_path / 'missing'} is not a folder; "
        "give --checkpoints the folder that holds the checkpoint folders (each made by `jman train`)."
    ]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert main(["serve", "--checkpoints", str(tmp_path), "--port", str(busy.getsockname()[1])]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: Cannot listen on 127.0.0.1:") and "\n" not in error
