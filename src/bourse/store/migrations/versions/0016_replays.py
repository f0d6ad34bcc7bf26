"""Replay keys of accepted signed requests: exactly ``replays`` in ``bourse.store.tables``.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "replays",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("expires", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_replays_expires", "replays", ["expires"])


def downgrade() -> None:
    op.drop_index("ix_replays_expires", table_name="replays")
    op.drop_table("replays")
