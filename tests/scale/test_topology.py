"""The exchange split into processes on NATS: ``bourse engine`` applies what ``bourse gateway``s
send it over the command stream; the ccxt client trades through either gateway and reads its
own writes; a retried command is applied once; with the engine gone a gateway answers MEXC's
retryable 503, never an acknowledgement."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import ccxt
import pytest

from tests.faults.serve import World, bourse_check, prepare
from tests.scale.topology import Topology, logs, mexc
from tests.support.databases import create_pg_database, drop_pg_database, pg_template
from tests.support.nats import unique_name

pytestmark = pytest.mark.slow


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    url = create_pg_database("bourse_scale", template=pg_template())
    try:
        yield prepare(url, tmp_path, users=4, families=0)
    finally:
        drop_pg_database(url)


@pytest.fixture
def topology(world: World) -> Iterator[Topology]:
    top = Topology(world, unique_name())
    try:
        yield top
    finally:
        top.close()


def test_orders_through_two_gateways_reach_one_engine(topology: Topology, world: World) -> None:
    engine = topology.engine()
    gw1, url1 = topology.gateway()
    gw2, url2 = topology.gateway()
    a, b = world.users[0], world.users[1]
    buyer, seller = mexc(url1, a.api_key, a.secret), mexc(url2, b.api_key, b.secret)
    bid = buyer.create_order(
        "BTC/USDT", "limit", "buy", 0.01, 30000, {"newClientOrderId": "scale-bid-1"}
    )
    # read your own write: the gateway answered once its copy held the batch
    assert buyer.fetch_order(bid["id"], "BTC/USDT")["status"] == "open"
    ask = seller.create_order("BTC/USDT", "limit", "sell", 0.004, 30000)
    assert seller.fetch_order(ask["id"], "BTC/USDT")["status"] == "closed"
    # the other gateway's copy has the trade too (the event stream reaches every gateway)
    deadline = time.monotonic() + 10
    while mexc(url2, a.api_key, a.secret).fetch_order(bid["id"], "BTC/USDT")["filled"] != 0.004:
        assert time.monotonic() < deadline, logs(engine, gw1, gw2)
        time.sleep(0.05)
    # the same client order id again: the engine's idempotency answers the first order
    again = buyer.create_order(
        "BTC/USDT", "limit", "buy", 0.01, 30000, {"newClientOrderId": "scale-bid-1"}
    )
    assert again["id"] == bid["id"]
    cancelled = mexc(url2, a.api_key, a.secret).cancel_order(bid["id"], "BTC/USDT")
    assert cancelled["id"] == bid["id"]
    assert buyer.fetch_order(bid["id"], "BTC/USDT")["status"] == "canceled"
    # a refusal crosses as the domain error it is (MEXC's code, not a 503)
    with pytest.raises(ccxt.InsufficientFunds):
        buyer.create_order("BTC/USDT", "limit", "buy", 40, 30000)
    # the engine gone (and no standby): a gateway answers a retryable 503, in bounded time
    engine.kill9()
    started = time.monotonic()
    with pytest.raises(ccxt.ExchangeNotAvailable):
        buyer.create_order("BTC/USDT", "limit", "buy", 0.01, 29000)
    assert time.monotonic() - started < 15
    code, out = bourse_check(world)
    assert code == 0, out
