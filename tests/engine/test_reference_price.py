"""The engine values dust and MX fees at prices one burst of trades cannot set
(``domain.reference_price``): a walk of MXUSDT by self-arranged trades, each at the price
band's limit, neither prices a dust conversion nor shrinks an MX fee; the reference the engine
keeps is the same after a restart (SQLite and PostgreSQL) and on a follower."""

from __future__ import annotations

import pytest

from bourse.domain.accounts import DUST_DESK, AccountKind
from bourse.domain.errors import DomainError, DustPriceUnsettled
from bourse.domain.orders import BUY, SELL, OrderRequest, OrderType, StpMode
from bourse.domain.reference_price import AVERAGING_MS, prices
from bourse.engine import Engine
from bourse.engine import commands as c
from bourse.engine.changes import BatchChanges, EngineStore
from bourse.engine.replica import apply_committed
from bourse.engine.state import load_state
from bourse.sandbox.listings import ASSETS, SYMBOLS
from bourse.store.db import make_engine
from bourse.store.memory import MemoryStore
from bourse.store.sql import SqlStore

UNIT = 10**8
MINUTE = 60_000
START = 1_700_000_000_000
#: MXUSDT: price units of 0.0001 USDT, quantity units of 0.01 MX
MX_PRICE = 25_000  # 2.5 USDT


