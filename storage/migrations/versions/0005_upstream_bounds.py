"""upstream bounds: 64-bit order quantities, and what each panel supports

Revision ID: upstream_bounds
Revises: order_safety
Create Date: 2026-12-06 09:30:00.000000

`orders.quantity` was a 32-bit INTEGER on PostgreSQL: a subscription or drip-feed total above
2,147,483,647 failed the insert (bot/panel/bounds.py bounds panel numbers far below 64 bits).
SQLite's INTEGER is already 64-bit (the model declares it so there), so only PostgreSQL changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types


revision: str = 'upstream_bounds'
down_revision: str | None = 'scale_out'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('panel_capabilities',
    sa.Column('panel', sa.String(length=64), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('bulk_status', sa.Boolean(), nullable=True),
    sa.Column('refill', sa.Boolean(), nullable=True),
    sa.Column('cancel', sa.Boolean(), nullable=True),
    sa.Column('dripfeed', sa.Boolean(), nullable=True),
    sa.Column('currency', sa.String(length=16), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('updated_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('panel')
    )
    if op.get_bind().dialect.name == 'postgresql':
        op.alter_column('orders', 'quantity', existing_type=sa.Integer(), type_=sa.BigInteger(),
                        existing_nullable=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.alter_column('orders', 'quantity', existing_type=sa.BigInteger(), type_=sa.Integer(),
                        existing_nullable=True)
    op.drop_table('panel_capabilities')
