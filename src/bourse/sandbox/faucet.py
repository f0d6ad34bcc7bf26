"""The sandbox faucet: test funds for any account or sub-account, within limits.

Each asset has a cap per account over a rolling day (``LIMITS``, decimal strings; ``DEFAULT``
for an asset not listed): a credit that would take the account's faucet total of the last 24
hours past the cap is refused whole (``FaucetLimit``), never cut. Checks and credits are
serialised in the process (the demo server is the only writer), and the total is read from the
committed deposits, so concurrent requests cannot both slip under the cap and a restart does
not reset it. A faucet credit is a deposit with a ``faucet:`` reference: it shows in the
ledger like any other deposit.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass

from bourse.domain.accounts import AccountKind
from bourse.domain.errors import DomainError
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


def cap(asset: str, scale: int) -> int:
    return to_units(LIMITS.get(asset, DEFAULT), scale)


def credit(
    engine: Engine, ledger: FaucetLedger, account: int, asset: str, amount: str
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
    limit = cap(code, scale)
    with _lock:
        used = ledger.credited_since(account, code, now_ms() - WINDOW_MS)
        if used + units > limit:
            raise FaucetLimit(
                f"the faucet gives at most {format_units(limit, scale)} {code} per account a "
                f"day; {format_units(max(limit - used, 0), scale)} {code} left for {account}"
            )
        ref = f"{FAUCET_REF}{account}:{uuid.uuid4().hex}"
        engine.execute(c.CreditDeposit(account, code, units, ref))
    available = engine.read(lambda e: e.exchange.ledger.available(account, code))
    return FaucetCredit(
        account,
        code,
        format_units(units, scale),
        format_units(available, scale),
        format_units(limit - used - units, scale),
        ref,
    )
