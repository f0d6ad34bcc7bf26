"""kill -9 in the middle of live rebate accrual, on SQLite and PostgreSQL: after a restart the
follower's catch-up gives every attributed trade side exactly one rebate row, none missing and
none twice (``accrual_worker.py`` trades and accrues from several threads until it is killed)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from bourse.engine import Engine
from bourse.services.brokers import Brokers
from bourse.store import broker_tables as bt
from bourse.store import tables as t
from bourse.store.db import make_engine
from bourse.store.sql import SqlStore

WORKER = Path(__file__).with_name("accrual_worker.py")
ROUNDS = 3
WORKER_SECONDS = 20.0


def _run_and_kill(url: str, after: float) -> int:
    """Start the worker, SIGKILL it ``after`` seconds after READY; how many trades it acked."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(root)}
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), url, str(WORKER_SECONDS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    watchdog = threading.Timer(WORKER_SECONDS + 30, proc.kill)  # never hang the suite
    watchdog.start()
    acked = 0
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().decode()
        if first != "READY\n":
            proc.kill()
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise AssertionError(f"worker did not start: {first!r}\n{err[-3000:]}")
        deadline = time.monotonic() + after
        while time.monotonic() < deadline and proc.stdout.readline() == b"T\n":
            acked += 1
        assert proc.poll() is None, "the worker ended before it was killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
    return acked


def _sides(db) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    """(attributed trade sides, rebate rows, distinct (trade, side) rebate rows)."""
    with db.connect() as conn:
        sides = (
            conn.execute(
                select(func.count()).where(t.trades.c.buyer_broker.is_not(None))
            ).scalar_one()
            + conn.execute(
                select(func.count()).where(t.trades.c.seller_broker.is_not(None))
            ).scalar_one()
        )
        rows = conn.execute(select(func.count()).select_from(bt.rebates)).scalar_one()
        distinct = conn.execute(
            select(func.count()).select_from(
                select(bt.rebates.c.trade_id, bt.rebates.c.side).distinct().subquery()
            )
        ).scalar_one()
    return int(sides), int(rows), int(distinct)


def test_kill_9_mid_accrual_counts_every_trade_once(migrated_url: str) -> None:
    rng = random.Random(20261203)
    db = make_engine(migrated_url)
    acked = 0
    try:
        for _ in range(ROUNDS):
            acked += _run_and_kill(migrated_url, rng.uniform(0.5, 1.5))
            sides, rows, distinct = _sides(db)
            assert rows == distinct and rows <= sides  # never twice, even mid-way
        # the restart: the follower's catch-up (what Brokers.accrue runs) finishes the job
        store = SqlStore(db)
        try:
            Brokers.create(db, Engine(store)).accrue()
        finally:
            store.close()
        sides, rows, distinct = _sides(db)
        assert sides >= acked > 20
        assert rows == distinct == sides
        print(f"\n{acked} acknowledged trades over {ROUNDS} kills: {rows} rebates, one per side")
    finally:
        db.dispose()
