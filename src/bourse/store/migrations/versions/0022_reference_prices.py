"""Reference prices: exactly ``bourse.store.tables.reference_prices``. A database with trades
gets no rows here: the engine starts each traded symbol's reference at its newest trade
(``store.snapshot``) and writes it from the symbol's next trade on.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reference_prices",
        sa.Column("symbol", sa.String(64), primary_key=True),
        sa.Column("price", sa.BigInteger, nullable=False),
        sa.Column("fraction", sa.BigInteger, nullable=False),
        sa.Column("last", sa.BigInteger, nullable=False),
        sa.Column("time", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("reference_prices")
