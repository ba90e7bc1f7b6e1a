"""The curation store's tables: collections of documents, model suggestions, and every decision as history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# add: a tag the model did not propose (or proposed below the threshold)
VERDICTS = ("accept", "reject", "add")
STATUSES = ("pending", "reviewed", "skipped")


class Base(DeclarativeBase):
    pass


class Collection(Base):
    """A named set of documents: an uploaded file, or the documents typed one at a time."""

    __tablename__ = "collections"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # "file" or "typed"
    source: Mapped[str] = mapped_column(String(500), default="")  # the uploaded file's name
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Document(Base):
    """One document of a collection; `source_id` is the file's
    id column, else `line-N` (stable across imports)."""

    __tablename__ = "documents"
    __table_args__ = (
        UniqueConstraint("collection_id", "source_id"),
        Index("ix_documents_position", "collection_id", "position"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"))
    source_id: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text, default="")
    content: Mapped[str] = mapped_column(Text, default="")
    gold_tags: Mapped[str] = mapped_column(Text, default="[]")  # JSON list
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DocumentRevision(Base):
    """A document's earlier text, kept when the text is edited (revision 0002)."""

    __tablename__ = "document_revisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(Text, default="")
    content: Mapped[str] = mapped_column(Text, default="")
    replaced: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Model(Base):
    """A checkpoint as it was when it scored: its name, the
    fingerprint of its weights, its labels in order."""

    __tablename__ = "models"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    labels: Mapped[str] = mapped_column(Text)  # JSON list, the order of the stored scores


class Suggestion(Base):
    """Every tag's score for one document by one model (float32, in the model's label order)."""

    __tablename__ = "suggestions"
    __table_args__ = (UniqueConstraint("document_id", "model_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    threshold: Mapped[float] = mapped_column(Float)  # the model's tuned threshold when it scored
    scores: Mapped[bytes] = mapped_column(LargeBinary)
    top_score: Mapped[float] = mapped_column(Float)
    # the domain check when it scored (revision 0003): its score (jman_core.domain.DomainCheck.score), and
    # whether that passed the model's threshold; None for a model without the statistic or an older row
    domain_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    domain_unusual: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Action(Base):
    """One click (or one bulk operation) of a curator; undo marks it undone, nothing is deleted."""

    __tablename__ = "actions"
    __table_args__ = (Index("ix_actions_curator", "collection_id", "curator", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"))
    curator: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(30))  # decide, status, accept-all, bulk-accept, clear
    description: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    undone: Mapped[bool] = mapped_column(Boolean, default=False)
    cleared_by: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the "clear" action that undid it


class Decision(Base):
    """A curator's verdict on one tag of one document; the latest one not undone counts."""

    __tablename__ = "decisions"
    __table_args__ = (Index("ix_decisions_document", "document_id", "curator"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id", ondelete="CASCADE"), index=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    curator: Mapped[str] = mapped_column(String(100))
    tag: Mapped[str] = mapped_column(String(200))
    verdict: Mapped[str] = mapped_column(String(10))  # accept, reject, add
    score: Mapped[float | None] = mapped_column(Float, nullable=True)  # the model's score when decided
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class StatusChange(Base):
    """A document's status for one curator (pending, reviewed, skipped); the latest one not undone counts."""

    __tablename__ = "status_changes"
    __table_args__ = (Index("ix_status_document", "document_id", "curator"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id", ondelete="CASCADE"), index=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    curator: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(10))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
