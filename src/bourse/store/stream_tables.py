"""User-data stream tables, on the shared ``metadata`` of ``bourse.store.tables``.

``listen_keys``: one row per listenKey (MEXC's ``/api/v3/userDataStream``): the account whose
private streams it opens, when it was created and until when it is valid (PUT extends it).
Migration ``0006_listen_keys`` creates exactly this.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, String, Table

from bourse.store.tables import metadata

listen_keys = Table(
    "listen_keys",
    metadata,
    Column("listen_key", String(64), primary_key=True),
    Column("account_id", BigInteger, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("expires", BigInteger, nullable=False),
    Index("ix_listen_keys_account", "account_id", "expires"),
)
