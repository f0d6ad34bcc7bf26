"""MX fee deduction: ``accounts.mx_deduct`` and the fee asset of each side of a trade.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(
            sa.Column("mx_deduct", sa.Boolean, nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("trades") as batch:
        batch.add_column(sa.Column("buyer_fee_asset", sa.String(32), nullable=True))
        batch.add_column(sa.Column("seller_fee_asset", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trades") as batch:
        batch.drop_column("seller_fee_asset")
        batch.drop_column("buyer_fee_asset")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("mx_deduct")
