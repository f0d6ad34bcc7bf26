"""The sandbox faucet: test funds for any account or sub-account, within limits.

Each asset has a cap per account over a rolling day (``LIMITS``, decimal strings; ``DEFAULT``
for an asset not listed): a credit that would take the account's faucet total of the last 24
hours past the cap is refused whole (``FaucetLimit``), never cut. Checks and credits are
serialised in the process (the demo server is the only writer), and the total is read from the
committed deposits, so concurrent requests cannot both slip under the cap and a restart does
not reset it. A faucet credit is a deposit with a ``faucet:`` reference: it shows in the
ledger like any other deposit. With a ``request_id`` the reference is
``faucet:<account>:<request_id>``, so a retried request credits once (and a retry that asks
for another grant under the same id is refused); ``bourse serve --demo --faucet-limit
ASSET=AMOUNT`` replaces caps (``parse_limits``).
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from bourse.domain.accounts import AccountKind
from bourse.domain.errors import DomainError, IdempotencyConflict
from bourse.domain.money import format_units, to_units
from bourse.engine import Engine
from bourse.engine import commands as c
from bourse.engine.clock import now_ms
from bourse.store.repositories.faucet import FAUCET_REF, FaucetLedger

LIMITS = {"USDT": "100000", "USDC": "100000", "BTC": "5", "ETH": "100", "MX": "100000"}
DEFAULT = "1000"
WINDOW_MS = 24 * 3600 * 1000

_lock = threading.Lock()


class FaucetLimit(Exception):
    """The credit would pass the faucet's cap; ``str(exc)`` says by how much is left."""


class FaucetRefused(Exception):
    """No such account or asset (``missing``), or an amount that is not a positive number."""

    def __init__(self, message: str, missing: bool = False) -> None:
        super().__init__(message)
        self.missing = missing


@dataclass(frozen=True, slots=True)
class FaucetCredit:
    account: int
    asset: str
    amount: str
    available: str
    #: what the faucet may still give this account in this asset in the rolling day
    remaining: str
    tx_ref: str
    #: False when the request id had been credited before (nothing moved this time)
    credited: bool = True


def cap(asset: str, scale: int, limits: dict[str, str] | None = None) -> int:
    table = LIMITS if limits is None else limits
    return to_units(table.get(asset, DEFAULT), scale)


def parse_limits(items: list[str]) -> dict[str, str]:
    """``LIMITS`` with ``["USDT=5000", "BTC=0.5"]`` applied (``ValueError``, one line, when an
    item is not ASSET=AMOUNT with a non-negative decimal amount)."""
    out = dict(LIMITS)
    for item in items:
        asset, sep, amount = (x.strip() for x in item.partition("="))
        try:
            ok = bool(sep and asset) and Decimal(amount).is_finite() and Decimal(amount) >= 0
        except InvalidOperation:
            ok = False
        if not ok:
            raise ValueError(f"{item!r}: expected ASSET=AMOUNT, e.g. USDT=100000")
        out[asset.upper()] = amount
    return out


def credit(
    engine: Engine,
    ledger: FaucetLedger,
    account: int,
    asset: str,
    amount: str,
    request_id: str | None = None,
    *,
    limits: dict[str, str] | None = None,
) -> FaucetCredit:
    """Credit ``amount`` of ``asset`` to ``account`` if the cap allows it (see the module)."""
    code = asset.upper()
    scale = engine.read(lambda e: e.wallet.assets[code].scale if code in e.wallet.assets else None)
    if scale is None:
        raise FaucetRefused(f"unknown asset {code}", missing=True)
    kind = engine.read(
        lambda e: e.wallet.accounts[account].kind if account in e.wallet.accounts else None
    )
    if kind is None or kind is AccountKind.SYSTEM:
        raise FaucetRefused(f"account {account} does not exist", missing=True)
    try:
        units = to_units(amount, scale)
    except DomainError as exc:
        raise FaucetRefused(exc.message or "a bad amount") from exc
    if units <= 0:
        raise FaucetRefused("the amount must be positive")
    if request_id is not None and not 0 < len(request_id) <= 64:
        raise FaucetRefused("a request id has 1 to 64 characters")
    limit = cap(code, scale, limits)
    ref = f"{FAUCET_REF}{account}:{request_id or uuid.uuid4().hex}"
    with _lock:
        used = ledger.credited_since(account, code, now_ms() - WINDOW_MS)
        repeat = engine.read(lambda e: ("deposit", 0, ref) in e.idempotency)
        if not repeat and used + units > limit:
            raise FaucetLimit(
                f"the faucet gives at most {format_units(limit, scale)} {code} per account a "
                f"day; {format_units(max(limit - used, 0), scale)} {code} left for now"
            )
        try:
            credited = bool(engine.execute(c.CreditDeposit(account, code, units, ref)))
        except IdempotencyConflict as exc:  # in the words of what the caller sent
            raise FaucetRefused(
                f"request id {request_id!r} was already used with another asset or amount"
            ) from exc
        except DomainError as exc:
            raise FaucetRefused(exc.message or type(exc).__name__) from exc
        if credited:
            used += units
    available = engine.read(lambda e: e.exchange.ledger.available(account, code))
    return FaucetCredit(
        account,
        code,
        format_units(units, scale),
        format_units(available, scale),
        format_units(max(limit - used, 0), scale),
        ref,
        credited,
    )
