"""Rebate accrual and settlement over real trades, on SQLite and PostgreSQL.

A seeded scenario: two brokers with different rates; the maker and the taker of the same trade
attributed to different brokers; partial fills on both sides; a rate change between trades; an
unattributed user. Every rebate must equal fee x rate (at trade time) // 1e6 exactly, one per
attributed side; settling twice must pay once, also across simulated crashes.
"""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from bourse.domain.accounts import FEE_REVENUE
from bourse.domain.brokers import RebateStatus
from bourse.domain.errors import InvalidParameter
from bourse.domain.orders import BUY, SELL, OrderRequest, OrderStatus, OrderType
from bourse.engine import commands as c
from bourse.services.apikeys import ApiKeys
from bourse.services.brokers import rebates as rb
from bourse.services.brokers.settlement import Settlement
from bourse.store import broker_tables as bt
from bourse.store import tables as t
from tests.support.brokers import DAY, World

BTC = 10**6  # qty units per BTC on BTCUSDT (qty scale 6)
USD = 100  # price units per USDT on BTCUSDT (price scale 2)


def place(
    world: World,
    account: int,
    side: int,
    qty: int,
    price: int,
    *,
    api_key: str | None = None,
    source: str = "",
) -> Any:
    att = world.brokers.attributor.for_key(api_key, source)
    order = world.engine.execute(
        c.PlaceOrder(
            OrderRequest(
                account,
                "BTCUSDT",
                side,
                OrderType.LIMIT,
                qty=qty,
                price=price,
                source=att.source,
                broker_id=att.broker_id,
            )
        )
    )
    world.brokers.attributor.record(order.id, account, att, api_key or "")
    return order


@pytest.fixture
def scenario(world: World) -> dict[str, Any]:
    reg = world.brokers.registry
    a = reg.apply(world.open(), "API", "Alpha", code="alpha")
    b = reg.apply(world.open(), "OAUTH", "Beta", callback_url="https://beta.example/cb")
    reg.approve(a.id)
    reg.approve(b.id)
    reg.set_rate(a.id, 300_000)
    reg.set_rate(b.id, 500_000)
    keys = ApiKeys(world.db, Fernet.generate_key())
    u0, u1, u2, u3 = world.users
    key0, _ = keys.create_key(u0)
    world.brokers.bindings.bind(key0, a.id, u0)

    # u0 (bound to Alpha) rests 1 BTC; u1 (source Beta) takes 0.4: maker Alpha, taker Beta
    maker = place(world, u0, SELL, 1 * BTC, 30_000 * USD, api_key=key0, source=str(b.id))
    world.clock.advance(1000)
    place(world, u1, BUY, 400_000, 30_000 * USD, source=str(b.id))
    world.clock.advance(1000)
    place(world, u2, BUY, 300_000, 30_000 * USD, source="CCXT")  # taker earns nobody
    # Alpha's rate changes; the next fills use it
    world.clock.advance(1000)
    reg.set_rate(a.id, 250_000)
    world.clock.advance(1000)
    # u1 buys 0.5: fills the last 0.3 of u0 (partial fill of the taker), rests 0.2 at 30001
    taker = place(world, u1, BUY, 500_000, 30_001 * USD, source="beta-unknown")
    world.clock.advance(1000)
    # u3 (no broker) sells 0.2 into u1's resting order: u1 is now a maker with no broker
    place(world, u3, SELL, 200_000, 30_001 * USD)
    world.clock.advance(DAY)
    # a second day: u1 via Beta takes from u3's resting order (u3 no broker)
    place(world, u3, SELL, 100_000, 29_000 * USD)
    world.clock.advance(1000)
    place(world, u1, BUY, 100_000, 29_000 * USD, source="1" + "0" * 17)  # unknown numeric id
    world.clock.advance(1000)
    place(world, u3, SELL, 100_000, 29_000 * USD)
    world.clock.advance(1000)
    place(world, u1, BUY, 100_000, 29_000 * USD, source=str(b.id))
    assert world.engine.store.get_order(maker.id).status is OrderStatus.FILLED
    assert world.engine.store.get_order(taker.id).status is OrderStatus.FILLED
    return {"a": a.id, "b": b.id, "key0": key0}


