"""Brokers: their lifecycle, the rebate formula and the attribution rule (pure, no I/O).

A broker earns a share (``rate_ppm``, parts per million) of the fees paid by the orders
attributed to it. Three rules live here and nowhere else:

* **Lifecycle** (``transition``): PENDING -> APPROVED | REJECTED, APPROVED -> SUSPENDED,
  SUSPENDED -> APPROVED (reinstated). REJECTED is final.
* **Rebate formula** (``rebate_for``): ``fee * rate_ppm // 1_000_000``, rounded **down** to the
  fee asset's smallest unit. Fees are rounded up (``domain.fees``), rebates down, so the
  platform never pays out more than the broker's share of what it actually collected, and the
  rebate of a fill never exceeds its fee.
* **Attribution** (``attribute``): a key bound to a broker wins, and decides alone (the
  ``source`` header cannot redirect a bound key's fees, nor rescue a bound key whose broker is
  not approved); otherwise a ``source`` header naming an APPROVED broker (by numeric id or by
  its code) attributes the order; anything else earns nothing and says why.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from bourse.domain.accounts import AccountKind
from bourse.domain.errors import DomainError, InvalidParameter
from bourse.domain.fees import RATE_DENOM
from bourse.domain.orders import BUY, SELL

#: the ``source`` header is stored raw, truncated to the orders.source column width
MAX_SOURCE_LEN = 64


class BrokerType(StrEnum):
    API = "API"
    INDEPENDENT = "INDEPENDENT"
    OAUTH = "OAUTH"


class BrokerStatus(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    SUSPENDED = "SUSPENDED"


class RebateStatus(StrEnum):
    PENDING = "pending"  # accrued, not yet paid
    SETTLING = "settling"  # claimed by a settlement (its key is recorded); payout in flight
    SETTLED = "settled"  # paid (or nothing to pay: a zero rebate)
    FAILED = "failed"  # the payout was refused; ``retry_failed`` puts it back to pending


class AttributionStatus(StrEnum):
    """Why an order was, or was not, attributed to a broker."""

    BOUND_KEY = "BOUND_KEY"  # the API key is bound to an approved broker
    SOURCE = "SOURCE"  # the ``source`` header names an approved broker
    NONE = "NONE"  # no binding and no ``source``
    UNKNOWN_SOURCE = "UNKNOWN_SOURCE"  # ``source`` names no broker (e.g. ccxt's "CCXT")
    SOURCE_NOT_APPROVED = "SOURCE_NOT_APPROVED"  # ``source`` names a pending/suspended broker
    BOUND_NOT_APPROVED = "BOUND_NOT_APPROVED"  # the key's broker is suspended (earns nothing)


# --- errors -------------------------------------------------------------------------------
class BrokerError(DomainError):
    """A broker operation was refused."""


class BrokerNotFound(BrokerError):
    """The broker does not exist."""


class BrokerStateError(BrokerError):
    """The broker is not in a state that allows this operation."""


class NotOAuthBroker(BrokerStateError):
    """The broker is not an OAuth broker, the only kind with OAuth clients (a broker's type
    never changes)."""


class BrokerExists(BrokerError):
    """This account has already applied as a broker."""


class KeyAlreadyBound(BrokerError):
    """This API key is already bound to a broker; a key can be bound only once."""


class KeyNotBound(BrokerError):
    """This API key is not bound to a broker."""


class NotKeyOwner(BrokerError):
    """The API key does not belong to this account."""


class KeyOutOfScope(BrokerError):
    """The signing key may not act on a key wider than itself (``domain.keyscope``)."""


class SubAccountCannotApply(BrokerError):
    """A sub-account cannot become a broker (its main account can)."""


def check_may_apply(kind: AccountKind, parent: int | None) -> None:
    """Only a main account (a user or a broker's master, never a sub-account) may apply;
    system accounts are refused where the application is stored."""
    if parent is not None or kind is AccountKind.BROKER_SUB:
        raise SubAccountCannotApply("a sub-account cannot apply to become a broker")


class OAuthClientInvalid(BrokerError):
    """The OAuth client change is invalid (redirect URI, scope, name or grace period)."""


class RedirectUriRegistered(OAuthClientInvalid):
    """The client has this redirect URI already (MEXC: a bad parameter; the operator API: a
    conflict)."""


class RedirectUriNotRegistered(OAuthClientInvalid):
    """The client has no such redirect URI, by exact match (MEXC: a bad parameter; the operator
    API: no such thing)."""


class OAuthClientNotFound(BrokerError):
    """This OAuth client does not exist or belongs to another broker."""


class OAuthClientLimit(BrokerError):
    """The broker has as many OAuth clients as it may register."""


# --- lifecycle ----------------------------------------------------------------------------
_TRANSITIONS: dict[str, dict[BrokerStatus, frozenset[BrokerStatus]]] = {
    "approve": {
        BrokerStatus.APPROVED: frozenset({BrokerStatus.PENDING, BrokerStatus.SUSPENDED}),
    },
    "reject": {BrokerStatus.REJECTED: frozenset({BrokerStatus.PENDING})},
    "suspend": {BrokerStatus.SUSPENDED: frozenset({BrokerStatus.APPROVED})},
}


def transition(current: BrokerStatus, action: str) -> BrokerStatus:
    """The status after ``action`` ("approve", "reject", "suspend"), or ``BrokerStateError``."""
    rule = _TRANSITIONS.get(action)
    if rule is None:
        raise InvalidParameter(f"unknown broker action {action!r}")
    ((target, allowed),) = rule.items()
    if current not in allowed:
        raise BrokerStateError(f"cannot {action} a broker that is {current}")
    return target


# --- the rebate formula -------------------------------------------------------------------
def check_rate(rate_ppm: int) -> int:
    """A rebate rate must be an integer between 0 and 1_000_000 ppm (0%..100% of the fee)."""
    if isinstance(rate_ppm, bool) or not isinstance(rate_ppm, int):
        raise InvalidParameter("rebate rate must be an integer number of ppm")
    if not 0 <= rate_ppm <= RATE_DENOM:
        raise InvalidParameter(f"rebate rate must be between 0 and 1000000 ppm (got {rate_ppm})")
    return rate_ppm


def rebate_for(fee: int, rate_ppm: int) -> int:
    """The broker's rebate on ``fee`` (ledger units of the fee asset), rounded down."""
    if fee < 0:
        raise InvalidParameter("fee cannot be negative")
    return fee * check_rate(rate_ppm) // RATE_DENOM


def rate_at(history: Iterable[tuple[int, int]], when: int) -> int:
    """The rate in force at ``when`` given ``(effective_from, rate_ppm)`` rows (any order).

    The latest row with ``effective_from <= when`` wins; a later row in the input wins a tie
    (callers pass rows in insertion order). Before the first row the rate is 0.
    """
    best_from, rate = None, 0
    for eff, r in history:
        if eff <= when and (best_from is None or eff >= best_from):
            best_from, rate = eff, r
    return rate


@dataclass(frozen=True, slots=True)
class RebateLine:
    """One side of one trade that a broker may earn on."""

    trade_id: int
    side: int  # BUY or SELL
    order_id: int
    account_id: int
    broker_id: int
    symbol: str
    asset: str  # the fee asset: base for the buyer, quote for the seller
    fee: int
    maker: bool
    time: int


def rebate_lines(trade: object, base: str, quote: str) -> list[RebateLine]:
    """The attributed sides of ``trade`` (a ``domain.orders.Trade`` or a row with its fields).

    The buyer pays its fee in base, the seller in quote, either of them in MX when it pays fees
    in MX (``buyer_fee_asset`` / ``seller_fee_asset``; the rebate is then in MX). A side
    without a broker earns nothing and yields no line; both sides of one trade may belong to
    different brokers.
    """
    t = trade
    base = getattr(t, "buyer_fee_asset", None) or base
    quote = getattr(t, "seller_fee_asset", None) or quote
    lines = []
    taker_side = t.taker_side  # type: ignore[attr-defined]
    if t.buyer_broker is not None:  # type: ignore[attr-defined]
        lines.append(
            RebateLine(
                t.id,  # type: ignore[attr-defined]
                BUY,
                t.buyer_order,  # type: ignore[attr-defined]
                t.buyer_account,  # type: ignore[attr-defined]
                t.buyer_broker,  # type: ignore[attr-defined]
                t.symbol,  # type: ignore[attr-defined]
                base,
                t.buyer_fee,  # type: ignore[attr-defined]
                taker_side != BUY,
                t.time,  # type: ignore[attr-defined]
            )
        )
    if t.seller_broker is not None:  # type: ignore[attr-defined]
        lines.append(
            RebateLine(
                t.id,  # type: ignore[attr-defined]
                SELL,
                t.seller_order,  # type: ignore[attr-defined]
                t.seller_account,  # type: ignore[attr-defined]
                t.seller_broker,  # type: ignore[attr-defined]
                t.symbol,  # type: ignore[attr-defined]
                quote,
                t.seller_fee,  # type: ignore[attr-defined]
                taker_side != SELL,
                t.time,  # type: ignore[attr-defined]
            )
        )
    return lines


def settlement_key(broker_id: int, asset: str, rebate_ids: Iterable[int]) -> str:
    """A deterministic payout key: the same claimed records always give the same key."""
    ids = sorted(rebate_ids)
    digest = hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:24]
    return f"rebate:{broker_id}:{asset}:{ids[0] if ids else 0}-{ids[-1] if ids else 0}:{digest}"


