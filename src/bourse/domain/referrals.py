"""User referrals: refer codes, who invited whom, and the kickback on an invitee's fees (pure).

MEXC's user referral program (``/api/v3/rebate/...``, not the broker program): every account
has a refer code; an account that signed up with another's code is that account's
**invitee**. On every trade of an invitee, two shares of the fee it paid are paid back:

* the **inviter's** share (``inviter_ppm`` of the fee, MEXC's "rebate", listed by
  ``rebate/detail`` and summed per invitee by ``rebate/taxQuery``);
* the **invitee's own** share (``invitee_ppm``, MEXC's "kickback", listed by
  ``rebate/detail/kickback``).

Each is ``domain.brokers.rebate_for(fee, rate)`` (rounded down, never more than the fee), in
the fee asset (base for the buyer, quote for the seller). A side whose account has no inviter,
or a trade before the invitation, earns nothing. Both rates together may not exceed the fee.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from bourse.domain.brokers import check_rate, rebate_for
from bourse.domain.errors import DomainError, InvalidParameter
from bourse.domain.fees import RATE_DENOM
from bourse.domain.orders import BUY, SELL

#: the inviter's default share of an invitee's fees (20%) and the invitee's own (none)
DEFAULT_INVITER_PPM = 200_000
DEFAULT_INVITEE_PPM = 0

#: refer codes: 4..32 letters, digits and dashes (MEXC's look like ``mexc-12345`` or ``1cQ9x``)
_CODE = re.compile(r"^[A-Za-z0-9-]{4,32}$")
#: the asset every MEXC referral total is counted in
VALUE_ASSET = "USDT"


class Kind(StrEnum):
    INVITER = "inviter"  # the inviter's rebate on an invitee's fee
    INVITEE = "invitee"  # the invitee's own kickback


class KickbackStatus(StrEnum):
    PENDING = "pending"  # accrued, payout not yet confirmed by the engine
    PAID = "paid"


# --- errors -------------------------------------------------------------------------------
class ReferralError(DomainError):
    """A referral operation was refused."""


class UnknownReferCode(ReferralError):
    """No account has this refer code."""


class AlreadyInvited(ReferralError):
    """This account already has an inviter; an invitation is made once."""


class SelfReferral(ReferralError):
    """An account cannot invite itself."""


# --- rules --------------------------------------------------------------------------------
def check_refer_code(code: str) -> str:
    """A well-formed refer code (stripped), or ``UnknownReferCode``: a malformed code can name
    nobody, so it gets the same answer as an unknown one."""
    code = (code or "").strip()
    if not _CODE.match(code):
        raise UnknownReferCode("Refer code does not exist.")
    return code


def check_rates(inviter_ppm: int, invitee_ppm: int) -> tuple[int, int]:
    """Both shares valid, and together at most the whole fee."""
    check_rate(inviter_ppm)
    check_rate(invitee_ppm)
    if inviter_ppm + invitee_ppm > RATE_DENOM:
        raise InvalidParameter("referral shares together cannot exceed the fee")
    return inviter_ppm, invitee_ppm


@dataclass(frozen=True, slots=True)
class Invitation:
    inviter: int
    time: int  # when the invitee signed up with the code (ms)


@dataclass(frozen=True, slots=True)
class Kickback:
    """One share of one side's fee, owed to ``earner``."""

    trade_id: int
    side: int  # BUY or SELL
    kind: Kind
    earner: int  # the account paid
    invitee: int  # the account whose fee it is
    symbol: str
    asset: str  # the fee asset: base for the buyer, quote for the seller (or MX: ``mxDeduct``)
    fee: int
    amount: int
    rate_ppm: int
    value: int  # ``amount`` in VALUE_ASSET units at the trade's price (0 when it has none)
    time: int


def value_in_quote(amount: int, asset: str, base: str, qty: int, quote_qty: int) -> int:
    """``amount`` of ``asset`` in quote units at the trade's own price (rounded down)."""
    if asset == base:
        return amount * quote_qty // qty if qty > 0 else 0
    return amount


def kickbacks(
    trade: object,
    base: str,
    quote: str,
    invitations: Mapping[int, Invitation],
    inviter_ppm: int,
    invitee_ppm: int,
) -> list[Kickback]:
    """The non-zero shares of ``trade``'s fees (a ``domain.orders.Trade`` or a row with its
    fields) owed under ``invitations`` (invitee account -> its invitation)."""
    t = trade
    out: list[Kickback] = []
    # a side that paid its fee in MX (``mxDeduct``) earns its kickback in MX, valued at 0
    sides = (
        (BUY, t.buyer_account, t.buyer_fee, getattr(t, "buyer_fee_asset", None) or base),  # type: ignore[attr-defined]
        (SELL, t.seller_account, t.seller_fee, getattr(t, "seller_fee_asset", None) or quote),  # type: ignore[attr-defined]
    )
    for side, account, fee, asset in sides:
        inv = invitations.get(int(account))
        if inv is None or int(t.time) < inv.time:  # type: ignore[attr-defined]
            continue
        for kind, earner, rate in (
            (Kind.INVITER, inv.inviter, inviter_ppm),
            (Kind.INVITEE, int(account), invitee_ppm),
        ):
            amount = rebate_for(int(fee), rate)
            if amount <= 0:
                continue
            quoted = (
                value_in_quote(
                    amount,
                    asset,
                    base,
                    int(t.qty),  # type: ignore[attr-defined]
                    int(t.quote_qty),  # type: ignore[attr-defined]
                )
                if asset in (base, quote)
                else 0
            )
            out.append(
                Kickback(
                    int(t.id),  # type: ignore[attr-defined]
                    side,
                    kind,
                    earner,
                    int(account),
                    str(t.symbol),  # type: ignore[attr-defined]
                    asset,
                    int(fee),
                    amount,
                    rate,
                    quoted if quote == VALUE_ASSET else 0,
                    int(t.time),  # type: ignore[attr-defined]
                )
            )
    return out


def payout_key(first_trade: int, last_trade: int) -> str:
    """The engine payout key of the kickbacks accrued from trades ``first..last`` (one accrual
    chunk; chunks never overlap, so neither do keys)."""
    return f"referral:{first_trade}-{last_trade}"


def mask_account(name: str) -> str:
    """An account's name as MEXC shows an invitee's: ``154****291@qq.com`` for an e-mail,
    ``""`` for anything else."""
    local, at, domain = (name or "").partition("@")
    if not at or not local:
        return ""
    return f"{local[:3]}****{local[-3:] if len(local) > 3 else ''}@{domain}"
