"""Sub-accounts: exactly ``bourse.store.subaccount_tables``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subaccounts",
        sa.Column("account_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("master_account_id", sa.BigInteger, nullable=False),
        sa.Column("broker_id", sa.BigInteger, nullable=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("note", sa.String(256), nullable=False),
        sa.Column("futures", sa.Boolean, nullable=False),
        sa.Column("maker_markup", sa.Integer, nullable=False),
        sa.Column("taker_markup", sa.Integer, nullable=False),
        sa.Column("password_hash", sa.String(256), nullable=True),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("master_account_id", "name", name="uq_subaccounts_master_name"),
    )
    op.create_table(
        "subaccount_quotas",
        sa.Column("master_account_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("max_subaccounts", sa.Integer, nullable=False),
        sa.Column("max_markup_ppm", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("subaccount_quotas")
    op.drop_table("subaccounts")
