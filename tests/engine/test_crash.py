"""kill -9: every acknowledged command survives, no batch is ever half-applied.

``crash_worker.py`` runs a live engine (engine thread + submitter threads) on a database and
prints a line after each acknowledged order, cancel and transfer. This test SIGKILLs it at a
seeded random moment, then checks the database:

* every acknowledged order, cancel and transfer is stored (with its idempotency key);
* stored balances equal the sums of the stored postings and every asset sums to zero;
* every trade has its postings (quote and base legs, fees) and its orders' fills add up;
* every open order has exactly what the book needs locked, and the locked buckets equal what
  open orders and withdrawals hold;
* a new engine loads the database, balances, and keeps working (the next round's worker is that
  new engine; a final engine places an order and a transfer).

Three kill points per backend, each round continuing on the database the last one left.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from bourse.domain.accounts import AccountKind
from bourse.domain.ledger import AVAILABLE, LOCKED
from bourse.domain.orders import BUY, SELL, OrderRequest, OrderStatus, OrderType
from bourse.domain.wallet import FINAL_WITHDRAWAL
from bourse.engine import Engine
from bourse.engine import commands as c
from bourse.sandbox.listings import SYMBOLS
from bourse.store import tables as t
from bourse.store.db import make_engine, migrate
from bourse.store.sql import WRITER_LOCK_KEY, SqlStore

pytestmark = pytest.mark.slow

WORKER = Path(__file__).with_name("crash_worker.py")
ROUNDS = 3
#: the worker's own bound; the test kills it well before
WORKER_SECONDS = 20
_OPEN = {OrderStatus.NEW.value, OrderStatus.PARTIALLY_FILLED.value}
_SYMBOLS = {s.name: s for s in SYMBOLS}


def run_and_kill(url: str, rnd: int, seed: int, kill_after: float) -> tuple[list[str], bool]:
    """Start the worker, SIGKILL it ``kill_after`` s after READY; return its complete lines."""
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), url, str(rnd), str(seed), "6", "20000", str(WORKER_SECONDS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    watchdog = threading.Timer(WORKER_SECONDS + 30, proc.kill)  # never hang the suite
    watchdog.start()
    lines: list[str] = []
    killed = False
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().decode()
        if first != "READY\n":
            proc.kill()
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise AssertionError(f"worker did not start: {first!r}\n{err[-3000:]}")
        deadline = time.monotonic() + kill_after
        while time.monotonic() < deadline:
            raw = proc.stdout.readline()
            if not raw:
                break
            lines.append(raw.decode())
        killed = proc.poll() is None
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        lines.extend(raw.decode() for raw in proc.stdout.readlines())  # acked before the kill
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()
    complete = [ln.rstrip("\n") for ln in lines if ln.endswith("\n")]
    return complete, killed


def check_acknowledged(conn: Any, acks: list[str]) -> dict[str, int]:
    o, tr, idem = t.orders.c, t.transfers.c, t.idempotency.c
    orders = {r.id: r for r in conn.execute(select(o.id, o.account_id, o.client_id, o.status))}
    transfers = {r.id: r for r in conn.execute(select(tr.id, tr.from_account, tr.client_id))}
    keys = {
        (r.scope, r.account_id, r.client_id)
        for r in conn.execute(select(idem.scope, idem.account_id, idem.client_id))
    }
    counts: dict[str, int] = defaultdict(int)
    for line in acks:
        kind, *rest = line.split()
        if kind == "O":
            oid, acc, cid = int(rest[0]), int(rest[1]), rest[2]
            row = orders.get(oid)
            assert row is not None, f"acknowledged order {oid} is lost"
            assert (row.account_id, row.client_id) == (acc, cid)
            assert ("order", acc, cid) in keys
        elif kind == "C":
            oid = int(rest[0])
            row = orders.get(oid)
            assert row is not None, f"cancelled order {oid} is lost"
            assert row.status in ("CANCELED", "PARTIALLY_CANCELED"), (oid, row.status)
        elif kind == "T":
            tid, src, cid = int(rest[0]), int(rest[1]), rest[2]
            row = transfers.get(tid)
            assert row is not None, f"acknowledged transfer {tid} is lost"
            assert (row.from_account, row.client_id) == (src, cid)
            assert ("transfer", src, cid) in keys
        else:
            continue
        counts[kind] += 1
    return counts


def check_consistent(conn: Any) -> dict[tuple[int, str], list[int]]:
    """The invariants of a database that only ever saw whole batches; returns balances."""
    p = t.postings.c
    postings = conn.execute(
        select(
            p.from_account,
            p.from_bucket,
            p.to_account,
            p.to_bucket,
            p.asset,
            p.amount,
            p.kind,
            p.ref,
        )  # fmt: skip
    ).all()
    sums: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
    by_ref: dict[tuple[str, int], list[Any]] = defaultdict(list)
    for fa, fb, ta, tb, asset, amount, kind, ref in postings:
        assert amount > 0
        sums[(fa, asset)][fb] -= amount
        sums[(ta, asset)][tb] += amount
        by_ref[(kind, ref)].append((fa, fb, ta, tb, asset, amount))
    b = t.balances.c
    stored = {
        (r[0], r[1]): [r[2], r[3]]
        for r in conn.execute(select(b.account_id, b.asset, b.available, b.locked))
    }
    assert {k: v for k, v in stored.items() if v != [0, 0]} == {
        k: v for k, v in sums.items() if v != [0, 0]
    }, "stored balances differ from the postings"
    totals: dict[str, int] = defaultdict(int)
    for (acc, asset), (avail, locked) in stored.items():
        totals[asset] += avail + locked
        if acc != 3:  # only chain clearing may go negative
            assert avail >= 0 and locked >= 0, (acc, asset, avail, locked)
    assert all(v == 0 for v in totals.values()), totals

    orders = {r.id: r for r in conn.execute(select(t.orders))}
    filled: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for tr in conn.execute(select(t.trades)):
        sym = _SYMBOLS[tr.symbol]
        legs = by_ref[("trade", tr.id)]
        quote = (
            tr.buyer_account,
            LOCKED,
            tr.seller_account,
            AVAILABLE,
            sym.quote.code,
            tr.quote_qty,
        )
        base = (tr.seller_account, LOCKED, tr.buyer_account, AVAILABLE, sym.base.code,
                tr.qty * sym.base_mult)  # fmt: skip
        assert sorted(legs) == sorted([quote, base]), f"trade {tr.id} postings: {legs}"
        fees = sorted(x[5] for x in by_ref[("fee", tr.id)])
        assert fees == sorted(f for f in (tr.buyer_fee, tr.seller_fee) if f), tr.id
        for oid in (tr.buyer_order, tr.seller_order):
            assert oid in orders, f"trade {tr.id} refers to missing order {oid}"
            filled[oid][0] += tr.qty
            filled[oid][1] += tr.quote_qty
    for oid, row in orders.items():
        assert [row.filled_qty, row.filled_quote] == filled.get(oid, [0, 0]), oid

    # locked buckets hold exactly what open orders and open withdrawals need
    held: dict[tuple[int, str], int] = defaultdict(int)
    for row in orders.values():
        sym = _SYMBOLS[row.symbol]
        if row.status in _OPEN:
            assert row.remaining > 0
            if row.side == BUY:
                need, asset = sym.notional(row.price, row.remaining), sym.quote.code
            else:
                need, asset = sym.base_units(row.remaining), sym.base.code
            assert row.locked == need, f"order {row.id} locks {row.locked}, needs {need}"
            held[(row.account_id, asset)] += row.locked
        else:
            assert row.locked == 0, f"finished order {row.id} still locks {row.locked}"
    final = tuple(s.value for s in FINAL_WITHDRAWAL)
    for w in conn.execute(select(t.withdrawals).where(t.withdrawals.c.status.not_in(final))):
        held[(w.account_id, w.asset)] += w.amount + w.fee
    locked = {k: v[1] for k, v in stored.items() if v[1]}
    assert locked == {k: v for k, v in held.items() if v}, "locked balances != open holds"
    return stored


def check_engine_resumes(db: Any, stored: dict[tuple[int, str], list[int]]) -> None:
    engine = Engine(SqlStore(db))
    engine.exchange.ledger.check()
    mem = {k: v for k, v in engine.exchange.ledger.balances.items() if v != [0, 0]}
    assert mem == {k: v for k, v in stored.items() if v != [0, 0]}
    for book in engine.exchange.books.values():
        assert not book.is_crossed()
    users = sorted(a.id for a in engine.wallet.accounts.values() if a.kind is AccountKind.USER)
    a, b = users[0], users[1]
    buy = OrderRequest(a, "BTCUSDT", BUY, OrderType.LIMIT, qty=1_000, price=1_000_000,
                       client_id="final-buy")  # fmt: skip
    sell = OrderRequest(b, "BTCUSDT", SELL, OrderType.LIMIT, qty=1_000, price=9_000_000,
                        client_id="final-sell")  # fmt: skip
    o1, o2, tid = engine.apply_batch_now(
        [c.PlaceOrder(buy), c.PlaceOrder(sell), c.Transfer(a, b, "USDT", 5, "final-tr")]
    )
    assert o1.is_open and o2.is_open and tid > 0
    engine.store.close()  # give the writer lock back for the next round's worker
    again = Engine(SqlStore(db))
    assert set(again.exchange.open_orders) == set(engine.exchange.open_orders)
    again.exchange.ledger.check()


def wait_for_the_writer_lock(db: Any) -> None:
    """On PostgreSQL, until the killed worker's session is gone: its server-side backend may
    still be running the batch the worker had sent (``BEGIN; ..; COMMIT`` in one query) and
    commit it after the kill, whole. The next engine waits for this too (the writer lock is
    that session's until it ends); a check reading before it would see postings and balances
    from either side of that commit."""
    if db.dialect.name != "postgresql":
        return
    deadline = time.monotonic() + 30
    with db.connect() as conn:
        while not conn.execute(
            text("SELECT pg_try_advisory_lock(:k)"), {"k": WRITER_LOCK_KEY}
        ).scalar():
            assert time.monotonic() < deadline, "the killed worker's session never ended"
            time.sleep(0.05)
        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": WRITER_LOCK_KEY})
        conn.commit()


def test_kill_9_loses_no_acknowledged_command(db_url: str) -> None:
    migrate(db_url)
    rng = random.Random(20261124 + (0 if db_url.startswith("sqlite") else 1))
    db = make_engine(db_url)
    total: dict[str, int] = defaultdict(int)
    try:
        for rnd in range(ROUNDS):
            acks, killed = run_and_kill(db_url, rnd, rng.randrange(10**6), rng.uniform(0.3, 2.5))
            assert killed, "the worker finished before it was killed; kill earlier"
            wait_for_the_writer_lock(db)
            with db.connect() as conn:
                for k, n in check_acknowledged(conn, acks).items():
                    total[k] += n
                stored = check_consistent(conn)
            check_engine_resumes(db, stored)
        assert total["O"] > 50 and total["T"] > 5, dict(total)
        print(f"acknowledged and found after {ROUNDS} kills: {dict(total)}")
    finally:
        db.dispose()
