"""The first workspace schema: collections, documents, models, suggestions, actions, decisions, statuses.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _stamp(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def _document_reference() -> sa.Column:
    return sa.Column(
        "document_id", sa.Integer, sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "collections",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        _stamp("created"),
    )
    op.create_table(
        "documents",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "collection_id", sa.Integer, sa.ForeignKey("collections.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("source_id", sa.String(200), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("gold_tags", sa.Text, nullable=False),
        _stamp("created"),
        _stamp("updated"),
        sa.UniqueConstraint("collection_id", "source_id"),
    )
    op.create_index("ix_documents_position", "documents", ["collection_id", "position"])
    op.create_table(
        "models",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("labels", sa.Text, nullable=False),
    )
    op.create_table(
        "suggestions",
        sa.Column("id", sa.Integer, primary_key=True),
        _document_reference(),
        sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
        sa.Column("threshold", sa.Float, nullable=False),
        sa.Column("scores", sa.LargeBinary, nullable=False),
        sa.Column("top_score", sa.Float, nullable=False),
        _stamp("created"),
        sa.UniqueConstraint("document_id", "model_id"),
    )
    op.create_index("ix_suggestions_model_id", "suggestions", ["model_id"])
    op.create_table(
        "actions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "collection_id", sa.Integer, sa.ForeignKey("collections.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("curator", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        _stamp("created"),
        sa.Column("undone", sa.Boolean, nullable=False),
        sa.Column("cleared_by", sa.Integer, nullable=True),
    )
    op.create_index("ix_actions_curator", "actions", ["collection_id", "curator", "id"])
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("action_id", sa.Integer, sa.ForeignKey("actions.id", ondelete="CASCADE"), nullable=False),
        _document_reference(),
        sa.Column("curator", sa.String(100), nullable=False),
        sa.Column("tag", sa.String(200), nullable=False),
        sa.Column("verdict", sa.String(10), nullable=False),
        sa.Column("score", sa.Float, nullable=True),
        _stamp("created"),
    )
    op.create_index("ix_decisions_action_id", "decisions", ["action_id"])
    op.create_index("ix_decisions_document", "decisions", ["document_id", "curator"])
    op.create_table(
        "status_changes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("action_id", sa.Integer, sa.ForeignKey("actions.id", ondelete="CASCADE"), nullable=False),
        _document_reference(),
        sa.Column("curator", sa.String(100), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        _stamp("created"),
    )
    op.create_index("ix_status_changes_action_id", "status_changes", ["action_id"])
    op.create_index("ix_status_document", "status_changes", ["document_id", "curator"])


def downgrade() -> None:
    for table in (
        "status_changes",
        "decisions",
        "actions",
        "suggestions",
        "models",
        "documents",
        "collections",
    ):
        op.drop_table(table)