class Clock:
    """A clock the test moves (ms)."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> int:
        return self.now


class World:
    def __init__(self, store: EngineStore, clock: Clock) -> None:
        self.clock = clock
        self.engine = Engine(store, stp_default=StpMode.NONE, clock=clock)
        run = self.engine.execute
        for asset in ASSETS:
            run(c.AddAsset(asset))
        for sym in SYMBOLS:
            run(c.AddSymbol(sym))
        self.mm = self.account(USDT=10**6, BTC=10, MX=10**5)
        run(c.CreditDeposit(DUST_DESK, "MX", 200_000 * UNIT, "desk"))

    def account(self, **funds: int) -> int:
        acc = int(self.engine.execute(c.OpenAccount(AccountKind.USER)).id)
        for asset, whole in funds.items():
            self.engine.execute(c.CreditDeposit(acc, asset, whole * UNIT, f"{acc}-{asset}"))
        return acc

    def limit(self, acc: int, symbol: str, side: int, qty: int, price: int) -> None:
        req = OrderRequest(acc, symbol, side, OrderType.LIMIT, qty=qty, price=price)
        self.engine.execute(c.PlaceOrder(req))

    def trade(self, buyer: int, seller: int, symbol: str, qty: int, price: int) -> None:
        self.limit(buyer, symbol, BUY, qty, price)
        self.limit(seller, symbol, SELL, qty, price)

    def walk(self, buyer: int, seller: int, prices: list[int], step_ms: int = 5) -> None:
        """Trades on MXUSDT at ``prices``, ``step_ms`` apart, each worth at least 1 USDT."""
        for price in prices:
            self.clock.now += step_ms
            self.trade(buyer, seller, "MXUSDT", -(-1_000_000 // price), price)

    def available(self, acc: int, asset: str) -> int:
        return int(self.engine.exchange.ledger.available(acc, asset))


#: 2.5 -> 0.0001 USDT, each trade at 0.2 x the last (rounded up to the tick)
DOWN = [5_000, 1_000, 200, 40, 8, 2, 1]
#: 2.5 -> 39062.5 USDT, each trade at 5 x the last
UP = [125_000, 625_000, 3_125_000, 15_625_000, 78_125_000, 390_625_000]


@pytest.fixture
def world() -> World:
    w = World(MemoryStore(), Clock())
    w.trade(w.mm, w.mm, "MXUSDT", 1_000, MX_PRICE)  # MX at 2.5 for a while
    w.trade(w.mm, w.mm, "BTCUSDT", 10_000, 6_000_000)  # BTC at 60000
    w.clock.now += 10 * MINUTE
    return w


def test_a_walked_mx_price_does_not_price_a_dust_conversion(world: World) -> None:
    buyer, seller = world.account(USDT=100), world.account(MX=30_000)
    world.walk(buyer, seller, DOWN)
    assert world.engine.exchange.last_prices["MXUSDT"] == 1
    dusty = world.account()
    world.engine.execute(c.CreditDeposit(dusty, "USDT", 499_000_000, "dust"))
    with pytest.raises(DomainError, match="MXUSDT.*reference"):
        world.engine.execute(c.ConvertDust(dusty, ("USDT",)))
    assert world.available(dusty, "MX") == 0 and world.available(dusty, "USDT") == 499_000_000


def test_a_pair_that_has_only_just_traded_prices_no_dust() -> None:
    """A newly listed MXUSDT: its first trade (whoever made it) starts the reference, which
    values nothing until it is ``AVERAGING_MS`` old; then the same request converts."""
    w = World(MemoryStore(), Clock())
    w.trade(w.mm, w.mm, "MXUSDT", 1_000, MX_PRICE)
    dusty = w.account()
    w.engine.execute(c.CreditDeposit(dusty, "USDT", 499_000_000, "dust"))
    w.clock.now += AVERAGING_MS - 1
    w.trade(w.mm, w.mm, "MXUSDT", 1_000, MX_PRICE)  # trading on does not make it history
    with pytest.raises(DustPriceUnsettled, match="MXUSDT.*reference"):
        w.engine.execute(c.ConvertDust(dusty, ("USDT",)))
    assert w.available(dusty, "MX") == 0 and w.available(dusty, "USDT") == 499_000_000
    w.clock.now += 1
    done = w.engine.execute(c.ConvertDust(dusty, ("USDT",)))
    assert [q.asset for q in done.converted] == ["USDT"] and w.available(dusty, "USDT") == 0
    assert w.available(dusty, "MX") > 0


def test_a_walked_mx_price_does_not_shrink_an_mx_fee(world: World) -> None:
    buyer, seller = world.account(USDT=1000), world.account(MX=100)
    world.walk(buyer, seller, UP)
    payer = world.account(USDT=1000, MX=10)
    world.engine.execute(c.SetMxDeduct(payer, True))
    world.limit(world.mm, "BTCUSDT", SELL, 10_000, 6_000_000)
    world.limit(payer, "BTCUSDT", BUY, 10_000, 6_000_000)
    # the usual fee, 0.05 % of 0.01 BTC, and not 0.00000615 MX
    assert world.available(payer, "MX") == 10 * UNIT
    assert world.available(payer, "BTC") == UNIT // 100 - 500


def test_a_follower_keeps_the_writers_reference() -> None:
    batches: list[BatchChanges] = []
    clock = Clock()
    writer = World(MemoryStore(), clock)
    writer.engine.subscribe(batches.append)
    follower = load_state(MemoryStore(), (0, 500), StpMode.NONE, clock)
    writer.trade(writer.mm, writer.mm, "MXUSDT", 1_000, MX_PRICE)
    buyer, seller = writer.account(USDT=1000), writer.account(MX=30_000)
    writer.walk(buyer, seller, DOWN, step_ms=20_000)
    for changes in batches:
        apply_committed(follower, changes)
    ours, theirs = follower.exchange, writer.engine.exchange
    assert ours.references == theirs.references
    assert theirs.references["MXUSDT"].last == 1


def test_the_reference_survives_a_restart(migrated_url: str) -> None:
    """Trades minutes apart move the reference part of the way; an engine rebuilt from the
    database holds the same reference, to the billionth of a price unit, and values MXUSDT the
    same later."""
    db = make_engine(migrated_url)
    clock = Clock()
    try:
        store = SqlStore(db)
        first = World(store, clock)
        buyer, seller = first.account(USDT=1000), first.account(MX=30_000)
        first.trade(first.mm, first.mm, "MXUSDT", 1_000, MX_PRICE)
        first.walk(buyer, seller, [24_000, 26_500, 25_100], step_ms=70_000)
        clock.now += 1_000
        first.walk(buyer, seller, [25_300], step_ms=0)
        before = dict(first.engine.exchange.references)
        assert set(before) == {"MXUSDT"}
        assert before["MXUSDT"].last == 25_300
        assert before["MXUSDT"].value % 10**9  # a fraction of a price unit: kept exactly
        store.close()  # one writer at a time: the second engine takes over

        again = SqlStore(db)
        second = Engine(again, stp_default=StpMode.NONE, clock=clock)
        assert second.exchange.references == before
        assert before["MXUSDT"].since == START  # its history dates from its first trade
        assert second.exchange.last_prices == first.engine.exchange.last_prices
        clock.now += 90_000
        bands = [
            prices(e.exchange.references, e.exchange.last_prices, clock.now, ["MXUSDT"])
            for e in (first.engine, second)
        ]
        assert bands[0] == bands[1]
        again.close()
    finally:
        db.dispose()
