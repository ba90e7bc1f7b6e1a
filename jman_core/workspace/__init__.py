"""The curation workspace: collections, model suggestions and every curator decision in a real database."""

from .curation import (
    TYPED_COLLECTION,
    CollectionInfo,
    Review,
    ScoringModel,
    StoredDocument,
    StoredDomainCheck,
    Workspace,
    checked_curator,
)
from .schema import STATUSES, VERDICTS
from .store import DATABASE_VARIABLE, WorkspaceError, database_url, forget_stores, open_store, shown_url

__all__ = [
    "TYPED_COLLECTION",
    "CollectionInfo",
    "Review",
    "ScoringModel",
    "StoredDocument",
    "StoredDomainCheck",
    "Workspace",
    "checked_curator",
    "STATUSES",
    "VERDICTS",
    "DATABASE_VARIABLE",
    "WorkspaceError",
    "database_url",
    "forget_stores",
    "open_store",
    "shown_url",
]
