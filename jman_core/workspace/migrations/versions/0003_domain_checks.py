"""Keep each suggestion's domain check, so the queue counts, filters and exports documents unlike training.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # nullable: rows scored before this revision, and models without a domain statistic, have no check
    op.add_column("suggestions", sa.Column("domain_score", sa.Float, nullable=True))
    op.add_column("suggestions", sa.Column("domain_unusual", sa.Boolean, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("suggestions") as batch:  # SQLite drops a column by copying the table
        batch.drop_column("domain_unusual")
        batch.drop_column("domain_score")
