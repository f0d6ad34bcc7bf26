"""A reference price's history: ``reference_prices.since``, the time of its symbol's first
trade (``domain.reference_price.settled``). Rows written before it get 0, read as settled: they
came from trades made before this column existed, not from a pair that has only just traded.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reference_prices") as batch:
        batch.add_column(sa.Column("since", sa.BigInteger, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("reference_prices") as batch:
        batch.drop_column("since")
