"""ccxt trading through a key bound to an API broker earns that broker rebates.

ccxt sends ``source: CCXT`` on every private call; the key's binding takes precedence, so the
demo API broker is credited, and the rebate on each attributed trade is exactly fee x rate
(rounded down).
"""

from __future__ import annotations

from decimal import Decimal

from bourse.domain.brokers import rebate_for
from bourse.sandbox.demo import BROKER_KEY_LABEL, _demo_key
from bourse.services.brokers import rebates


def test_ccxt_orders_through_a_bound_key_accrue_rebates(live_server) -> None:  # type: ignore[no-untyped-def]
    platform = live_server.platform
    user_acc = live_server.accounts["user"]
    broker_acc = live_server.accounts["api_broker"]
    bound = _demo_key(platform, user_acc, BROKER_KEY_LABEL)
    assert bound is not None
    brokers = platform.brokers
    broker = brokers.registry.by_account(broker_acc)
    assert broker is not None and brokers.bindings.bound_broker(bound[0]) == broker.id

    via_broker = live_server.mexc(None, apiKey=bound[0], secret=bound[1])
    counter = live_server.mexc("counterparty")
    via_broker.load_markets()
    counter.load_markets()
    # the counterparty rests an ask; the user (through the broker's key) takes part of it twice
    counter.create_order("BTC/USDT", "limit", "sell", 0.01, 60000)
    via_broker.create_order("BTC/USDT", "limit", "buy", 0.004, 60000)
    via_broker.create_order("BTC/USDT", "market", "buy", 0.003)

    brokers.accrue()
    total, rows = rebates.records(platform.db, broker.id)
    assert total == 2  # one rebate per attributed trade side (the user's taker side)
    rate = brokers.registry.rate_at(broker.id)
    assert rate == 300_000
    trades = via_broker.fetch_my_trades("BTC/USDT")
    assert len(trades) == 2
    for row in rows:
        assert row["account_id"] == user_acc
        assert row["asset"] == "BTC"  # the buyer pays its fee in base
        assert row["rebate"] == rebate_for(row["fee"], rate)
        assert row["status"] == "pending"
    fees = sorted(Decimal(t["info"]["commission"]) for t in trades)  # raw wire strings
    assert sorted(Decimal(r["fee"]) / Decimal(10**8) for r in rows) == fees

    # an unbound key's orders carry ccxt's "source: CCXT", which names no broker: no rebates
    counter.create_order("BTC/USDT", "limit", "buy", 0.001, 59000)
    live_server.mexc("user").create_order("BTC/USDT", "market", "sell", 0.001)
    brokers.accrue()
    assert rebates.records(platform.db, broker.id)[0] == 2
