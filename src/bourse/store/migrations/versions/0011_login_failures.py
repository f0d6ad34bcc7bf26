"""Log-in failures per (e-mail, client IP): ``bourse.store.oauth_tables.login_failures``.

Replaces the per-user ``failed_logins``/``locked_until`` columns, which were read outside the
transaction that wrote them (concurrent failures were lost) and let anyone lock a user out.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("email", sa.String(254), primary_key=True),
        sa.Column("ip", sa.String(64), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_failed", sa.BigInteger, nullable=False),
        sa.Column("locked_until", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_login_failures_last", "login_failures", ["last_failed"])
    with op.batch_alter_table("users") as batch:
        batch.drop_column("failed_logins")
        batch.drop_column("locked_until")


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("locked_until", sa.BigInteger, nullable=False, server_default="0")
        )
    op.drop_index("ix_login_failures_last", "login_failures")
    op.drop_table("login_failures")
