"""Collections, documents, suggestions and a curator's
decisions: every click one transaction, kept as history."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import func, select, update

from ..data import Document as SourceDocument
from . import schema
from .schema import STATUSES, VERDICTS
from .store import Store, WorkspaceError, open_store

if TYPE_CHECKING:
    from ..domain import DomainCheck

TYPED_COLLECTION = "Typed documents"  # where the one-document view saves what a curator types
MAX_CURATOR_CHARACTERS = 100
MAX_TAG_CHARACTERS = 200


@dataclass
class CollectionInfo:
    id: int
    name: str
    kind: str  # "file" or "typed"
    source: str
    created: datetime
    documents: int = 0


@dataclass
class StoredDocument:
    id: int
    collection_id: int
    source_id: str
    position: int
    title: str
    content: str
    gold_tags: list[str] = field(default_factory=list)


@dataclass
class ScoringModel:
    """A checkpoint as the store knows it: the order of `labels` is the order of every stored score row."""

    id: int
    name: str
    fingerprint: str
    labels: list[str]


@dataclass
class StoredDomainCheck:
    """A document's domain check as stored with its scores: `score` is how unusual it read to the model
    (jman_core.domain.DomainCheck.score); `unusual` when that was past the model's threshold."""

    score: float
    unusual: bool


@dataclass
class Review:
    """One curator's current view of one document: its status and the latest verdict on each tag."""

    document_id: int
    curator: str
    status: str = "pending"
    verdicts: dict[str, str] = field(default_factory=dict)  # tag -> accept | reject | add, in decision order
    updated: datetime | None = None

    @property
    def final_tags(self) -> list[str]:
        return [tag for tag, verdict in self.verdicts.items() if verdict in ("accept", "add")]


def now() -> datetime:
    return datetime.now(UTC)


def checked_curator(name: str) -> str:
    """A curator's name as typed in the sidebar: trimmed, non-empty, at most 100 characters."""
    cleaned = " ".join(str(name or "").split())
    if not cleaned:
        raise WorkspaceError(
            "Give your name as curator (in the sidebar) before reviewing: decisions are kept per curator."
        )
    if len(cleaned) > MAX_CURATOR_CHARACTERS:
        raise WorkspaceError(f"A curator's name has at most {MAX_CURATOR_CHARACTERS} characters.")
    return cleaned


