"""Wallet and simulated chain: exactly ``bourse.store.wallet_tables``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

#: an auto-incrementing BIGINT that SQLite also treats as its rowid
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "deposit_addresses",
        sa.Column("account_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("coin", sa.String(32), primary_key=True),
        sa.Column("network", sa.String(64), primary_key=True),
        sa.Column("address", sa.String(256), nullable=False),
        sa.Column("memo", sa.String(128), nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.UniqueConstraint(
            "network", "coin", "address", "memo", name="uq_deposit_addresses_lookup"
        ),
    )
    op.create_table(
        "chain_deposits",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("network", sa.String(64), nullable=False),
        sa.Column("txid", sa.String(128), nullable=False),
        sa.Column("vout", sa.Integer, nullable=False),
        sa.Column("coin", sa.String(32), nullable=False),
        sa.Column("address", sa.String(256), nullable=False),
        sa.Column("memo", sa.String(128), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("account_id", sa.BigInteger, nullable=True),
        sa.Column("block", sa.BigInteger, nullable=True),
        sa.Column("confirmations", sa.Integer, nullable=False),
        sa.Column("required", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("credited", sa.Boolean, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("updated", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("network", "txid", "vout", name="uq_chain_deposits_output"),
    )
    op.create_index("ix_chain_deposits_account", "chain_deposits", ["account_id", "created"])
    op.create_index("ix_chain_deposits_status", "chain_deposits", ["status"])
    op.create_table(
        "chain_withdrawals",
        sa.Column("withdrawal_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("network", sa.String(64), nullable=False),
        sa.Column("coin", sa.String(32), nullable=False),
        sa.Column("txid", sa.String(128), nullable=False),
        sa.Column("block", sa.BigInteger, nullable=True),
        sa.Column("confirmations", sa.Integer, nullable=False),
        sa.Column("required", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("updated", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("txid", name="uq_chain_withdrawals_txid"),
    )
    op.create_index("ix_chain_withdrawals_status", "chain_withdrawals", ["status"])
    op.create_table(
        "chain_state",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "withdraw_address_whitelist",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.BigInteger, nullable=False),
        sa.Column("coin", sa.String(32), nullable=False),
        sa.Column("network", sa.String(64), nullable=False),
        sa.Column("address", sa.String(256), nullable=False),
        sa.Column("memo", sa.String(128), nullable=False),
        sa.Column("label", sa.String(128), nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.UniqueConstraint(
            "account_id",
            "coin",
            "network",
            "address",
            "memo",
            name="uq_withdraw_whitelist_entry",
        ),
    )
    op.create_table(
        "withdrawal_info",
        sa.Column("withdrawal_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("remark", sa.String(256), nullable=False),
    )
    op.create_table(
        "account_wallets",
        sa.Column("account_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("wallet_type", sa.String(16), primary_key=True),
        sa.Column("ledger_account", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("ledger_account", name="uq_account_wallets_ledger"),
    )


def downgrade() -> None:
    op.drop_table("account_wallets")
    op.drop_table("withdrawal_info")
    op.drop_table("withdraw_address_whitelist")
    op.drop_table("chain_state")
    op.drop_index("ix_chain_withdrawals_status", table_name="chain_withdrawals")
    op.drop_table("chain_withdrawals")
    op.drop_index("ix_chain_deposits_status", table_name="chain_deposits")
    op.drop_index("ix_chain_deposits_account", table_name="chain_deposits")
    op.drop_table("chain_deposits")
    op.drop_table("deposit_addresses")
