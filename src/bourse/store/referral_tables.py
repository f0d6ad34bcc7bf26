"""User referrals (MEXC's ``/api/v3/rebate/...``), on the shared ``metadata`` of
``bourse.store.tables``: refer codes, invitations, and the kickbacks accrued from trades.

A kickback row is one share (``kind`` inviter or invitee) of one side of one trade; UNIQUE
(trade, side, kind) makes accrual idempotent. Rows of one accrual chunk share a ``payout_key``,
the engine ``PayRebates`` key that pays them once. The accrual watermark lives in
``broker_cursors`` (name ``referrals.trade_id``). Migration ``0008_referrals`` creates exactly
this.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, SmallInteger, String, Table

from bourse.store.tables import Id, metadata

refer_codes = Table(
    "refer_codes",
    metadata,
    Column("account_id", BigInteger, primary_key=True, autoincrement=False),
    Column("code", String(32), nullable=False, unique=True),
    Column("created", BigInteger, nullable=False),
)

referrals = Table(
    "referrals",
    metadata,
    Column("invitee_account", BigInteger, primary_key=True, autoincrement=False),
    Column("inviter_account", BigInteger, nullable=False),
    Column("refer_code", String(32), nullable=False),
    Column("invited_at", BigInteger, nullable=False),
    Index("ix_referrals_inviter", "inviter_account", "invited_at"),
)

referral_kickbacks = Table(
    "referral_kickbacks",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("trade_id", BigInteger, nullable=False),
    Column("side", SmallInteger, nullable=False),
    #: ``domain.referrals.Kind``: inviter (rebate/detail) or invitee (rebate/detail/kickback)
    Column("kind", String(8), nullable=False),
    Column("earner_account", BigInteger, nullable=False),
    Column("invitee_account", BigInteger, nullable=False),
    Column("symbol", String(64), nullable=False),
    Column("asset", String(32), nullable=False),
    Column("fee", BigInteger, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("rate_ppm", Integer, nullable=False),
    #: ``amount`` in USDT units at the trade's price (0 if the trade is not quoted in USDT)
    Column("usdt", BigInteger, nullable=False),
    Column("trade_time", BigInteger, nullable=False),
    Column("payout_key", String(64), nullable=False),
    #: ``domain.referrals.KickbackStatus``
    Column("status", String(8), nullable=False),
    Column("paid_at", BigInteger, nullable=True),
    Column("created", BigInteger, nullable=False),
    Index("uq_referral_kickbacks_line", "trade_id", "side", "kind", unique=True),
    Index("ix_referral_kickbacks_earner", "earner_account", "kind", "trade_time"),
    Index("ix_referral_kickbacks_payout", "payout_key", "status"),
)
