"""Sub-account tables (independent brokers and MEXC's normal sub-accounts), on the shared
``metadata`` of ``bourse.store.tables``.

The engine owns the accounts themselves (``accounts``: kind ``BROKER_SUB``, ``parent_id`` the
master, the frozen flag) and their balances; these tables hold what MEXC's sub-account API adds
around them: the sub-account's name (unique per master account) and note, whether futures were
enabled, the fee markup the broker put on it, an optional fund password hash, and the per-master
quota and markup cap an operator may set.

Migration ``0005_subaccounts`` creates exactly these.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Integer, String, Table, UniqueConstraint

from bourse.store.tables import metadata

#: one row per sub-account; ``broker_id`` is set when the master is an independent broker
subaccounts = Table(
    "subaccounts",
    metadata,
    Column("account_id", BigInteger, primary_key=True, autoincrement=False),
    Column("master_account_id", BigInteger, nullable=False),
    Column("broker_id", BigInteger, nullable=True),
    Column("name", String(64), nullable=False),
    Column("note", String(256), nullable=False),
    Column("futures", Boolean, nullable=False, default=False),
    Column("maker_markup", Integer, nullable=False, default=0),
    Column("taker_markup", Integer, nullable=False, default=0),
    Column("password_hash", String(256), nullable=True),
    Column("created", BigInteger, nullable=False),
    UniqueConstraint("master_account_id", "name", name="uq_subaccounts_master_name"),
)

#: operator overrides per master account (no row: the defaults of ``bourse.services.subaccounts``)
subaccount_quotas = Table(
    "subaccount_quotas",
    metadata,
    Column("master_account_id", BigInteger, primary_key=True, autoincrement=False),
    Column("max_subaccounts", Integer, nullable=False),
    Column("max_markup_ppm", Integer, nullable=False),
)
