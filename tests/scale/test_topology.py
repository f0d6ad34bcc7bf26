"""The exchange split into processes on NATS: ``bourse engine`` applies what ``bourse gateway``s
send it over the command stream; the ccxt client trades through either gateway and reads its
own writes; a retried command is applied once; with the engine gone a gateway answers MEXC's
retryable 503, never an acknowledgement. kill -9 of the active engine under load through both
gateways: the standby takes the writer lock, recovers from the store and consumes the command
stream on; every acknowledged order and cancel is in the store exactly once and the ledger
checks sound."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import ccxt
import pytest
from sqlalchemy import select

from bourse.store import tables as t
from bourse.store.db import make_engine
from tests.faults.load import MAX_REQUESTS
from tests.faults.serve import User, World, bourse_check
from tests.scale.topology import ACTIVE, STANDBY, Topology, logs, mexc
from tests.support.process import Proc

pytestmark = pytest.mark.slow


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


# --- failover ------------------------------------------------------------------------------------
@dataclass
class Ledger:
    """What the clients were told: acknowledged orders (client id -> order id) and cancels."""

    orders: dict[str, str] = field(default_factory=dict)
    cancels: set[str] = field(default_factory=set)
    #: cancels refused as "no such open order" (a crossing sell filled it: checked below)
    refused: set[str] = field(default_factory=set)
    unavailable: int = 0
    bad: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    acked_at: list[float] = field(default_factory=list)


def _trader(url: str, user: User, k: int, stop: threading.Event, led: Ledger) -> None:
    ex = mexc(url, user.api_key, user.secret)
    ex.load_markets()
    mine: list[str] = []
    for n in range(MAX_REQUESTS):
        if stop.is_set():
            return
        try:
            if n % 4 == 3 and mine:
                oid = mine.pop(0)
                ex.cancel_order(oid, "BTC/USDT")
                with led.lock:
                    led.cancels.add(oid)
                    led.acked_at.append(time.monotonic())
                continue
            cid = f"fo{k}x{n}"
            # resting bids and asks on both sides of 30000, and now and then one that crosses
            side = "buy" if n % 2 else "sell"
            price = (29000 - n % 50) if side == "buy" else (31000 + n % 50)
            if n % 10 == 5:
                price = 28000  # a sell at 28000 takes the best resting bid
            order = ex.create_order(
                "BTC/USDT", "limit", side, 0.001, price, {"newClientOrderId": cid}
            )
            with led.lock:
                led.orders[cid] = order["id"]
                led.acked_at.append(time.monotonic())
            mine.append(order["id"])
        except ccxt.ExchangeNotAvailable:  # before ExchangeError: it is one
            with led.lock:
                led.unavailable += 1
            time.sleep(0.05)
        except ccxt.ExchangeError as exc:
            if '"code":-2013' not in str(exc):
                led.bad.append(f"{type(exc).__name__}: {exc}"[:300])
                return
            led.refused.add(oid)  # a cancel of an order a crossing sell filled
        except Exception as exc:
            led.bad.append(f"{type(exc).__name__}: {exc}"[:300])
            return


def test_kill_9_of_the_active_engine_the_standby_takes_over(
    topology: Topology, world: World
) -> None:
    active = topology.engine()
    standby = topology.engine(wait=STANDBY)
    gw1, url1 = topology.gateway()
    gw2, url2 = topology.gateway()
    led = Ledger()
    stop = threading.Event()
    workers = [
        threading.Thread(target=_trader, args=((url1, url2)[k % 2], u, k, stop, led))
        for k, u in enumerate(world.users)
    ]
    for w in workers:
        w.start()
    try:
        deadline = time.monotonic() + 30
        while len(led.acked_at) < 40:  # load under way through both gateways
            assert time.monotonic() < deadline and not led.bad, (led.bad, logs(gw1, gw2))
            time.sleep(0.05)
        active.kill9()
        killed = time.monotonic()
        standby.wait_for(ACTIVE, 60)
        took_over = time.monotonic()
        while sum(t > took_over for t in led.acked_at) < 40:  # and on after the takeover
            assert time.monotonic() < took_over + 60 and not led.bad, (
                led.bad,
                logs(standby, gw1, gw2),
            )
            time.sleep(0.05)
    finally:
        stop.set()
        for w in workers:
            w.join(30)
    assert not led.bad, led.bad
    first_after = min(t for t in led.acked_at if t > killed)
    print(
        f"takeover {took_over - killed:.1f} s after kill -9, first acknowledgement after "
        f"{first_after - killed:.1f} s; {len(led.orders)} orders and {len(led.cancels)} cancels "
        f"acknowledged, {led.unavailable} answered 503"
    )
    standby.stop()
    code, out = bourse_check(world)
    assert code == 0, out
    # every acknowledged order is in the store once, as acknowledged; every cancel took effect
    db = make_engine(world.url)
    try:
        with db.connect() as conn:
            rows = conn.execute(select(t.orders.c.id, t.orders.c.client_id, t.orders.c.status))
            by_cid: dict[str, list[tuple[int, str]]] = {}
            status = {}
            for oid, cid, st in rows:
                by_cid.setdefault(cid, []).append((oid, st))
                status[str(oid)] = st
    finally:
        db.dispose()
    for cid, oid in led.orders.items():
        assert [o for o, _ in by_cid.get(cid, [])] == [int(oid)], (cid, by_cid.get(cid))
    twice = {cid: v for cid, v in by_cid.items() if cid and len(v) > 1}
    assert not twice, twice
    for oid in led.cancels:
        assert status[oid] in ("CANCELED", "PARTIALLY_CANCELED"), (oid, status[oid])
    for oid in led.refused:
        assert status[oid] == "FILLED", (oid, status[oid])


# --- bourse serve --workers ----------------------------------------------------------------------
def test_serve_with_workers_runs_an_engine_and_gateways_on_one_socket(
    topology: Topology, world: World
) -> None:
    serve = Proc(
        ["serve", "--workers", "2", "--port", "0", "--no-rate-limit", "--log-level", "warning",
         "--no-access-log", *topology._bus()],
        world.env(),
        world.home.parent,
        "serve-workers",
    )  # fmt: skip
    try:
        url = serve.wait_for(r"API\s+(http://[0-9.:]+)", 60).group(1)
        found = serve.wait_for(r"engine pid (\d+), gateway pids ([\d ]+)", 60)
        pids = [int(p) for p in (found.group(1), *found.group(2).split())]
        assert len(pids) == 3  # the engine and two gateways
        a = world.users[0]
        orders = []
        for n in range(20):  # new connections: the kernel spreads them over the gateways
            ex = mexc(url, a.api_key, a.secret)
            deadline = time.monotonic() + 60
            while True:  # the gateways may still be starting: the socket queues, they answer
                try:
                    orders.append(
                        ex.create_order("BTC/USDT", "limit", "buy", 0.001, 20000 + n)["id"]
                    )
                    break
                except (ccxt.ExchangeNotAvailable, ccxt.NetworkError):
                    assert time.monotonic() < deadline, serve.log()
                    time.sleep(0.2)
        assert len(set(orders)) == 20
        # the operator's commands find the server as with one process
        out = subprocess.run(
            [sys.executable, "-m", "bourse.cli", "status"],
            env=world.env(), cwd=world.home.parent, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert url in out.stdout, out.stdout + out.stderr
        # every process is listed (a gateway may still be starting: the other took the
        # orders); bourse stop signals the supervisor, which stops its children
        expected = {serve.proc.pid: "serve", pids[0]: "engine", pids[1]: "gateway",
                    pids[2]: "gateway"}  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            listed = subprocess.run(
                [sys.executable, "-m", "bourse.cli", "status", "--json"],
                env=world.env(), cwd=world.home.parent, capture_output=True, text=True,
                timeout=60,
            )  # fmt: skip
            roles = {p["pid"]: p["role"] for p in json.loads(listed.stdout)["processes"]}
            if roles == expected:
                break
            assert time.monotonic() < deadline, (listed.stdout, serve.log())
            time.sleep(0.2)
        stop = subprocess.run(
            [sys.executable, "-m", "bourse.cli", "stop"],
            env=world.env(), cwd=world.home.parent, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert stop.stdout.startswith(f"stopped the server at {url}"), stop.stdout + stop.stderr
        assert serve.proc.wait(10) == 0, serve.log()
    finally:
        code = serve.stop()
    assert code == 0, serve.log()
    for pid in pids:  # every child stopped with it
        assert (
            not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
        )
    code, out = bourse_check(world)
    assert code == 0, out
