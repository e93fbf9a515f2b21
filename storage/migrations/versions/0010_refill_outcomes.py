"""refill outcomes: checks without news, the panel's reason, when a refill was settled

Revision ID: refill_outcomes
Revises: growth
Create Date: 2026-12-06 20:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "refill_outcomes"
down_revision: str | None = "growth"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("refills") as batch:
        batch.add_column(sa.Column("checks", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("finished_at", storage.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("refills") as batch:
        batch.drop_column("finished_at")
        batch.drop_column("reason")
        batch.drop_column("checks")