class Workspace:
    """The curation workspace over one database (SQLite by default, PostgreSQL through the same URL)."""

    def __init__(self, store: Store):
        self.store = store

    @classmethod
    def open(cls, url: str | None = None) -> Workspace:
        return cls(open_store(url))

    # ---- collections ---------------------------------------------------------------------------
    def collections(self) -> list[CollectionInfo]:
        """Every collection with its document count, newest first."""
        with self.store.session() as session:
            counts = dict(
                session.execute(
                    select(schema.Document.collection_id, func.count()).group_by(
                        schema.Document.collection_id
                    )
                ).all()
            )
            rows = session.scalars(select(schema.Collection).order_by(schema.Collection.id.desc())).all()
            return [
                CollectionInfo(row.id, row.name, row.kind, row.source, row.created, counts.get(row.id, 0))
                for row in rows
            ]

    def collection(self, collection_id: int) -> CollectionInfo:
        with self.store.session() as session:
            row = session.get(schema.Collection, collection_id)
            if row is None:
                raise WorkspaceError(f"There is no collection {collection_id} in the workspace.")
            count = session.scalar(select(func.count()).where(schema.Document.collection_id == collection_id))
            return CollectionInfo(row.id, row.name, row.kind, row.source, row.created, count or 0)

    def find_collection(self, name: str) -> CollectionInfo | None:
        with self.store.session() as session:
            found = session.scalar(select(schema.Collection.id).where(schema.Collection.name == name))
        return None if found is None else self.collection(found)

    def unused_name(self, wanted: str) -> str:
        """`wanted`, or `wanted (2)`, `wanted (3)`... the first name no collection has."""
        taken = {info.name for info in self.collections()}
        base = " ".join(wanted.split())[:180] or "Collection"
        name, number = base, 2
        while name in taken:
            name, number = f"{base} ({number})", number + 1
        return name

    def create_collection(
        self, name: str, documents: Sequence[SourceDocument], source: str = ""
    ) -> CollectionInfo:
        """A collection holding `documents` in file order; their ids are the file's (else `line-N`).

        Duplicate ids are refused with every line they appear on; nothing is written then.
        """
        if not documents:
            raise WorkspaceError("The file holds no documents to review.")
        source_ids = [document.id if document.id_given else f"line-{document.line}" for document in documents]
        _check_unique(source_ids, documents)
        name = " ".join(name.split())[:200]
        if not name:
            raise WorkspaceError("Give the collection a name.")
        with self.store.session() as session:
            if session.scalar(select(schema.Collection.id).where(schema.Collection.name == name)) is not None:
                raise WorkspaceError(f"A collection named {name!r} exists already; choose another name.")
            stamp = now()
            collection = schema.Collection(name=name, kind="file", source=source[:500], created=stamp)
            session.add(collection)
            session.flush()
            session.add_all(
                _document_row(collection.id, source_id, position, document, stamp)
                for position, (source_id, document) in enumerate(zip(source_ids, documents))
            )
            collection_id = collection.id
        return self.collection(collection_id)

    def typed_collection(self) -> CollectionInfo:
        """The collection of documents typed one at a time (created on first use)."""
        found = self.find_collection(TYPED_COLLECTION)
        if found is not None:
            return found
        try:
            with self.store.session() as session:
                session.add(schema.Collection(name=TYPED_COLLECTION, kind="typed", source="", created=now()))
        except WorkspaceError:
            pass  # another tab created it at the same moment
        return self.find_collection(TYPED_COLLECTION)

    def ensure_collection(self, name: str, kind: str = "api", source: str = "") -> CollectionInfo:
        """The collection named `name`, created empty (of `kind`) when there is none yet."""
        name = " ".join(str(name).split())[:200]
        if not name:
            raise WorkspaceError("Give the collection a name.")
        found = self.find_collection(name)
        if found is not None:
            return found
        try:
            with self.store.session() as session:
                session.add(schema.Collection(name=name, kind=kind[:20], source=source[:500], created=now()))
        except WorkspaceError:
            pass  # created by another request at the same moment
        found = self.find_collection(name)
        if found is None:
            raise WorkspaceError(f"The collection {name!r} could not be created.")
        return found

    # ---- documents -----------------------------------------------------------------------------
    def documents(self, collection_id: int) -> list[StoredDocument]:
        """The collection's documents in file order."""
        with self.store.session() as session:
            rows = session.scalars(
                select(schema.Document)
                .where(schema.Document.collection_id == collection_id)
                .order_by(schema.Document.position)
            ).all()
            return [_stored(row) for row in rows]

    def document(self, document_id: int) -> StoredDocument:
        with self.store.session() as session:
            row = session.get(schema.Document, document_id)
            if row is None:
                raise WorkspaceError(f"There is no document {document_id} in the workspace.")
            return _stored(row)

    def add_typed_document(self, title: str, content: str, gold_tags: Sequence[str] = ()) -> StoredDocument:
        """A new document in the typed collection, with the next free id `typed-N`."""
        collection = self.typed_collection()
        with self.store.session() as session:
            position = (
                session.scalar(
                    select(func.max(schema.Document.position)).where(
                        schema.Document.collection_id == collection.id
                    )
                )
                or 0
            ) + 1
            stamp = now()
            row = schema.Document(
                collection_id=collection.id,
                source_id=f"typed-{position}",
                position=position,
                title=title,
                content=content,
                gold_tags=json.dumps(list(gold_tags)),
                created=stamp,
                updated=stamp,
            )
            session.add(row)
            session.flush()
            return _stored(row)

    def put_document(
        self,
        collection_id: int,
        source_id: str,
        title: str,
        content: str,
        gold_tags: Sequence[str] | None = None,
    ) -> StoredDocument:
        """The document with this id in the collection: added
        at the end, or its text updated (history kept)."""
        source_id = str(source_id).strip()
        if not source_id or len(source_id) > 200:
            raise WorkspaceError("A document id has 1 to 200 characters.")
        with self.store.session() as session:
            found = session.scalar(
                select(schema.Document.id).where(
                    schema.Document.collection_id == collection_id, schema.Document.source_id == source_id
                )
            )
        if found is not None:
            return self.edit_document(found, title, content, gold_tags)
        with self.store.session() as session:
            position = (
                session.scalar(
                    select(func.max(schema.Document.position)).where(
                        schema.Document.collection_id == collection_id
                    )
                )
                or 0
            ) + 1
            stamp = now()
            row = schema.Document(
                collection_id=collection_id,
                source_id=source_id,
                position=position,
                title=title,
                content=content,
                gold_tags=json.dumps(list(gold_tags or [])),
                created=stamp,
                updated=stamp,
            )
            session.add(row)
            session.flush()
            return _stored(row)

    def edit_document(
        self, document_id: int, title: str, content: str, gold_tags: Sequence[str] | None = None
    ) -> StoredDocument:
        """Replaces a document's text, keeping the earlier text as a revision; its decisions stay with it."""
        with self.store.session() as session:
            row = session.get(schema.Document, document_id)
            if row is None:
                raise WorkspaceError(f"There is no document {document_id} in the workspace.")
            if (row.title, row.content) != (title, content):
                session.add(
                    schema.DocumentRevision(
                        document_id=row.id, title=row.title, content=row.content, replaced=now()
                    )
                )
                row.title, row.content, row.updated = title, content, now()
            if gold_tags is not None:
                row.gold_tags = json.dumps(list(gold_tags))
            return _stored(row)

    def revisions(self, document_id: int) -> list[tuple[str, str, datetime]]:
        """The document's earlier texts (title, content, when replaced), oldest first."""
        with self.store.session() as session:
            rows = session.scalars(
                select(schema.DocumentRevision)
                .where(schema.DocumentRevision.document_id == document_id)
                .order_by(schema.DocumentRevision.id)
            ).all()
            return [(row.title, row.content, row.replaced) for row in rows]

    # ---- models and their scores ---------------------------------------------------------------
    def scoring_model(self, name: str, fingerprint: str, labels: Sequence[str]) -> ScoringModel:
        """The stored model with this fingerprint, registered on first use."""
        with self.store.session() as session:
            row = session.scalar(select(schema.Model).where(schema.Model.fingerprint == fingerprint))
            if row is None:
                row = schema.Model(fingerprint=fingerprint, name=name[:200], labels=json.dumps(list(labels)))
                session.add(row)
                session.flush()
            return ScoringModel(row.id, row.name, row.fingerprint, json.loads(row.labels))

    def store_scores(
        self,
        model: ScoringModel,
        scores: dict[int, np.ndarray],
        threshold: float,
        domain: dict[int, DomainCheck | None] | None = None,
    ) -> None:
        """Every tag's score (in the model's label order) for each document id; a rescore replaces the row.

        `domain`: each document's domain check (Predictor.domain_checks), kept with its scores; a document
        without one (None, or absent) stores none, so a rescore never keeps a check of an older text.
        """
        domain = domain or {}
        with self.store.session() as session:
            existing = dict(
                session.execute(
                    select(schema.Suggestion.document_id, schema.Suggestion.id).where(
                        schema.Suggestion.model_id == model.id,
                        schema.Suggestion.document_id.in_(list(scores)),
                    )
                ).all()
            )
            stamp = now()
            for document_id, row in scores.items():
                values = np.asarray(row, dtype="<f4")
                if values.shape != (len(model.labels),):
                    raise WorkspaceError(
                        f"{values.shape[0]} scores given for a model of {len(model.labels)} tags."
                    )
                check = domain.get(document_id)
                fields = dict(
                    threshold=float(threshold),
                    scores=values.tobytes(),
                    top_score=float(values.max(initial=0.0)),
                    domain_score=None if check is None else float(check.score),
                    domain_unusual=None if check is None else bool(check.unusual),
                    created=stamp,
                )
                if document_id in existing:
                    session.execute(
                        update(schema.Suggestion)
                        .where(schema.Suggestion.id == existing[document_id])
                        .values(**fields)
                    )
                else:
                    session.add(schema.Suggestion(document_id=document_id, model_id=model.id, **fields))

    def scores(self, collection_id: int, model: ScoringModel) -> dict[int, np.ndarray]:
        """Document id -> (L,) scores by `model`, for every scored document of the collection."""
        with self.store.session() as session:
            rows = session.execute(
                select(schema.Suggestion.document_id, schema.Suggestion.scores)
                .join(schema.Document, schema.Document.id == schema.Suggestion.document_id)
                .where(schema.Document.collection_id == collection_id, schema.Suggestion.model_id == model.id)
            ).all()
        return {document_id: np.frombuffer(blob, dtype="<f4") for document_id, blob in rows}

    def domain_checks(self, collection_id: int, model: ScoringModel) -> dict[int, StoredDomainCheck]:
        """Document id -> the domain check stored when `model` scored it, for the documents that have one
        (none for a model without a domain statistic, nor for rows scored before revision 0003)."""
        with self.store.session() as session:
            rows = session.execute(
                select(
                    schema.Suggestion.document_id,
                    schema.Suggestion.domain_score,
                    schema.Suggestion.domain_unusual,
                )
                .join(schema.Document, schema.Document.id == schema.Suggestion.document_id)
                .where(
                    schema.Document.collection_id == collection_id,
                    schema.Suggestion.model_id == model.id,
                    schema.Suggestion.domain_score.is_not(None),
                    schema.Suggestion.domain_unusual.is_not(None),
                )
            ).all()
        return {document: StoredDomainCheck(float(score), bool(unusual)) for document, score, unusual in rows}

    def models_for(self, collection_id: int) -> list[ScoringModel]:
        """The models that scored documents of the collection, the most recent first."""
        with self.store.session() as session:
            rows = session.execute(
                select(schema.Model, func.max(schema.Suggestion.id))
                .join(schema.Suggestion, schema.Suggestion.model_id == schema.Model.id)
                .join(schema.Document, schema.Document.id == schema.Suggestion.document_id)
                .where(schema.Document.collection_id == collection_id)
                .group_by(schema.Model.id)
                .order_by(func.max(schema.Suggestion.id).desc())
            ).all()
            return [
                ScoringModel(row.id, row.name, row.fingerprint, json.loads(row.labels)) for row, _ in rows
            ]

    def stored_threshold(self, collection_id: int, model: ScoringModel) -> float | None:
        """The threshold `model` had when it last scored a document of the collection."""
        with self.store.session() as session:
            return session.scalar(
                select(schema.Suggestion.threshold)
                .join(schema.Document, schema.Document.id == schema.Suggestion.document_id)
                .where(schema.Document.collection_id == collection_id, schema.Suggestion.model_id == model.id)
                .order_by(schema.Suggestion.id.desc())
                .limit(1)
            )

    # ---- decisions -----------------------------------------------------------------------------
    def decide(
        self, document_id: int, curator: str, tag: str, verdict: str, score: float | None = None
    ) -> int:
        """Records one verdict (accept, reject or add) on one tag; returns the action's id (for undo)."""
        return self.decide_many(document_id, curator, [(tag, verdict, score)], kind="decide")

    def decide_many(
        self,
        document_id: int,
        curator: str,
        verdicts: Sequence[tuple[str, str, float | None]],
        kind: str = "decide",
        status: str | None = None,
    ) -> int:
        """Several verdicts on one document as one action (undone together), optionally with a new status."""
        curator = checked_curator(curator)
        with self.store.session() as session:
            document = _existing_document(session, document_id)
            action = _new_action(session, document.collection_id, curator, kind, _describe(verdicts, status))
            _add_verdicts(session, action, document_id, curator, verdicts)
            if status is not None:
                _add_status(session, action, document_id, curator, status)
            return action.id

    def set_status(self, document_id: int, curator: str, status: str) -> int:
        """Marks the document pending, reviewed or skipped for this curator; returns the action's id."""
        return self.decide_many(document_id, curator, [], kind="status", status=status)

    def bulk_accept(
        self,
        collection_id: int,
        curator: str,
        items: dict[int, list[tuple[str, float]]],
        mark_reviewed: bool = False,
    ) -> int:
        """Accepts the given (tag, score) pairs on many documents
        as one action, so one undo takes them all back."""
        curator = checked_curator(curator)
        count = sum(len(tags) for tags in items.values())
        with self.store.session() as session:
            action = _new_action(
                session,
                collection_id,
                curator,
                "bulk-accept",
                f"accepted {count} suggestion(s) on {len(items)} document(s)",
            )
            for document_id, tags in items.items():
                _add_verdicts(
                    session, action, document_id, curator, [(tag, "accept", score) for tag, score in tags]
                )
                if mark_reviewed:
                    _add_status(session, action, document_id, curator, "reviewed")
            return action.id

    def undo(self, collection_id: int, curator: str) -> str | None:
        """Takes back the curator's latest action in the collection (a clear brings back what it cleared).

        Returns what was undone, or None when there is nothing left to undo. Nothing is deleted.
        """
        curator = checked_curator(curator)
        with self.store.session() as session:
            action = session.scalar(
                select(schema.Action)
                .where(
                    schema.Action.collection_id == collection_id,
                    schema.Action.curator == curator,
                    schema.Action.undone.is_(False),
                )
                .order_by(schema.Action.id.desc())
                .limit(1)
            )
            if action is None:
                return None
            action.undone = True
            if action.kind == "clear":
                session.execute(
                    update(schema.Action)
                    .where(schema.Action.cleared_by == action.id)
                    .values(undone=False, cleared_by=None)
                )
            return action.description or action.kind

    def clear(self, collection_id: int, curator: str) -> int:
        """Takes back every decision and status of the curator
        in the collection, as one action that undo reverses."""
        curator = checked_curator(curator)
        with self.store.session() as session:
            action = _new_action(session, collection_id, curator, "clear", "cleared every decision")
            session.execute(
                update(schema.Action)
                .where(
                    schema.Action.collection_id == collection_id,
                    schema.Action.curator == curator,
                    schema.Action.undone.is_(False),
                    schema.Action.id != action.id,
                )
                .values(undone=True, cleared_by=action.id)
            )
            return action.id

    def last_action(self, collection_id: int, curator: str) -> str | None:
        """What undo would take back, or None."""
        with self.store.session() as session:
            action = session.scalar(
                select(schema.Action)
                .where(
                    schema.Action.collection_id == collection_id,
                    schema.Action.curator == checked_curator(curator),
                    schema.Action.undone.is_(False),
                )
                .order_by(schema.Action.id.desc())
                .limit(1)
            )
            return None if action is None else (action.description or action.kind)

    # ---- reading decisions ---------------------------------------------------------------------
    def review(self, document_id: int, curator: str) -> Review:
        return self.reviews(None, curator, [document_id]).get(document_id) or Review(document_id, curator)

    def reviews(
        self, collection_id: int | None, curator: str | None, document_ids: Sequence[int] | None = None
    ) -> dict[int, Review]:
        """(document id -> Review) for one curator, or keyed by (document id, curator) when `curator` is None.

        Only documents some curator touched appear; the rest are pending with no verdict.
        """
        with self.store.session() as session:
            verdict_rows = session.execute(
                _active(
                    select(
                        schema.Decision.document_id,
                        schema.Decision.curator,
                        schema.Decision.tag,
                        schema.Decision.verdict,
                        schema.Decision.created,
                    ),
                    schema.Decision,
                    collection_id,
                    curator,
                    document_ids,
                ).order_by(schema.Decision.id)
            ).all()
            status_rows = session.execute(
                _active(
                    select(
                        schema.StatusChange.document_id,
                        schema.StatusChange.curator,
                        schema.StatusChange.status,
                        schema.StatusChange.created,
                    ),
                    schema.StatusChange,
                    collection_id,
                    curator,
                    document_ids,
                ).order_by(schema.StatusChange.id)
            ).all()
        return _fold_reviews(verdict_rows, status_rows, by_curator=curator is None)

    def curators(self, collection_id: int) -> list[str]:
        with self.store.session() as session:
            return list(
                session.scalars(
                    select(schema.Action.curator)
                    .where(schema.Action.collection_id == collection_id)
                    .distinct()
                    .order_by(schema.Action.curator)
                )
            )


