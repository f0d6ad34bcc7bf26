"""A withdrawal's remark moves into its ``withdrawals`` row, which the engine writes with the
reserve in one commit; ``withdrawal_info`` (the remark, written after that commit in a
transaction of its own, so a crash in between lost it) goes, its remarks copied over.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_withdrawals = sa.table("withdrawals", sa.column("id"), sa.column("remark"))
_info = sa.table("withdrawal_info", sa.column("withdrawal_id"), sa.column("remark"))


def upgrade() -> None:
    with op.batch_alter_table("withdrawals") as batch:
        batch.add_column(sa.Column("remark", sa.String(256), nullable=False, server_default=""))
    of_row = _info.c.withdrawal_id == _withdrawals.c.id
    op.execute(
        _withdrawals.update()
        .where(sa.exists().where(of_row))
        .values(remark=sa.select(_info.c.remark).where(of_row).scalar_subquery())
    )
    op.drop_table("withdrawal_info")


def downgrade() -> None:
    op.create_table(
        "withdrawal_info",
        sa.Column("withdrawal_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("remark", sa.String(256), nullable=False),
    )
    op.execute(
        _info.insert().from_select(
            ["withdrawal_id", "remark"],
            sa.select(_withdrawals.c.id, _withdrawals.c.remark).where(_withdrawals.c.remark != ""),
        )
    )
    with op.batch_alter_table("withdrawals") as batch:
        batch.drop_column("remark")
