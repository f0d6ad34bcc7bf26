"""Dust conversions to MX: exactly ``bourse.store.tables.dust_conversions``.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dust_conversions",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("line", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("account_id", sa.BigInteger, nullable=False),
        sa.Column("asset", sa.String(32), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("convert", sa.BigInteger, nullable=False),
        sa.Column("fee", sa.BigInteger, nullable=False),
        sa.Column("time", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_dust_conversions_account_time", "dust_conversions", ["account_id", "time"])


def downgrade() -> None:
    op.drop_index("ix_dust_conversions_account_time", table_name="dust_conversions")
    op.drop_table("dust_conversions")
