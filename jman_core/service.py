"""The REST API (FastAPI): thin, like cli.py, over predict
and the curation workspace; `jman serve` runs it."""

from __future__ import annotations

import hmac
import logging
import os
import socket
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from gunicorn.app.base import BaseApplication
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from .checkpoint import (
    METADATA_FILE,
    RETIRED_MARK,
    TOKENIZER_FILE,
    WEIGHTS_FILE,
    model_card,
    read_metadata,
    recover_interrupted_save,
)
from .errors import CheckpointError, ConfigError, DocumentError, JmanError
from .limits import Limits, current_limits, environment_name, over_limit

API_KEYS_VARIABLE = "JMAN_API_KEYS"  # comma-separated; when set, every /v1 request needs one of them
CORS_VARIABLE = "JMAN_CORS_ORIGINS"  # comma-separated origins a browser page may call the API from
# the folder served by `app_from_environment` (gunicorn, uvicorn --factory)
CHECKPOINTS_VARIABLE = "JMAN_CHECKPOINTS"
FEEDBACK_COLLECTION = "API feedback"  # the workspace collection feedback goes to unless the request names one
MAX_EVIDENCE_TAGS = 10  # per-tag evidence costs one backward pass per tag
MAX_FEEDBACK_TAGS = 200
# An idle connection is kept longer than clients and proxies keep theirs (httpx 5 s, nginx upstreams 60 s): a
# server that closes first races the client's next request on it, which then fails with a read error. With
# gunicorn's default of 2 s, 5 of 2,082 requests of bench/service_load.py failed so.
KEEP_ALIVE_SECONDS = 75
TAG_TEXT = Field(min_length=1, max_length=200)

log = logging.getLogger("jman.service")


# ---- settings and errors ----------------------------------------------------------------------
@dataclass(frozen=True)
class ServiceSettings:
    """What one API process serves and how; `from_environment` reads the JMAN_* variables."""

    checkpoints_dir: Path
    database_url: str | None = None
    api_keys: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    limits: Limits = field(default_factory=current_limits)

    @classmethod
    def from_environment(
        cls, checkpoints_dir: str | Path, database_url: str | None = None
    ) -> ServiceSettings:
        return cls(
            Path(checkpoints_dir),
            database_url,
            _listed(API_KEYS_VARIABLE),
            _listed(CORS_VARIABLE),
            current_limits(),
        )


def _listed(variable: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in os.environ.get(variable, "").split(",") if item.strip())


