"""category platform: the owner's choice of a category's platform (catalog by platform, issue #15)

Revision ID: category_platform
Revises: refill_outcomes
Create Date: 2026-12-06 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "category_platform"
down_revision: str | None = "refill_outcomes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("categories") as batch:
        batch.add_column(sa.Column("platform", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("categories") as batch:
        batch.drop_column("platform")
