"""Maker/taker fee rates and the one fee formula.

Rates are integers in parts per million of the amount received (5 bps = 500). Fees are rounded
up to the next ledger unit, so the platform never undercharges; a rate is at most 100%, so the
fee never exceeds what the account receives from the fill.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from bourse.domain.errors import InvalidParameter

RATE_DENOM: Final = 1_000_000


def fee_for(amount: int, rate: int) -> int:
    """Fee in ledger units on ``amount`` at ``rate`` ppm, rounded up."""
    return -((-amount * rate) // RATE_DENOM)


@dataclass(slots=True)
class FeeSchedule:
    """Platform default rates, overridable per account."""

    maker: int = 0
    taker: int = 500
    overrides: dict[int, tuple[int, int]] = field(default_factory=dict)

    def rates(self, account: int) -> tuple[int, int]:
        """(maker, taker) in ppm for ``account``."""
        return self.overrides.get(account) or (self.maker, self.taker)

    def set_account(self, account: int, maker: int | None, taker: int | None) -> None:
        """Override an account's rates; ``None`` for both restores the platform default."""
        if maker is None and taker is None:
            self.overrides.pop(account, None)
            return
        cur_m, cur_t = self.rates(account)
        m = cur_m if maker is None else maker
        t = cur_t if taker is None else taker
        for r in (m, t):
            if not 0 <= r <= RATE_DENOM:
                raise InvalidParameter("fee rate must be between 0 and 1")
        self.overrides[account] = (m, t)