class ApiError(Exception):
    """An answer other than 200, with the status code and the one-line message sent as {"error": ...}."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


# ---- models under the checkpoints folder ------------------------------------------------------
@dataclass
class ServedModel:
    """One loaded version of a checkpoint folder; `stamp` tells whether the folder changed since."""

    name: str
    stamp: tuple
    predictor: Any  # jman_core.predict.Predictor
    fingerprint: str


def _stamp(folder: Path) -> tuple | None:
    """(size, mtime, inode) of the checkpoint's files: changes
    when a save swaps the folder or a copy grows it."""
    try:
        return tuple(
            (status.st_size, status.st_mtime_ns, status.st_ino)
            for status in (os.stat(folder / name) for name in (METADATA_FILE, WEIGHTS_FILE, TOKENIZER_FILE))
        )
    except OSError:
        return None


class ModelRegistry:
    """The checkpoint folders under one folder, each loaded on first use and reloaded when it changes on disk.

    A model being replaced answers from its old version while the new one loads in the background; the
    new one is swapped in whole, under a lock. At most one model loads at a time in a process.
    """

    def __init__(self, folder: Path):
        self.folder = folder
        self._models: dict[str, ServedModel] = {}
        # name -> (stamp, message) of a version that did not load
        self._failed: dict[str, tuple[tuple, str]] = {}
        self._cards: dict[str, tuple[tuple, dict[str, Any]]] = {}
        self._reloading: set[str] = set()
        self._state_lock = threading.Lock()
        self._load_lock = threading.Lock()

    def names(self) -> list[str]:
        try:
            return sorted(
                path.name
                for path in self.folder.iterdir()
                if not path.name.startswith(".") and (path / METADATA_FILE).is_file()
            )
        except OSError:
            return []

    def loaded(self) -> list[str]:
        with self._state_lock:
            return sorted(self._models)

    def get(self, name: str) -> ServedModel:
        """The current version of model `name`; raises ApiError(404) when there is no such checkpoint."""
        folder = self._folder(name)
        with self._state_lock:
            current = self._models.get(name)
        stamp = _stamp(folder)
        if stamp is None and current is not None and any(self.folder.glob(f".{name}{RETIRED_MARK}*")):
            return current  # a save is between its two renames: the old version answers
        if stamp is None:
            recover_interrupted_save(folder)  # a save that crashed between its renames is completed
            stamp = _stamp(folder)
        if stamp is None:
            self._forget(name)
            raise _unknown_model(name, self.names())
        if current is not None and current.stamp == stamp:
            return current
        if current is not None:
            self._reload_in_background(name, folder)
            return current
        return self._load(name, folder, stamp)

    def describe(self, name: str) -> dict[str, Any]:
        """The model's card and facts, read from its
        checkpoint.json (no weights loaded); cached per version."""
        folder = self._folder(name)
        stamp = _stamp(folder)
        if stamp is None:
            raise _unknown_model(name, self.names())
        cached = self._cards.get(name)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        from .workspace.scoring import model_fingerprint

        try:
            metadata = read_metadata(folder)
        except CheckpointError as error:
            return {"name": name, "error": str(error)}
        described = {
            "name": name,
            "fingerprint": model_fingerprint(folder),
            "variation": metadata.model_config.variation,
            "threshold": metadata.threshold,
            "created": metadata.created,
            "tags": list(metadata.labels),
            "components": _components(metadata),
            "card": model_card(metadata),
        }
        self._cards[name] = (stamp, described)
        return described

    def _folder(self, name: str) -> Path:
        if not name or name.startswith(".") or any(mark in name for mark in "/\\\0") or len(name) > 200:
            raise _unknown_model(name, self.names())
        return self.folder / name

    def _forget(self, name: str) -> None:
        with self._state_lock:
            self._models.pop(name, None)
            self._failed.pop(name, None)

    def _load(self, name: str, folder: Path, stamp: tuple) -> ServedModel:
        from .predict import Predictor
        from .workspace.scoring import model_fingerprint

        with self._load_lock:
            with self._state_lock:
                current, failed = self._models.get(name), self._failed.get(name)
            if current is not None and current.stamp == stamp:
                return current  # another request loaded it while this one waited
            if failed is not None and failed[0] == stamp:
                raise CheckpointError(failed[1])
            try:
                # read before the weights: a save landing during the load only makes the next request reload
                fingerprint = model_fingerprint(folder)
                served = ServedModel(name, stamp, Predictor.from_checkpoint(folder), fingerprint)
            except CheckpointError as error:
                with self._state_lock:
                    self._failed[name] = (stamp, str(error))
                log.warning("model %s was not loaded: %s", name, error)
                raise
            with self._state_lock:
                self._models[name] = served
            log.info("model %s loaded (%s)", name, fingerprint)
            return served

    def _reload_in_background(self, name: str, folder: Path) -> None:
        with self._state_lock:
            if name in self._reloading:
                return
            self._reloading.add(name)
        threading.Thread(target=self._reload, args=(name, folder), name=f"reload {name}", daemon=True).start()

    def _reload(self, name: str, folder: Path) -> None:
        try:
            stamp = _stamp(folder)
            if stamp is not None:
                self._load(name, folder, stamp)
        except JmanError:
            pass  # logged by _load; the old version keeps answering
        finally:
            with self._state_lock:
                self._reloading.discard(name)


def _unknown_model(name: str, names: list[str]) -> ApiError:
    shown = ", ".join(names[:20]) or "none"
    return ApiError(404, f"There is no model {name[:200]!r}; the models are: {shown}.")


# ---- request bodies ---------------------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DocumentIn(_Strict):
    title: str = Field("", description="the document's title (plain text)")
    content: str = Field("", description="the document's content (plain text or HTML)")


class Choices(_Strict):
    limit: int | None = Field(
        None, ge=1, description="at most this many tags (default: all at or above the threshold)"
    )
    threshold: float | None = Field(
        None, ge=0, le=1, description="lowest score suggested (default: the model's tuned one)"
    )


class SuggestRequest(DocumentIn, Choices):
    pass


class BatchDocument(DocumentIn):
    id: str | None = Field(None, max_length=200, description="your id for the document, echoed in its result")


class SuggestBatchRequest(Choices):
    documents: list[BatchDocument] = Field(description="the documents, at most max_batch_documents of them")


class ExplainRequest(SuggestRequest):
    evidence: list[str] = Field(
        default_factory=list,
        max_length=MAX_EVIDENCE_TAGS,
        description="tags whose per-word and per-sentence evidence to include",
    )


class FeedbackRequest(DocumentIn):
    curator: str = Field(min_length=1, max_length=100, description="who decided")
    document_id: str = Field(min_length=1, max_length=200, description="your id for the document")
    collection: str = Field(
        FEEDBACK_COLLECTION,
        min_length=1,
        max_length=200,
        description="the workspace collection the document is kept in",
    )
    accepted: list[str] = Field(default_factory=list, max_length=MAX_FEEDBACK_TAGS)
    rejected: list[str] = Field(default_factory=list, max_length=MAX_FEEDBACK_TAGS)
    added: list[str] = Field(default_factory=list, max_length=MAX_FEEDBACK_TAGS)
    reviewed: bool = Field(True, description="mark the document reviewed by this curator")


# ---- what the endpoints do --------------------------------------------------------------------
def _check_length(document: DocumentIn, limits: Limits, where: str = "The document") -> None:
    size = len(document.title) + len(document.content)
    if size > limits.max_document_characters:
        raise ApiError(413, over_limit(where, size, "max_document_characters", "characters"))


def _tags(prediction) -> list[dict[str, Any]]:
    return [{"label": tag.label, "score": round(tag.score, 6)} for tag in prediction.tags if tag.selected]


def _suggestion(served: ServedModel, prediction) -> dict[str, Any]:
    return {
        "model": served.name,
        "fingerprint": served.fingerprint,
        "threshold": prediction.threshold,
        "tags": _tags(prediction),
    }


def suggest(served: ServedModel, request: SuggestRequest) -> dict[str, Any]:
    prediction = served.predictor.predict(request.title, request.content, request.threshold, request.limit)
    return _suggestion(served, prediction)


def suggest_batch(served: ServedModel, request: SuggestBatchRequest, limits: Limits) -> dict[str, Any]:
    if len(request.documents) > limits.max_batch_documents:
        raise ApiError(
            413, over_limit("The batch", len(request.documents), "max_batch_documents", "documents")
        )
    for number, document in enumerate(request.documents, 1):
        _check_length(document, limits, f"Document {number} of the batch")
    results = served.predictor.predict_each(
        [(document.title, document.content) for document in request.documents],
        request.threshold,
        request.limit,
    )
    threshold = served.predictor.threshold if request.threshold is None else request.threshold
    return {
        "model": served.name,
        "fingerprint": served.fingerprint,
        "threshold": threshold,
        "results": [_batch_result(document, result) for document, result in zip(request.documents, results)],
    }


def _batch_result(document: BatchDocument, result) -> dict[str, Any]:
    if isinstance(result, DocumentError):
        return {"id": document.id, "error": str(result)}
    return {"id": document.id, "tags": _tags(result)}


def _components(metadata) -> dict[str, Any]:
    """How the model's scores are made: each component's blend weight, and whether they are calibrated."""
    from .blend import Blend

    try:
        blend = Blend.from_json(metadata.blend) if metadata.blend else Blend()
    except ValueError:
        return {}
    return {"weights": blend.weights, "calibrated": bool(metadata.statistics.get("calibrated", False))}


def explain(served: ServedModel, request: ExplainRequest) -> dict[str, Any]:
    from .evaluation import explanation_to_dict

    explanation = served.predictor.explain(request.title, request.content, request.threshold, request.limit)
    evidence = {
        label: asdict(served.predictor.tag_evidence(request.title, request.content, label))
        for label in dict.fromkeys(request.evidence)
    }
    return {
        "model": served.name,
        "fingerprint": served.fingerprint,
        **explanation_to_dict(explanation),
        "evidence": evidence,
    }


def feedback(served: ServedModel, request: FeedbackRequest, database_url: str | None) -> dict[str, Any]:
    """Stores the document, the model's scores for it (the
    queue shows its proposals) and the curator's verdicts."""
    from .workspace import Workspace, WorkspaceError, checked_curator

    verdicts = _verdicts(request)
    try:
        curator = checked_curator(request.curator)
    except WorkspaceError as error:
        raise ApiError(422, str(error)) from None
    # DocumentError: 400 before any write
    scores = served.predictor.predict_proba(request.title, request.content)
    by_tag = dict(zip(served.predictor.labels, scores.tolist()))
    workspace = Workspace.open(database_url)
    collection = workspace.ensure_collection(request.collection, kind="api")
    document = workspace.put_document(collection.id, request.document_id, request.title, request.content)
    model = workspace.scoring_model(served.name, served.fingerprint, served.predictor.labels)
    [check] = served.predictor.domain_checks([(request.title, request.content)], scores[None, :])
    domain = {document.id: check}
    workspace.store_scores(model, {document.id: scores}, served.predictor.threshold, domain)
    decisions = [(tag, verdict, None if verdict == "add" else by_tag.get(tag)) for tag, verdict in verdicts]
    status = "reviewed" if request.reviewed else None
    action = workspace.decide_many(document.id, curator, decisions, kind="api", status=status)
    return {
        "collection": collection.name,
        "collection_id": collection.id,
        "document": document.id,
        "document_id": document.source_id,
        "curator": curator,
        "action": action,
        "decisions": len(decisions),
        "status": status or "unchanged",
    }


