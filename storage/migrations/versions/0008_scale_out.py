"""scale-out: an update is claimed while processed and marked done after (issue #16)

Revision ID: scale_out
Revises: order_safety
Create Date: 2026-12-06 09:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types


revision: str = 'scale_out'
down_revision: str | None = 'order_safety'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows written before this revision were marks of updates taken: treat them as done.
    with op.batch_alter_table('processed_updates') as batch:
        batch.add_column(sa.Column('done', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch.add_column(sa.Column('claimed_until', storage.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('processed_updates') as batch:
        batch.drop_column('claimed_until')
        batch.drop_column('done')
