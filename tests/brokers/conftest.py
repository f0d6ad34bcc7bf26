"""Fixtures for the broker program: a real engine over a migrated SQLite/PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from bourse.domain.accounts import AccountKind
from bourse.domain.fees import FeeSchedule
from bourse.engine import Engine
from bourse.engine import commands as c
from bourse.sandbox.listings import ASSETS, SYMBOLS
from bourse.services.brokers import Brokers
from bourse.store.sql import SqlStore

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
        return acc.id

    def available(self, account: int, asset: str) -> int:
        return self.engine.read(lambda e: e.exchange.ledger.available(account, asset))


@pytest.fixture
def world(db_engine: Any) -> Iterator[World]:
    clock = Clock()
    store = SqlStore(db_engine)
    engine = Engine(store, fees=FeeSchedule(maker=MAKER_PPM, taker=TAKER_PPM), clock=clock)
    engine.apply_batch_now([c.AddAsset(a) for a in ASSETS] + [c.AddSymbol(s) for s in SYMBOLS])
    w = World(db_engine, engine, Brokers.create(db_engine, engine, clock=clock), clock, [])
    w.users = [w.open() for _ in range(4)]
    try:
        yield w
    finally:
        w.brokers.close()
        store.close()
