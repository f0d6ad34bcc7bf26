"""The demo market maker keeps both sides of every book populated and makes trades happen."""

from __future__ import annotations

import time

import pytest

from bourse.bootstrap import open_platform
from bourse.config import Config, RateLimits
from bourse.domain.accounts import AccountKind
from bourse.engine import Engine
from bourse.engine import commands as c
from bourse.sandbox.demo import MARKET_MAKER_ROLE, seed_demo
from bourse.sandbox.listings import ASSETS, SYMBOLS
from bourse.sandbox.market_maker import MarketMaker
from bourse.services.apikeys import generate_server_key
from bourse.services.bundle import Services
from bourse.store.memory import MemoryStore

NAMES = [s.name for s in SYMBOLS]


def _depths(engine: Engine) -> dict[str, tuple[int, int]]:
    return engine.read(
        lambda e: {n: (len(e.exchange.books[n].bids), len(e.exchange.books[n].asks)) for n in NAMES}
    )


def _wait(predicate, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.fixture
def platform(migrated_url: str):  # type: ignore[no-untyped-def]
    config = Config(
        database_url=migrated_url, secret_key=generate_server_key(), rate_limits=RateLimits.off()
    )
    with open_platform(config) as p:
        yield p


def test_quotes_both_sides_and_trades(platform: Services) -> None:
    seeded = seed_demo(platform)
    mm = MarketMaker(
        platform.engine, seeded.accounts[MARKET_MAKER_ROLE], seed=7, interval=0.2, jitter=0.05
    )
    with mm:
        assert _wait(lambda: all(d == (10, 10) for d in _depths(platform.engine).values()), 10)
        assert _wait(lambda: all(platform.marketdata.recent_trades(n, 1) for n in NAMES), 20), (
            mm.stats
        )
        assert mm.running
    assert not mm.running
    assert mm.stats.errors == 0, mm.stats.last_error
    for name in NAMES:
        book = platform.engine.read(lambda e, n=name: e.exchange.books[n])
        bid, ask = book.best_bid(), book.best_ask()
        assert bid is not None and ask is not None and bid < ask
    platform.engine.read(lambda e: e.exchange.ledger.check())


def test_steps_are_deterministic_and_bounded() -> None:
    def run(seed: int) -> list:
        engine = Engine(MemoryStore())
        engine.apply_batch_now([c.AddAsset(a) for a in ASSETS] + [c.AddSymbol(s) for s in SYMBOLS])
        acc = engine.apply_batch_now([c.OpenAccount(AccountKind.USER, name="mm")])[0].id
        engine.apply_batch_now(
            [
                c.CreditDeposit(acc, a.code, 10**17, f"t-{a.code}")  # 1e9 of each asset
                for a in ASSETS
            ]
        )
        engine.start()
        try:
            mm = MarketMaker(engine, acc, seed=seed)
            for _ in range(30):
                mm.step()
            books = engine.read(
                lambda e: [
                    (e.exchange.books[n].bids.depth(10), e.exchange.books[n].asks.depth(10))
                    for n in NAMES
                ]
            )
            # at most 2 x levels resting orders per symbol, never crossed
            for bids, asks in books:
                assert len(bids) == len(asks) == 10
                assert bids[0][0] < asks[0][0]
            engine.read(lambda e: e.exchange.ledger.check())
            return books
        finally:
            engine.stop()

    assert run(3) == run(3)


def test_never_dies_on_domain_errors() -> None:
    engine = Engine(MemoryStore())
    engine.apply_batch_now([c.AddAsset(a) for a in ASSETS] + [c.AddSymbol(s) for s in SYMBOLS])
    broke = engine.apply_batch_now([c.OpenAccount(AccountKind.USER, name="broke")])[0].id
    engine.start()
    try:
        mm = MarketMaker(engine, broke, seed=1, interval=0.1, jitter=0.02).start()
        assert _wait(lambda: mm.stats.cycles >= 3, 10)
        assert mm.running
        mm.stop(timeout=5)
        assert not mm.running
        assert mm.stats.rejected > 0
        assert mm.stats.by_error.get("InsufficientFunds", 0) > 0
        assert mm.stats.placed == 0
    finally:
        engine.stop()