# --- attribution --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Attribution:
    """The broker an order is attributed to (``None``: nobody earns) and why."""

    broker_id: int | None
    status: AttributionStatus
    source: str = ""  # the raw header, as stored on the order

    @property
    def attributed(self) -> bool:
        return self.broker_id is not None


def clean_source(header: str | None) -> str:
    """The ``source`` header as stored: stripped, at most ``MAX_SOURCE_LEN`` characters."""
    return (header or "").strip()[:MAX_SOURCE_LEN]


def attribute(
    bound: tuple[int, BrokerStatus] | None,
    source: str,
    source_broker: tuple[int, BrokerStatus] | None,
) -> Attribution:
    """The attribution rule.

    ``bound`` is the (broker id, status) the API key is bound to, if any; ``source`` the cleaned
    header; ``source_broker`` the (broker id, status) that ``source`` names, if it names one.
    """
    if bound is not None:
        broker_id, status = bound
        if status is BrokerStatus.APPROVED:
            return Attribution(broker_id, AttributionStatus.BOUND_KEY, source)
        return Attribution(None, AttributionStatus.BOUND_NOT_APPROVED, source)
    if not source:
        return Attribution(None, AttributionStatus.NONE, source)
    if source_broker is None:
        return Attribution(None, AttributionStatus.UNKNOWN_SOURCE, source)
    broker_id, status = source_broker
    if status is BrokerStatus.APPROVED:
        return Attribution(broker_id, AttributionStatus.SOURCE, source)
    return Attribution(None, AttributionStatus.SOURCE_NOT_APPROVED, source)


__all__ = [
    "MAX_SOURCE_LEN",
    "Attribution",
    "AttributionStatus",
    "BrokerError",
    "BrokerExists",
    "BrokerNotFound",
    "BrokerStateError",
    "BrokerStatus",
    "BrokerType",
    "KeyAlreadyBound",
    "KeyNotBound",
    "NotKeyOwner",
    "RebateLine",
    "RebateStatus",
    "attribute",
    "check_rate",
    "clean_source",
    "rate_at",
    "rebate_for",
    "rebate_lines",
    "settlement_key",
    "transition",
]
