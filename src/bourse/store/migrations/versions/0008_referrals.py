"""User referrals: exactly ``bourse.store.referral_tables``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "refer_codes",
        sa.Column("account_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("code", sa.String(32), nullable=False, unique=True),
        sa.Column("created", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "referrals",
        sa.Column("invitee_account", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("inviter_account", sa.BigInteger, nullable=False),
        sa.Column("refer_code", sa.String(32), nullable=False),
        sa.Column("invited_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_referrals_inviter", "referrals", ["inviter_account", "invited_at"])
    op.create_table(
        "referral_kickbacks",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("trade_id", sa.BigInteger, nullable=False),
        sa.Column("side", sa.SmallInteger, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("earner_account", sa.BigInteger, nullable=False),
        sa.Column("invitee_account", sa.BigInteger, nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("asset", sa.String(32), nullable=False),
        sa.Column("fee", sa.BigInteger, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("rate_ppm", sa.Integer, nullable=False),
        sa.Column("usdt", sa.BigInteger, nullable=False),
        sa.Column("trade_time", sa.BigInteger, nullable=False),
        sa.Column("payout_key", sa.String(64), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("paid_at", sa.BigInteger, nullable=True),
        sa.Column("created", sa.BigInteger, nullable=False),
    )
    op.create_index(
        "uq_referral_kickbacks_line",
        "referral_kickbacks",
        ["trade_id", "side", "kind"],
        unique=True,
    )
    op.create_index(
        "ix_referral_kickbacks_earner",
        "referral_kickbacks",
        ["earner_account", "kind", "trade_time"],
    )
    op.create_index("ix_referral_kickbacks_payout", "referral_kickbacks", ["payout_key", "status"])


def downgrade() -> None:
    op.drop_index("ix_referral_kickbacks_payout", table_name="referral_kickbacks")
    op.drop_index("ix_referral_kickbacks_earner", table_name="referral_kickbacks")
    op.drop_index("uq_referral_kickbacks_line", table_name="referral_kickbacks")
    op.drop_table("referral_kickbacks")
    op.drop_index("ix_referrals_inviter", table_name="referrals")
    op.drop_table("referrals")
    op.drop_table("refer_codes")