def _verdicts(request: FeedbackRequest) -> list[tuple[str, str]]:
    """(tag, accept | reject | add) for every tag named; a
    tag in two lists, or no decision at all, is refused."""
    verdicts: dict[str, str] = {}
    for verdict, tags in (("accept", request.accepted), ("reject", request.rejected), ("add", request.added)):
        for tag in tags:
            tag = " ".join(tag.split())
            if not tag or len(tag) > 200:
                raise ApiError(422, "A tag has 1 to 200 characters.")
            if verdicts.get(tag, verdict) != verdict:
                raise ApiError(
                    422,
                    f"The tag {tag!r} is given two verdicts ({verdicts[tag]} and {verdict}); give it one.",
                )
            verdicts[tag] = verdict
    if not verdicts and not request.reviewed:
        raise ApiError(
            422, "The feedback holds no decision: give accepted, rejected or added tags, or reviewed: true."
        )
    return list(verdicts.items())


def readiness(registry: ModelRegistry, database_url: str | None) -> tuple[int, dict[str, Any]]:
    """200 when every checkpoint's metadata reads and the workspace database answers; else 503 saying why."""
    problems = []
    names = registry.names()
    if not names:
        problems.append(f"There is no checkpoint under {registry.folder}.")
    problems += [described["error"] for described in map(registry.describe, names) if "error" in described]
    database = _database_state(database_url)
    if database != "ok":
        problems.append(database)
    body = {
        "status": "not ready" if problems else "ready",
        "models": names,
        "loaded": registry.loaded(),
        "database": database,
    }
    if problems:
        body["error"] = " ".join(problems)
    return (503 if problems else 200), body


