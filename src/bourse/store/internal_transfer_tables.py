"""Internal transfers to another user (MEXC's ``capital/transfer/internal``), on the shared
``metadata`` of ``bourse.store.tables``.

The money moves through the engine's ``Transfer`` (its ``transfers`` table is the ledger's
record); ``internal_transfers`` keeps what MEXC's history shows on top of it: how the sender
named the recipient (``to_account_type`` EMAIL or UID and the text given) and the request key
that made the transfer idempotent (the engine's client id of the transfer). A row is written
``WAIT`` before the engine runs and becomes ``SUCCESS`` with the engine's transfer id after it
committed; a row left ``WAIT`` by a crash is settled from the engine's ``transfers`` table.
Migration ``0007_internal_transfers`` creates exactly this.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, String, Table

from bourse.store.tables import metadata

internal_transfers = Table(
    "internal_transfers",
    metadata,
    Column("from_account", BigInteger, primary_key=True, autoincrement=False),
    #: the engine client id of the transfer (derived from the signed request)
    Column("request_key", String(64), primary_key=True),
    #: the engine's transfer id (the wire ``tranId``); NULL while ``WAIT``
    Column("transfer_id", BigInteger, nullable=True),
    Column("to_account", BigInteger, nullable=False),
    Column("to_account_type", String(8), nullable=False),
    Column("to_account_text", String(256), nullable=False),
    Column("asset", String(32), nullable=False),
    Column("amount", BigInteger, nullable=False),
    #: WAIT (engine not yet committed) or SUCCESS
    Column("status", String(8), nullable=False),
    Column("time", BigInteger, nullable=False),
    Index("ix_internal_transfers_from", "from_account", "time"),
    Index("ix_internal_transfers_to", "to_account", "time"),
    Index("ix_internal_transfers_tid", "transfer_id"),
)
