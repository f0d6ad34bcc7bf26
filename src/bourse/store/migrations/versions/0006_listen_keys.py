"""User-data streams: exactly ``bourse.store.stream_tables``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "listen_keys",
        sa.Column("listen_key", sa.String(64), primary_key=True),
        sa.Column("account_id", sa.BigInteger, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("expires", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_listen_keys_account", "listen_keys", ["account_id", "expires"])


def downgrade() -> None:
    op.drop_index("ix_listen_keys_account", table_name="listen_keys")
    op.drop_table("listen_keys")