# ---- helpers ----------------------------------------------------------------------------------
def _check_unique(source_ids: list[str], documents: Sequence[SourceDocument]) -> None:
    lines: dict[str, list[int]] = {}
    for source_id, document in zip(source_ids, documents):
        lines.setdefault(source_id, []).append(document.line)
    repeated = [(source_id, where) for source_id, where in lines.items() if len(where) > 1]
    if repeated:
        shown = "; ".join(
            f"id {source_id!r} on lines {', '.join(map(str, where))}" for source_id, where in repeated[:10]
        )
        more = f" and {len(repeated) - 10} more" if len(repeated) > 10 else ""
        raise WorkspaceError(
            f"{len(repeated)} id(s) appear more than once: {shown}{more}. Each document needs its own "
            "id; fix the file or remove the id column (documents are then known by their line)."
        )
    too_long = next((source_id for source_id in source_ids if len(source_id) > 200), None)
    if too_long is not None:
        raise WorkspaceError(
            f"An id has {len(too_long)} characters ({too_long[:40]}...); ids have at most 200."
        )


def _document_row(
    collection_id: int, source_id: str, position: int, document: SourceDocument, stamp
) -> schema.Document:
    return schema.Document(
        collection_id=collection_id,
        source_id=source_id,
        position=position,
        title=document.title,
        content=document.content,
        gold_tags=json.dumps(list(document.tags)),
        created=stamp,
        updated=stamp,
    )


