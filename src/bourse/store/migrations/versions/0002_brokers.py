"""Broker program: brokers, rate history, key bindings, attributions, rebates, settlements.

Exactly ``bourse.store.broker_tables`` as of this revision.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

#: an auto-incrementing BIGINT that SQLite also treats as its rowid
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "brokers",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.BigInteger, nullable=False),
        sa.Column("rebate_account_id", sa.BigInteger, nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("code", sa.String(64), nullable=True),
        sa.Column("logo_url", sa.String(512), nullable=False),
        sa.Column("callback_url", sa.String(512), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("reason", sa.String(256), nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("updated", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("account_id", name="uq_brokers_account"),
        sa.UniqueConstraint("code", name="uq_brokers_code"),
    )
    op.create_table(
        "broker_rate_history",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("broker_id", sa.BigInteger, nullable=False),
        sa.Column("rate_ppm", sa.Integer, nullable=False),
        sa.Column("effective_from", sa.BigInteger, nullable=False),
        sa.Column("set_at", sa.BigInteger, nullable=False),
        sa.Column("note", sa.String(128), nullable=False),
    )
    op.create_index(
        "ix_broker_rate_history_broker", "broker_rate_history", ["broker_id", "effective_from"]
    )
    op.create_table(
        "key_bindings",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("api_key", sa.String(64), nullable=False),
        sa.Column("account_id", sa.BigInteger, nullable=False),
        sa.Column("broker_id", sa.BigInteger, nullable=False),
        sa.Column("bound_at", sa.BigInteger, nullable=False),
        sa.Column("unbound_at", sa.BigInteger, nullable=True),
        sa.Column("unbound_by", sa.String(16), nullable=False),
        sa.UniqueConstraint("api_key", name="uq_key_bindings_api_key"),
    )
    op.create_index("ix_key_bindings_broker", "key_bindings", ["broker_id", "unbound_at"])
    op.create_table(
        "order_attributions",
        sa.Column("order_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("account_id", sa.BigInteger, nullable=False),
        sa.Column("api_key", sa.String(64), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("broker_id", sa.BigInteger, nullable=True),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("time", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_order_attributions_status", "order_attributions", ["status", "time"])
    op.create_table(
        "rebates",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("trade_id", sa.BigInteger, nullable=False),
        sa.Column("side", sa.SmallInteger, nullable=False),
        sa.Column("order_id", sa.BigInteger, nullable=False),
        sa.Column("account_id", sa.BigInteger, nullable=False),
        sa.Column("broker_id", sa.BigInteger, nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("asset", sa.String(32), nullable=False),
        sa.Column("fee", sa.BigInteger, nullable=False),
        sa.Column("rebate", sa.BigInteger, nullable=False),
        sa.Column("rate_ppm", sa.Integer, nullable=False),
        sa.Column("maker", sa.Boolean, nullable=False),
        sa.Column("trade_time", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("settlement_key", sa.String(160), nullable=True),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("settled_at", sa.BigInteger, nullable=True),
        sa.UniqueConstraint("trade_id", "side", name="uq_rebates_trade_side"),
    )
    op.create_index("ix_rebates_broker_time", "rebates", ["broker_id", "trade_time"])
    op.create_index("ix_rebates_status", "rebates", ["status", "broker_id", "asset"])
    op.create_index("ix_rebates_settlement", "rebates", ["settlement_key"])
    op.create_table(
        "rebate_settlements",
        sa.Column("key", sa.String(160), primary_key=True),
        sa.Column("broker_id", sa.BigInteger, nullable=False),
        sa.Column("account_id", sa.BigInteger, nullable=False),
        sa.Column("asset", sa.String(32), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.String(256), nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("updated", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_rebate_settlements_broker", "rebate_settlements", ["broker_id", "created"])
    op.create_index("ix_rebate_settlements_status", "rebate_settlements", ["status"])
    op.create_table(
        "broker_cursors",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for name in (
        "broker_cursors",
        "rebate_settlements",
        "rebates",
        "order_attributions",
        "key_bindings",
        "broker_rate_history",
        "brokers",
    ):
        op.drop_table(name)
