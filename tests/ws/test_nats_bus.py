"""The NATS bus against the real nats-server: committed batches cross processes exactly (every
field of every type, amounts beyond 64 bits), in order, replayable from a stream sequence; a
slow subscriber is dropped while the others and the publisher go on; an unreachable server is
a clear error at start and never blocks the engine."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bourse.bus import Committed, InProcessBus, capture, codec, feed
from bourse.bus.events import BalanceUpdate, BookUpdate
from bourse.bus.nats import BusUnavailable, NatsBus
from bourse.domain.accounts import AccountKind
from bourse.domain.money import Asset
from bourse.domain.orders import (
    BUY,
    ORDER_FIELDS,
    SELL,
    Order,
    OrderStatus,
    OrderType,
    StpMode,
    Trade,
)
from bourse.domain.reference_price import Reference
from bourse.domain.stp_groups import StpGroup
from bourse.domain.symbols import Symbol
from bourse.domain.wallet import Account, Withdrawal, WithdrawalStatus
from bourse.engine import Engine
from bourse.engine.changes import (
    BatchChanges,
    DepositRecord,
    DustRecord,
    IdempotencyRecord,
    TransferRecord,
)
from tests.support.nats import NATS_URL, nats_bus

from .test_bus import P, Q, _engine, _order

BIG = 10**30 + 7  # past 64 bits: must survive the wire exactly


def _fields(obj: Any) -> Any:
    """A comparable form of a domain object: an Order's fields (it has no ``__eq__``; a Trade
    is a tuple, compared as one; ``Trade.__slots__`` is empty)."""
    if isinstance(obj, Order):
        return tuple(getattr(obj, f) for f in ORDER_FIELDS)
    return obj


def _same(a: Committed, b: Committed) -> None:
    assert (a.version, a.time, a.commits) == (b.version, b.time, b.commits)
    assert a.books == b.books and a.balances == b.balances
    for f in BatchChanges.__slots__:
        x, y = getattr(a.changes, f), getattr(b.changes, f)
        if isinstance(x, list):
            assert [_fields(v) for v in x] == [_fields(v) for v in y], f
        else:
            assert x == y, f


def _every_field() -> Committed:
    usd = Asset("USDT", 8, "Tether")
    btc = Asset("BTC", 10, "Bitcoin")
    sym = Symbol("BTCUSDT", btc, usd, 2, 6, 1, BIG, 1, BIG, trading=False, order_types=("LIMIT",))
    order = Order(
        7,
        101,
        "BTCUSDT",
        SELL,
        OrderType.LIMIT,
        BIG,
        BIG,
        0,
        "c1",
        StpMode.CANCEL_BOTH,
        "api",
        3,
        1,
    )
    order.remaining, order.filled_qty, order.filled_quote, order.locked = 1, BIG - 1, BIG * 3, 5
    order.status, order.cancel_reason, order.updated = OrderStatus.PARTIALLY_FILLED, "stp", 9
    trade = Trade(4, "BTCUSDT", BIG, 2, BIG * 2, 8, 7, 102, 101, BUY, 3, BIG, None, 3, 11, "MX", "")
    changes = BatchChanges(
        postings=[(101, 0, 102, 1, "BTC", BIG, "trade", 4)],
        balances={(101, "BTC"): (BIG, 0), (102, "USDT"): (0, BIG)},
        orders=[order],
        trades=[trade],
        accounts=[Account(103, AccountKind.BROKER_SUB, 101, True, "sub", True)],
        fees=[(101, 10, None), (102, None, None)],
        withdrawals=[
            Withdrawal(
                *(5, 101, "BTC", BIG, 1, "addr", "BTC", "m", "w1", list(WithdrawalStatus)[1]),
                *("", 1, 2, "rent"),
            )
        ],
        transfers=[TransferRecord(6, 101, 102, "USDT", BIG, "t1", 12)],
        deposits=[DepositRecord(7, "tx", 101, "BTC", BIG, 13)],
        idempotency=[IdempotencyRecord("order", 101, "c1", "fp", 7, 14)],
        assets=[usd, btc],
        symbols=[sym],
        stp_groups=[StpGroup(9, 101, "desk", {101, 103}, 16, 17, True)],
        dust=[DustRecord(10, 0, 101, "BTC", BIG, BIG, 3, 18)],
        sequences={"order": 8, "trade": 5},
        references={"BTCUSDT": Reference(BIG * 10**9 + 1, BIG, 11, 12)},
    )
    return Committed(
        version=BIG,
        time=1_700_000_000_000,
        changes=changes,
        books={"BTCUSDT": BookUpdate("BTCUSDT", [(BIG, 0)], [(1, BIG)], [(BIG, 1)], [], 15)},
        balances=[BalanceUpdate(101, "BTC", BIG, 0, -BIG, BIG, "trade")],
        commits=42,
    )


def test_codec_round_trips_every_field_exactly() -> None:
    event = _every_field()
    data = codec.encode(event)
    back = codec.decode(data)
    _same(event, back)
    assert back.changes.orders[0].status is OrderStatus.PARTIALLY_FILLED
    assert back.changes.symbols[0].notional_mult == event.changes.symbols[0].notional_mult
    with pytest.raises(codec.CodecError):
        codec.decode(b"[99,1,2]")
    with pytest.raises(codec.CodecError):
        codec.decode(b"not json")


def _engine_events(n: int) -> tuple[Engine, list[Committed]]:
    """``n`` real committed batches (orders resting, then trades against them)."""
    engine, buyer, seller = _engine()
    got: list[Committed] = []
    engine.subscribe(lambda changes: got.append(capture(engine, changes)))
    for i in range(n):
        if i % 2 == 0:
            engine.apply_batch_now([_order(buyer, BUY, P - i, 2 * Q)])
        else:
            engine.apply_batch_now([_order(seller, SELL, P - i + 1, Q)])
    return engine, got


async def _take(sub: Any, n: int, timeout: float = 10.0) -> list[Committed]:
    got: list[Committed] = []

    async def run() -> None:
        async for event in sub:
            got.append(event)
            if len(got) == n:
                return

    await asyncio.wait_for(run(), timeout)
    return got


def test_events_cross_in_order_and_replay_from_a_sequence() -> None:
    _, events = _engine_events(8)
    assert any(e.changes.trades for e in events)
    with nats_bus() as bus:

        async def run() -> None:
            sub = bus.subscribe()
            await sub.started()
            for e in events:
                bus.publish(e)
            got = await _take(sub, len(events))
            for a, b in zip(events, got, strict=True):
                _same(a, b)
            first_seq = sub.seq - len(events) + 1
            sub.close()

            replay = bus.subscribe(start=first_seq + 5)  # a follower catching up
            got = await _take(replay, 3)
            assert [e.version for e in got] == [e.version for e in events[5:]]
            replay.close()

            last = bus.subscribe(start="last")
            (newest,) = await _take(last, 1)
            assert newest.version == events[-1].version
            last.close()
            seq, stored = await bus.last() or (0, None)
            assert seq == first_seq + 7 and stored is not None
            _same(stored, events[-1])

        asyncio.run(run())
        assert bus.published == len(events) and bus.lost == 0


def test_a_slow_subscriber_is_dropped_and_the_engine_never_waits() -> None:
    engine, buyer, _ = _engine()
    with nats_bus() as bus:

        async def run() -> tuple[bool, int, float]:
            slow = bus.subscribe(maxsize=3)
            fast = bus.subscribe()
            await asyncio.gather(slow.started(), fast.started())
            feed(engine, bus)
            loop = asyncio.get_running_loop()

            def place() -> float:
                t0 = time.perf_counter()
                for i in range(40):
                    engine.apply_batch_now([_order(buyer, BUY, P - i, Q)])
                return time.perf_counter() - t0

            took = await loop.run_in_executor(None, place)
            got = await _take(fast, 40)
            fast.close()
            await asyncio.sleep(0.1)
            return slow.dropped, len(got), took

        dropped, n, took = asyncio.run(run())
        assert dropped and n == 40
        assert took < 5.0


def test_an_unreachable_server_fails_start_and_publish_never_blocks() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bus = NatsBus(f"nats://127.0.0.1:{port}", "down")
    t0 = time.monotonic()
    with pytest.raises(BusUnavailable, match="cannot use NATS"):
        bus.start()
    assert time.monotonic() - t0 < 15
    engine, buyer, _ = _engine()
    feed(engine, bus)
    t0 = time.monotonic()
    engine.apply_batch_now([_order(buyer, BUY, P, Q)])
    assert time.monotonic() - t0 < 1.0
    assert bus.lost == 1


def test_an_invalid_bus_name_is_refused() -> None:
    with pytest.raises(ValueError, match="letters, digits"):
        NatsBus("nats://127.0.0.1:4222", "a.b")
    InProcessBus()  # the default stays the in-process bus


def test_bench_bus_runs() -> None:
    """``bench/bus.py`` still runs (tiny), so the bus benchmark cannot rot; BENCHMARKS.md holds
    a real run. Every path delivers every batch."""
    bench = Path(__file__).resolve().parents[2] / "bench" / "bus.py"
    cmd = [sys.executable, str(bench), "--batches", "20", "--rate", "100", "--nats", NATS_URL]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    for path in ("in-process", "nats", "mirror"):
        assert re.search(rf"^{path}\s+20\s", out.stdout, re.M), out.stdout
    assert "lost 0; mirror reloads 0" in out.stdout