def expected(world: World) -> dict[tuple[int, int], tuple[int, str, int, int]]:
    """(trade, side) -> (broker, asset, fee, rebate), computed straight from the trades."""
    reg = world.brokers.registry
    out = {}
    with world.db.connect() as conn:
        trades = conn.execute(select(t.trades).order_by(t.trades.c.id)).all()
    for tr in trades:
        for side, broker, asset, fee in (
            (BUY, tr.buyer_broker, "BTC", tr.buyer_fee),
            (SELL, tr.seller_broker, "USDT", tr.seller_fee),
        ):
            if broker is not None:
                rate = reg.rate_at(broker, tr.time)
                out[(tr.id, side)] = (broker, asset, fee, fee * rate // 1_000_000)
    return out


def stored(world: World) -> dict[tuple[int, int], tuple[int, str, int, int]]:
    with world.db.connect() as conn:
        rows = conn.execute(select(bt.rebates)).all()
    return {(r.trade_id, r.side): (r.broker_id, r.asset, r.fee, r.rebate) for r in rows}


def test_rebates_equal_fee_times_rate(world: World, scenario: dict[str, Any]) -> None:
    a, b = scenario["a"], scenario["b"]
    res = world.brokers.accrue()
    exp = expected(world)
    got = stored(world)
    assert got == exp
    assert res.records == len(exp) == 5
    # maker and taker of the same trade, different brokers
    first_trade = min(k[0] for k in exp)
    assert exp[(first_trade, SELL)][0] == a and exp[(first_trade, BUY)][0] == b
    # Alpha's rate changed between its two fills: 30% then 25%
    alpha = sorted((k, v) for k, v in exp.items() if v[0] == a)
    with world.db.connect() as conn:
        rates = [
            conn.execute(
                select(bt.rebates.c.rate_ppm).where(
                    bt.rebates.c.trade_id == k[0], bt.rebates.c.side == k[1]
                )
            ).scalar_one()
            for k, _ in alpha
        ]
    assert rates == [300_000, 300_000, 250_000]
    for v in exp.values():
        assert v[3] > 0 and v[3] <= v[2]
    # unknown sources were recorded raw, with why they earned nothing
    with world.db.connect() as conn:
        audit = {r.source: r.status for r in conn.execute(select(bt.order_attributions)).all()}
    assert audit == {
        "CCXT": "UNKNOWN_SOURCE",
        "beta-unknown": "UNKNOWN_SOURCE",
        "1" + "0" * 17: "UNKNOWN_SOURCE",
    }
    with world.db.connect() as conn:
        sources = {r.source for r in conn.execute(select(t.orders.c.source)).all()}
    assert "CCXT" in sources  # the raw header is on the order


def test_accrual_is_idempotent(world: World, scenario: dict[str, Any]) -> None:
    world.brokers.accrue()
    before = stored(world)
    again = world.brokers.accrue()
    assert again.records == 0 and stored(world) == before
    # even with the watermark lost, the unique (trade, side) constraint holds
    with world.db.begin() as conn:
        conn.execute(bt.broker_cursors.delete())
    assert world.brokers.accrue().records == 0
    assert stored(world) == before
    # small chunks give the same result
    with world.db.begin() as conn:
        conn.execute(bt.rebates.delete())
        conn.execute(bt.broker_cursors.delete())
    rb.accrue(world.db, clock=world.clock, chunk=1)
    assert stored(world) == before


def _rebate_postings(world: World) -> list[Any]:
    with world.db.connect() as conn:
        return conn.execute(select(t.postings).where(t.postings.c.kind == "rebate")).all()


def _owed(world: World, broker: int) -> dict[str, int]:
    with world.db.connect() as conn:
        rows = conn.execute(
            select(bt.rebates.c.asset, func.sum(bt.rebates.c.rebate))
            .where(bt.rebates.c.broker_id == broker)
            .group_by(bt.rebates.c.asset)
        ).all()
    return {r[0]: int(r[1]) for r in rows}


def test_settle_twice_pays_once(world: World, scenario: dict[str, Any]) -> None:
    a, b = scenario["a"], scenario["b"]
    reg = world.brokers.registry
    world.brokers.accrue()
    pay_a = reg.get(a).rebate_account_id
    pay_b = reg.get(b).rebate_account_id
    fee_before = {x: world.available(FEE_REVENUE, x) for x in ("BTC", "USDT")}
    bal_before = {(p, x): world.available(p, x) for p in (pay_a, pay_b) for x in ("BTC", "USDT")}
    report = world.brokers.settlement.settle()
    assert len(report.paid) == 2 and not report.failed
    owed = {pay_a: _owed(world, a), pay_b: _owed(world, b)}
    for (p, x), before in bal_before.items():
        assert world.available(p, x) == before + owed[p].get(x, 0)
    total = {x: sum(o.get(x, 0) for o in owed.values()) for x in ("BTC", "USDT")}
    for x in ("BTC", "USDT"):
        assert world.available(FEE_REVENUE, x) == fee_before[x] - total[x]
    postings = _rebate_postings(world)
    assert sum(p.amount for p in postings) == sum(total.values()) and len(postings) == 2
    # the second run pays nothing
    again = world.brokers.settlement.settle()
    assert again.paid == [] and again.recovered == []
    assert len(_rebate_postings(world)) == 2
    for (p, x), before in bal_before.items():
        assert world.available(p, x) == before + owed[p].get(x, 0)
    with world.db.connect() as conn:
        statuses = {r.status for r in conn.execute(select(bt.rebates)).all()}
        settle_rows = conn.execute(select(bt.rebate_settlements)).all()
    assert statuses == {RebateStatus.SETTLED.value}
    assert {r.status for r in settle_rows} == {"settled"} and len(settle_rows) == 2
    # the ledger still balances after the payouts
    with world.db.connect() as conn:
        sums = conn.execute(
            select(
                t.balances.c.asset, func.sum(t.balances.c.available + t.balances.c.locked)
            ).group_by(t.balances.c.asset)
        ).all()
    assert all(int(s) == 0 for _, s in sums)


def test_crash_after_claim_and_after_pay(world: World, scenario: dict[str, Any]) -> None:
    a, b = scenario["a"], scenario["b"]
    reg = world.brokers.registry
    world.brokers.accrue()
    s1 = world.brokers.settlement
    # crash 1: Alpha's USDT rows claimed, process died before PayRebates
    claim_a = s1._claim(a, reg.get(a).rebate_account_id, "USDT")
    # crash 2: Beta's BTC rows claimed AND paid, process died before marking them settled
    claim_b = s1._claim(b, reg.get(b).rebate_account_id, "BTC")
    assert claim_a is not None and claim_b is not None
    key_b, payee_b, amount_b, _ = claim_b
    assert world.engine.execute(c.PayRebates(key_b, ((payee_b, "BTC", amount_b),))) is True
    btc_after_crash = world.available(payee_b, "BTC")
    # a new process (fresh Settlement) recovers both, paying each exactly once
    s2 = Settlement(world.db, world.engine, reg, clock=world.clock)
    report = s2.settle()
    assert sorted(report.recovered) == sorted([claim_a[0], key_b])
    assert world.available(payee_b, "BTC") == btc_after_crash  # not paid twice
    assert len(_rebate_postings(world)) == 2
    assert s2.settle().paid == []
    assert len(_rebate_postings(world)) == 2
    owed_a = _owed(world, a)
    assert world.available(reg.get(a).rebate_account_id, "USDT") >= owed_a["USDT"]


class _RefusingEngine:
    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.refuse = True

    def execute(self, cmd: Any) -> Any:
        if self.refuse:
            raise InvalidParameter("fee revenue cannot cover USDT rebates")
        return self.engine.execute(cmd)


def test_failed_payout_then_retry(world: World, scenario: dict[str, Any]) -> None:
    world.brokers.accrue()
    eng = _RefusingEngine(world.engine)
    s = Settlement(world.db, eng, world.brokers.registry, clock=world.clock)
    report = s.settle(broker_id=scenario["a"])
    assert len(report.failed) == 1 and report.paid == []
    assert _rebate_postings(world) == []
    assert s.retry_failed(scenario["a"]) == 3
    eng.refuse = False
    report = s.settle(broker_id=scenario["a"])
    assert len(report.paid) == 1  # the same key, reused after the failure
    assert report.paid[0]["key"] == s.settlements(scenario["a"])[0]["key"]
    assert len(_rebate_postings(world)) == 1


def test_suspended_broker_is_held_and_earns_nothing_after(
    world: World, scenario: dict[str, Any]
) -> None:
    a = scenario["a"]
    world.brokers.registry.suspend(a)
    world.brokers.accrue()
    report = world.brokers.settlement.settle()
    assert {h[0] for h in report.held} == {a}
    assert world.brokers.settlement.pending_total(a, "USDT") > 0
    # orders by its bound key now earn nothing
    att = world.brokers.attributor.for_key(scenario["key0"], "")
    assert att.broker_id is None


def test_daily_and_records_are_per_broker(world: World, scenario: dict[str, Any]) -> None:
    a, b = scenario["a"], scenario["b"]
    world.brokers.accrue()
    total_a, page_a = rb.records(world.db, a, page_size=2)
    total_b, page_b = rb.records(world.db, b, page_size=100)
    assert total_a == 3 and len(page_a) == 2 and total_b == 2
    assert {r["broker_id"] for r in page_a} == {a} and {r["broker_id"] for r in page_b} == {b}
    n, days = rb.daily(world.db, b, page_size=10)
    assert n == len(days) == 2  # u1 on two days, BTC (buyer)
    assert days[0]["day"] == "20260102" and days[1]["day"] == "20260101"
    assert sum(d["amount"] for d in days) == _owed(world, b)["BTC"]
    n, days = rb.daily(world.db, a, start=0, end=1)
    assert (n, days) == (0, [])


def test_audit_order_rederives_refusals(world: World) -> None:
    u = world.users[0]
    refused = world.engine.execute(
        c.PlaceOrder(
            OrderRequest(u, "BTCUSDT", BUY, OrderType.LIMIT, 1_000, 1000 * USD, source="CCXT")
        )
    )
    plain = world.engine.execute(
        c.PlaceOrder(OrderRequest(u, "BTCUSDT", BUY, OrderType.LIMIT, 1_000, 1000 * USD))
    )
    att = world.brokers.attributor
    assert att.audit_order(refused, "k") is True
    assert att.audit_order(plain, "k") is False
    with world.db.connect() as conn:
        (row,) = conn.execute(select(bt.order_attributions)).all()
    assert (row.order_id, row.source, row.status, row.api_key) == (
        refused.id,
        "CCXT",
        "UNKNOWN_SOURCE",
        "k",
    )
