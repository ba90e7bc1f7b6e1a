"""Keep a document's earlier text when it is edited, so one document carries its history.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "document_revisions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "document_id", sa.Integer, sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("replaced", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_document_revisions_document_id", "document_revisions", ["document_id"])


def downgrade() -> None:
    op.drop_table("document_revisions")
