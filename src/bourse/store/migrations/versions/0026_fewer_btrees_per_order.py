"""Fewer B-trees written per committed order (``bench/store_pages.py``).

* ``ix_orders_status`` (every order by status) becomes ``ix_orders_open``, an index of the open
  orders only (``status IN ('NEW', 'PARTIALLY_FILLED')``), on SQLite and PostgreSQL: what reads
  orders by status reads open ones (the engine's load, the ledger check), and an order that
  closes within its batch (an IMMEDIATE_OR_CANCEL, a market order) no longer writes it.
* SQLite only, each table rebuilt with every row (the rows of ``orders`` and ``trades`` are
  the same integers; nothing else changes): ``orders.id`` and ``trades.id`` are declared
  ``INTEGER`` so the table is keyed by them (its rowid) instead of a rowid table and an index
  of a ``BIGINT`` key; ``idempotency`` and ``replays`` become ``WITHOUT ROWID``, one B-tree
  keyed by their primary key instead of two. PostgreSQL's tables are left as they are.

The downgrade puts back the full ``status`` index and, on SQLite, the tables as they were.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

#: the open statuses, in the order the queries for open orders name them (``store.tables``)
_OPEN = "status IN ('NEW', 'PARTIALLY_FILLED')"


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _keyed_by_id(table: str, key: sa.types.TypeEngine, was: sa.types.TypeEngine) -> None:
    with op.batch_alter_table(table, recreate="always") as batch:
        batch.alter_column("id", existing_type=was, type_=key, existing_nullable=False)


def _rowid(table: str, with_rowid: bool) -> None:
    with op.batch_alter_table(
        table, recreate="always", table_kwargs={"sqlite_with_rowid": with_rowid}
    ):
        pass


def upgrade() -> None:
    if _sqlite():
        for table in ("orders", "trades"):
            _keyed_by_id(table, sa.Integer(), sa.BigInteger())
        for table in ("idempotency", "replays"):
            _rowid(table, False)
    op.drop_index("ix_orders_status", table_name="orders")
    op.create_index(
        "ix_orders_open",
        "orders",
        ["status"],
        sqlite_where=sa.text(_OPEN),
        postgresql_where=sa.text(_OPEN),
    )


def downgrade() -> None:
    op.drop_index("ix_orders_open", table_name="orders")
    op.create_index("ix_orders_status", "orders", ["status"])
    if _sqlite():
        for table in ("idempotency", "replays"):
            _rowid(table, True)
        for table in ("orders", "trades"):
            _keyed_by_id(table, sa.BigInteger(), sa.Integer())
