"""Fixtures of the referral tests: a real engine and ``Referrals`` over a migrated SQLite or
PostgreSQL database, with a settable clock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from bourse.domain.accounts import AccountKind
from bourse.domain.fees import FeeSchedule
from bourse.domain.orders import OrderRequest, OrderType
from bourse.engine import Engine
from bourse.engine import commands as c
from bourse.sandbox.listings import ASSETS, SYMBOLS
from bourse.services.referrals import Referrals
from bourse.store.repositories.referrals import ReferralRepository
from bourse.store.sql import SqlStore
from tests.support.brokers import FUNDS, MAKER_PPM, TAKER_PPM, Clock

INVITER_PPM = 200_000
INVITEE_PPM = 100_000


@dataclass
class RWorld:
    db: Any
    engine: Engine
    referrals: Referrals
    clock: Clock

    def open(self) -> int:
        (acc,) = self.engine.apply_batch_now([c.OpenAccount(AccountKind.USER)])
        self.engine.apply_batch_now(
            [c.CreditDeposit(acc.id, a, n, f"seed-{acc.id}-{a}") for a, n in FUNDS.items()]
        )
        return int(acc.id)

    def available(self, account: int, asset: str) -> int:
        return int(self.engine.read(lambda e: e.exchange.ledger.available(account, asset)))

    def place(self, account: int, side: int, qty: int, price: int) -> Any:
        self.clock.advance(1000)
        return self.engine.execute(
            c.PlaceOrder(
                OrderRequest(account, "BTCUSDT", side, OrderType.LIMIT, qty=qty, price=price)
            )
        )


@pytest.fixture
def rworld(db_engine: Any) -> Iterator[RWorld]:
    clock = Clock()
    store = SqlStore(db_engine)
    engine = Engine(store, fees=FeeSchedule(maker=MAKER_PPM, taker=TAKER_PPM), clock=clock)
    engine.apply_batch_now([c.AddAsset(a) for a in ASSETS] + [c.AddSymbol(s) for s in SYMBOLS])
    referrals = Referrals(
        ReferralRepository(db_engine),
        engine,
        inviter_ppm=INVITER_PPM,
        invitee_ppm=INVITEE_PPM,
        clock=clock,
    )
    engine.start()
    try:
        yield RWorld(db_engine, engine, referrals, clock)
    finally:
        engine.stop()
        store.close()
