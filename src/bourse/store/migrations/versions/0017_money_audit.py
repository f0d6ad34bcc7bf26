"""The money audit: every money movement's origin and request id, written with the movement.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "money_audit",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("time", sa.BigInteger, nullable=False),
        sa.Column("command", sa.String(32), nullable=False),
        sa.Column("origin", sa.String(128), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("account", sa.BigInteger, nullable=True),
        sa.Column("asset", sa.String(32), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=True),
        sa.Column("ref", sa.BigInteger, nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_money_audit_time", "money_audit", ["time"])
    op.create_index("ix_money_audit_account", "money_audit", ["account"])


def downgrade() -> None:
    op.drop_table("money_audit")
