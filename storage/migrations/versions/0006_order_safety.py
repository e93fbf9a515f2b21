"""order safety: the admins' problem list, and a count of unusable final reports per order

Revision ID: order_safety
Revises: topups
Create Date: 2026-12-06 09:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "order_safety"
down_revision: str | None = "topups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "order_problems",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("upstream_id", sa.String(length=64), nullable=True),
        sa.Column("dedupe_key", sa.String(length=160), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.BigInteger(), nullable=True),
        sa.Column("resolution", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key"),
    )
    op.create_index("ix_order_problems_order_id", "order_problems", ["order_id"])
    op.create_index("ix_order_problems_resolved_at", "order_problems", ["resolved_at"])
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("unusable_reports", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("unusable_reports")
    op.drop_index("ix_order_problems_resolved_at", table_name="order_problems")
    op.drop_index("ix_order_problems_order_id", table_name="order_problems")
    op.drop_table("order_problems")
