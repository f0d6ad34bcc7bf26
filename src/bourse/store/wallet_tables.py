"""Wallet and simulated-chain tables, on the same ``metadata`` as ``bourse.store.tables``.

The engine owns balances, withdrawals, transfers and credited deposits (``tables.py``); these
tables hold what sits around them: deposit addresses, what the chain has seen (deposits with
their confirmations, withdrawal broadcasts with their txid and outcome), the chain's block
height, the per-account withdraw address whitelist and the futures wallet behind MEXC's
universal transfer. Amounts are BIGINT smallest units, times BIGINT ms.

Migration ``0004_wallet`` creates these (and ``withdrawal_info``, which held withdrawal remarks
until migration ``0019`` moved them into ``withdrawals``, written with the reserve).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from bourse.store.tables import Id, metadata

#: one deposit address per (account, coin, network id); memo networks share one address and
#: tell accounts apart by memo, so (network, coin, address, memo) finds the account.
deposit_addresses = Table(
    "deposit_addresses",
    metadata,
    Column("account_id", BigInteger, primary_key=True, autoincrement=False),
    Column("coin", String(32), primary_key=True),
    Column("network", String(64), primary_key=True),
    Column("address", String(256), nullable=False),
    Column("memo", String(128), nullable=False, default=""),
    Column("created", BigInteger, nullable=False),
    UniqueConstraint("network", "coin", "address", "memo", name="uq_deposit_addresses_lookup"),
)

#: every transfer output the chain saw paying one of our addresses (or any address: deposits
#: to unknown addresses are kept with ``account_id`` NULL and never credited).
chain_deposits = Table(
    "chain_deposits",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("network", String(64), nullable=False),
    Column("txid", String(128), nullable=False),
    Column("vout", Integer, nullable=False),
    Column("coin", String(32), nullable=False),
    Column("address", String(256), nullable=False),
    Column("memo", String(128), nullable=False, default=""),
    Column("amount", BigInteger, nullable=False),
    Column("account_id", BigInteger, nullable=True),
    #: height of the block that included it; NULL while in the mempool
    Column("block", BigInteger, nullable=True),
    Column("confirmations", Integer, nullable=False, default=0),
    Column("required", Integer, nullable=False),
    #: PENDING (waiting for confirmations), SUCCESS (credited), SMALL (below the deposit
    #: minimum, never credited), UNKNOWN (no such deposit address, never credited)
    Column("status", String(16), nullable=False),
    Column("credited", Boolean, nullable=False, default=False),
    Column("created", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
    UniqueConstraint("network", "txid", "vout", name="uq_chain_deposits_output"),
    Index("ix_chain_deposits_account", "account_id", "created"),
    Index("ix_chain_deposits_status", "status"),
)

#: what the chain knows about a withdrawal: its txid (chosen before the engine is told, so a
#: retry after a crash broadcasts the same transaction) and what the chain will say about it.
chain_withdrawals = Table(
    "chain_withdrawals",
    metadata,
    Column("withdrawal_id", BigInteger, primary_key=True, autoincrement=False),
    Column("network", String(64), nullable=False),
    Column("coin", String(32), nullable=False),
    Column("txid", String(128), nullable=False),
    Column("block", BigInteger, nullable=True),
    Column("confirmations", Integer, nullable=False, default=0),
    Column("required", Integer, nullable=False),
    #: OK (will confirm), FAIL (will be included and revert), STUCK (never included until
    #: an operator re-broadcasts it)
    Column("outcome", String(8), nullable=False),
    #: SIGNED (txid chosen, engine not yet told), BROADCAST, CONFIRMED, FAILED, ABORTED
    #: (cancelled before the broadcast reached the engine; nothing was sent)
    Column("status", String(16), nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
    UniqueConstraint("txid", name="uq_chain_withdrawals_txid"),
    Index("ix_chain_withdrawals_status", "status"),
)

#: the simulated chain's state (``height``)
chain_state = Table(
    "chain_state",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

#: per-account withdraw address book; when an account has any entry, withdrawals must go to
#: one of its entries (MEXC error 10212 otherwise).
withdraw_address_whitelist = Table(
    "withdraw_address_whitelist",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, nullable=False),
    Column("coin", String(32), nullable=False),
    Column("network", String(64), nullable=False),
    Column("address", String(256), nullable=False),
    Column("memo", String(128), nullable=False, default=""),
    Column("label", String(128), nullable=False, default=""),
    Column("created", BigInteger, nullable=False),
    UniqueConstraint(
        "account_id", "coin", "network", "address", "memo", name="uq_withdraw_whitelist_entry"
    ),
)

#: the ledger account behind each of an account's non-spot wallets (MEXC's ``FUTURES``
#: account type in universal transfers); created on first use.
account_wallets = Table(
    "account_wallets",
    metadata,
    Column("account_id", BigInteger, primary_key=True, autoincrement=False),
    Column("wallet_type", String(16), primary_key=True),
    Column("ledger_account", BigInteger, nullable=False),
    UniqueConstraint("ledger_account", name="uq_account_wallets_ledger"),
)

WALLET_TABLES = (
    deposit_addresses,
    chain_deposits,
    chain_withdrawals,
    chain_state,
    withdraw_address_whitelist,
    account_wallets,
)