def _database_state(database_url: str | None) -> str:
    from sqlalchemy import text

    from .workspace import Workspace

    try:
        workspace = Workspace.open(database_url)
        with workspace.store.session() as session:
            session.execute(text("SELECT 1"))
        return "ok"
    except JmanError as error:
        return str(error)


# ---- safety: body size, API key, errors -------------------------------------------------------
class BodySizeLimit:
    """Refuses a request body over `max_bytes` with 413 before anything parses it: by its Content-Length
    when it states one, else by counting the bytes as they stream in. The body (at most `max_bytes`) is
    then replayed."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(scope, receive, send, int(declared) if declared.isdigit() else None)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self._refuse(scope, receive, send, None)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    async def _refuse(self, scope, receive, send, size: int | None) -> None:
        if size is None:
            message = (
                f"The request body is over the limit of {self.max_bytes:,} bytes; "
                "send less (fewer or shorter documents), "
                f"or raise the limit with {environment_name('max_request_bytes')}."
            )
        else:
            message = over_limit("The request body", size, "max_request_bytes", "bytes")
        await _error(413, message, {"Connection": "close"})(scope, receive, send)


def _replay(body: bytes, receive):
    sent = False

    async def replayed():
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


def _key_checker(keys: tuple[str, ...]):
    encoded = [key.encode() for key in keys]

    def require_key(request: Request) -> None:
        if not encoded:
            return
        given = request.headers.get("x-api-key") or _bearer(request.headers.get("authorization", ""))
        if not given:
            raise ApiError(
                401,
                "An API key is required: send it as 'Authorization: Bearer KEY' or 'X-API-Key: KEY'.",
                {"WWW-Authenticate": "Bearer"},
            )
        # every key compared, in constant time, so the time taken tells nothing about which one nearly matched
        if not any([hmac.compare_digest(given.encode(), key) for key in encoded]):
            raise ApiError(401, "The API key is not valid.", {"WWW-Authenticate": "Bearer"})

    return require_key


def _bearer(header: str) -> str:
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _validation_message(error: RequestValidationError) -> tuple[int, str]:
    problems = error.errors()
    if any(problem.get("type") == "json_invalid" for problem in problems):
        return 400, "The request body is not valid JSON; send a JSON object (Content-Type: application/json)."
    shown = []
    for problem in problems[:5]:
        where = ".".join(str(part) for part in problem.get("loc", ()) if part != "body") or "the body"
        shown.append(f"{where}: {problem.get('msg', 'invalid')}")
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    return 422, "Invalid request: " + "; ".join(shown) + more + "."


def _install_error_handlers(app: FastAPI) -> None:
    async def on_api_error(_request, error: ApiError):
        return _error(error.status, error.message, error.headers)

    async def on_validation(request: Request, error: RequestValidationError):
        if "json" not in request.headers.get("content-type", "json"):
            return _error(
                400, "The request body must be JSON, sent with the header Content-Type: application/json."
            )
        return _error(*_validation_message(error))

    async def on_http(request: Request, error: HTTPException):
        if error.status_code == 404:
            return _error(404, f"There is no {request.url.path[:200]}; the API is under /v1 (see /docs).")
        if error.status_code == 405:
            return _error(
                405,
                f"{request.method} is not allowed on {request.url.path[:200]} (see /docs).",
                getattr(error, "headers", None),
            )
        return _error(error.status_code, str(error.detail), getattr(error, "headers", None))

    async def on_library(_request, error: JmanError):
        from .workspace import WorkspaceError

        if isinstance(error, WorkspaceError):
            return _error(503, str(error))
        if isinstance(error, CheckpointError):
            return _error(500, f"The model cannot be loaded: {error}")
        return _error(400, str(error))

    async def on_anything(_request, error: Exception):
        log.exception("unexpected error", exc_info=error)
        return _error(500, "Internal error; the server's log has the details.")

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(JmanError, on_library)
    app.add_exception_handler(Exception, on_anything)


# ---- the app ----------------------------------------------------------------------------------
def _router(registry: ModelRegistry, settings: ServiceSettings) -> APIRouter:
    router = APIRouter(prefix="/v1", dependencies=[Depends(_key_checker(settings.api_keys))])

    @router.get("/models", summary="Every model under the checkpoints folder, with its card")
    def list_models() -> dict[str, Any]:
        return {"models": [registry.describe(name) for name in registry.names()]}

    @router.get("/models/{name}", summary="One model's card, settings and tags")
    def show_model(name: str) -> dict[str, Any]:
        return registry.describe(name)

    @router.post("/models/{name}/suggest", summary="Tags for one document, with scores")
    def suggest_one(name: str, request: SuggestRequest) -> dict[str, Any]:
        _check_length(request, settings.limits)
        return suggest(registry.get(name), request)

    @router.post(
        "/models/{name}/suggest-batch",
        summary="Tags for several documents; each gets its result or its error",
    )
    def suggest_many(name: str, request: SuggestBatchRequest) -> dict[str, Any]:
        return suggest_batch(registry.get(name), request, settings.limits)

    @router.post(
        "/models/{name}/explain", summary="The four attention maps, tokens with spans, per-tag evidence"
    )
    def explain_one(name: str, request: ExplainRequest) -> dict[str, Any]:
        _check_length(request, settings.limits)
        return explain(registry.get(name), request)

    @router.post(
        "/models/{name}/feedback", summary="A curator's accepted, rejected and added tags, into the workspace"
    )
    def give_feedback(name: str, request: FeedbackRequest) -> dict[str, Any]:
        _check_length(request, settings.limits)
        return feedback(registry.get(name), request, settings.database_url)

    return router


def create_app(
    checkpoints_dir: str | Path, database_url: str | None = None, settings: ServiceSettings | None = None
) -> FastAPI:
    """The API over the checkpoint folders under `checkpoints_dir`;
    settings default to the JMAN_* variables."""
    settings = settings or ServiceSettings.from_environment(checkpoints_dir, database_url)
    registry = ModelRegistry(settings.checkpoints_dir)
    app = FastAPI(
        title="JMAN tagger",
        version="1",
        description="Tag suggestions with the attention that explains them, "
        "and curator feedback into the curation workspace.",
    )
    app.state.registry = registry
    _install_error_handlers(app)
    app.include_router(_router(registry, settings))

    @app.get("/health", summary="The process is alive")
    def health() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/ready", summary="Every model's checkpoint reads and the workspace database answers")
    def ready() -> JSONResponse:
        status, body = readiness(registry, settings.database_url)
        return JSONResponse(body, status_code=status)

    # before anything reads the body
    app.add_middleware(BodySizeLimit, max_bytes=settings.limits.max_request_bytes)
    if settings.cors_origins:  # added last, so outermost: its headers reach every answer, a 413 included
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
        )
    return app


def app_from_environment() -> FastAPI:
    """For `uvicorn --factory jman_core.service:app_from_environment`: the folder in $JMAN_CHECKPOINTS."""
    return create_app(os.environ.get(CHECKPOINTS_VARIABLE, "checkpoints"))


# ---- running it -------------------------------------------------------------------------------
def serve(
    checkpoints_dir: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    database_url: str | None = None,
) -> int:
    """Runs the API until interrupted: uvicorn in this process, or gunicorn with `workers` uvicorn workers."""
    # a bad JMAN_* value fails here
    settings = ServiceSettings.from_environment(checkpoints_dir, database_url)
    _check_serving(settings, host, port, workers)
    names = ModelRegistry(settings.checkpoints_dir).names()
    print(
        f"Serving {len(names)} model(s) from {settings.checkpoints_dir} on http://{_address(host, port)} "
        f"(docs at /docs; API key {'required' if settings.api_keys else 'not required'}; "
        f"{workers} worker(s)).",
        flush=True,
    )
    if workers == 1:
        import uvicorn

        uvicorn.run(
            create_app(checkpoints_dir, settings=settings),
            host=host,
            port=port,
            log_level="info",
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
        )
        return 0
    _GunicornApplication(settings, host, port, workers).run()
    return 0


def _check_serving(settings: ServiceSettings, host: str, port: int, workers: int) -> None:
    if not settings.checkpoints_dir.is_dir():
        raise ConfigError(
            f"{settings.checkpoints_dir} is not a folder; give --checkpoints the folder that holds "
            "the checkpoint folders (each made by `jman train`)."
        )
    if not 1 <= port <= 65535:
        raise ConfigError(f"--port {port} is not a port; give one from 1 to 65535.")
    if workers < 1:
        raise ConfigError(f"--workers {workers}: give at least 1.")
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as error:
        raise ConfigError(
            f"Cannot listen on {_address(host, port)}: {error.strerror or error}; choose another "
            "--port or --host, or stop the program that uses it."
        ) from None


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _GunicornApplication(BaseApplication):
    """gunicorn with uvicorn workers; each worker builds its own app after the fork (models load per worker,
    lazily, on first use) and uses its share of the cores unless OMP_NUM_THREADS says otherwise."""

    def __init__(self, settings: ServiceSettings, host: str, port: int, workers: int):
        self.settings = settings
        self.options = {
            "bind": _address(host, port),
            "workers": workers,
            "worker_class": "uvicorn_worker.UvicornWorker",
            "preload_app": False,
            "timeout": 120,
            "graceful_timeout": 30,
            "accesslog": "-",
            "keepalive": KEEP_ALIVE_SECONDS,
            # no gunicornc socket in $HOME shared by every instance
            "control_socket_disable": True,
        }
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> FastAPI:
        if "OMP_NUM_THREADS" not in os.environ:
            import torch

            torch.set_num_threads(max(1, (os.cpu_count() or 1) // self.options["workers"]))
        return create_app(self.settings.checkpoints_dir, settings=self.settings)
