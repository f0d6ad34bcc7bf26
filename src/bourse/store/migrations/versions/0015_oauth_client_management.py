"""OAuth client management: the scopes an OAuth broker is approved for, and a client's previous
secret with the end of its grace period after a rotation.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("brokers") as batch:
        batch.add_column(
            sa.Column("oauth_scopes", sa.String(64), nullable=False, server_default="read trade")
        )
    with op.batch_alter_table("oauth_clients") as batch:
        batch.add_column(sa.Column("previous_secret_hash", sa.Text, nullable=True))
        batch.add_column(sa.Column("previous_secret_expires", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("secret_rotated", sa.BigInteger, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("oauth_clients") as batch:
        batch.drop_column("secret_rotated")
        batch.drop_column("previous_secret_expires")
        batch.drop_column("previous_secret_hash")
    with op.batch_alter_table("brokers") as batch:
        batch.drop_column("oauth_scopes")