def _stored(row: schema.Document) -> StoredDocument:
    return StoredDocument(
        row.id,
        row.collection_id,
        row.source_id,
        row.position,
        row.title,
        row.content,
        list(json.loads(row.gold_tags or "[]")),
    )


def _existing_document(session, document_id: int) -> schema.Document:
    document = session.get(schema.Document, document_id)
    if document is None:
        raise WorkspaceError(
            f"There is no document {document_id} in the workspace (was the collection removed?)."
        )
    return document


def _new_action(session, collection_id: int, curator: str, kind: str, description: str) -> schema.Action:
    action = schema.Action(
        collection_id=collection_id,
        curator=curator,
        kind=kind,
        description=description[:2000],
        created=now(),
        undone=False,
    )
    session.add(action)
    session.flush()
    return action


def _add_verdicts(session, action, document_id: int, curator: str, verdicts) -> None:
    for tag, verdict, score in verdicts:
        if verdict not in VERDICTS:
            raise WorkspaceError(f"A decision is one of {', '.join(VERDICTS)}, not {verdict!r}.")
        tag = str(tag).strip()
        if not tag or len(tag) > MAX_TAG_CHARACTERS:
            raise WorkspaceError(f"A tag has 1 to {MAX_TAG_CHARACTERS} characters.")
        session.add(
            schema.Decision(
                action_id=action.id,
                document_id=document_id,
                curator=curator,
                tag=tag,
                verdict=verdict,
                score=None if score is None else float(score),
                created=action.created,
            )
        )


