"""One-time login tokens of sub-accounts (MEXC's broker ``sub-account/onceToken``), on the
shared ``metadata`` of ``bourse.store.tables``.

Only the token's SHA-256 is stored. A token is good until ``expires`` and for one use: the
consuming UPDATE sets ``used_at`` only where it is still NULL, so two concurrent uses cannot
both succeed. Migration ``0012_once_tokens`` creates exactly this.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, String, Table

from bourse.store.tables import metadata

once_tokens = Table(
    "once_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("account_id", BigInteger, nullable=False),
    Column("master_account", BigInteger, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("expires", BigInteger, nullable=False),
    Column("used_at", BigInteger, nullable=True),
    Index("ix_once_tokens_account", "account_id", "created"),
)
