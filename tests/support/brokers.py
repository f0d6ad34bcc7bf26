"""Helpers of the broker tests: a world of a real engine and the broker modules on one database,
with a settable clock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bourse.domain.accounts import AccountKind
from bourse.engine import Engine
from bourse.engine import commands as c
from bourse.services.brokers import Brokers

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DAY = 86_400_000
MAKER_PPM = 1_000  # 0.1%
TAKER_PPM = 2_000  # 0.2%
FUNDS = {"USDT": 10_000_000 * 10**8, "BTC": 100 * 10**8, "ETH": 1_000 * 10**8}


class Clock:
    """A settable millisecond clock shared by the engine and the broker modules."""

    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> int:
        self.now += ms
        return self.now


@dataclass
class World:
    db: Any
    engine: Engine
    brokers: Brokers
    clock: Clock
    users: list[int]

    def open(self, kind: AccountKind = AccountKind.USER, fund: bool = True) -> int:
        (acc,) = self.engine.apply_batch_now([c.OpenAccount(kind)])
        if fund:
            self.engine.apply_batch_now(
                [c.CreditDeposit(acc.id, a, n, f"seed-{acc.id}-{a}") for a, n in FUNDS.items()]
            )
        return int(acc.id)

    def available(self, account: int, asset: str) -> int:
        return int(self.engine.read(lambda e: e.exchange.ledger.available(account, asset)))