def _add_status(session, action, document_id: int, curator: str, status: str) -> None:
    if status not in STATUSES:
        raise WorkspaceError(f"A document's status is one of {', '.join(STATUSES)}, not {status!r}.")
    session.add(
        schema.StatusChange(
            action_id=action.id,
            document_id=document_id,
            curator=curator,
            status=status,
            created=action.created,
        )
    )


def _describe(verdicts, status: str | None) -> str:
    parts = [f"{verdict} {tag}" for tag, verdict, _ in verdicts[:5]]
    if len(verdicts) > 5:
        parts.append(f"and {len(verdicts) - 5} more")
    if status:
        parts.append(f"marked {status}")
    return ", ".join(parts)


def _active(query, table, collection_id: int | None, curator: str | None, document_ids: Sequence[int] | None):
    """Rows of `table` whose action is not undone, narrowed to a collection, a curator and documents."""
    query = query.join(schema.Action, schema.Action.id == table.action_id).where(
        schema.Action.undone.is_(False)
    )
    if collection_id is not None:
        query = query.where(schema.Action.collection_id == collection_id)
    if curator is not None:
        query = query.where(table.curator == checked_curator(curator))
    if document_ids is not None:
        query = query.where(table.document_id.in_(list(document_ids)))
    return query


def _fold_reviews(verdict_rows, status_rows, by_curator: bool) -> dict:
    """The latest verdict per tag and the latest status per document (rows come in decision order)."""
    reviews: dict = {}

    def review_of(document_id: int, curator: str) -> Review:
        key = (document_id, curator) if by_curator else document_id
        if key not in reviews:
            reviews[key] = Review(document_id, curator)
        return reviews[key]

    for document_id, curator, tag, verdict, created in verdict_rows:
        review = review_of(document_id, curator)
        review.verdicts.pop(tag, None)  # the latest verdict goes last, keeping decision order
        review.verdicts[tag] = verdict
        review.updated = max(filter(None, (review.updated, created)))
    for document_id, curator, status, created in status_rows:
        review = review_of(document_id, curator)
        review.status = status
        review.updated = max(filter(None, (review.updated, created)))
    return reviews
