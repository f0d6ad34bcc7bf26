"""Internal transfers to another user: exactly ``bourse.store.internal_transfer_tables``.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "internal_transfers",
        sa.Column("from_account", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("request_key", sa.String(64), primary_key=True),
        sa.Column("transfer_id", sa.BigInteger, nullable=True),
        sa.Column("to_account", sa.BigInteger, nullable=False),
        sa.Column("to_account_type", sa.String(8), nullable=False),
        sa.Column("to_account_text", sa.String(256), nullable=False),
        sa.Column("asset", sa.String(32), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("time", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_internal_transfers_from", "internal_transfers", ["from_account", "time"])
    op.create_index("ix_internal_transfers_to", "internal_transfers", ["to_account", "time"])
    op.create_index("ix_internal_transfers_tid", "internal_transfers", ["transfer_id"])


def downgrade() -> None:
    op.drop_index("ix_internal_transfers_tid", table_name="internal_transfers")
    op.drop_index("ix_internal_transfers_to", table_name="internal_transfers")
    op.drop_index("ix_internal_transfers_from", table_name="internal_transfers")
    op.drop_table("internal_transfers")
