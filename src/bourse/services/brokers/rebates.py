"""Rebate accrual: an idempotent projection of the ``trades`` table, and rebate read models.

Each attributed side of a trade becomes exactly one ``rebates`` row (UNIQUE (trade id, side)):
``rebate = fee * rate // 1e6`` (``domain.brokers.rebate_for``, rounded down) with the broker's
rate in force **at the trade's time**, in the fee asset (base for the buyer, quote for the
seller). Rows start ``pending``; a zero rebate is ``settled`` at once (nothing to pay).

``accrue`` scans trades after a watermark (``broker_cursors``) in chunks; each chunk's rows and
the new watermark commit in one transaction, and inserts ignore conflicts, so a crash or a
concurrent run never counts a trade twice. Trade ids grow with commit order (one engine writes
them), so nothing below the watermark can appear later. Each chunk is a write transaction from
its first statement (SQLite ``BEGIN IMMEDIATE``; on PostgreSQL an advisory lock), so accruals
in several processes (the server's follower, a CLI run) take turns instead of failing.

The running server accrues live: a follower of the engine's change feed (``bus.followers``)
runs ``accrue`` after every batch that ``has_attributed_trades``, so a rebate is visible
within milliseconds of its fill, and once on start for whatever was committed while nothing
followed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from bourse.domain.brokers import RebateStatus, rate_at, rebate_for, rebate_lines
from bourse.engine.changes import BatchChanges
from bourse.engine.clock import Clock, now_ms
from bourse.store.repositories.rebates import DAY_MS, RebateRepository

CURSOR = "rebates.trade_id"
#: ``pg_advisory_xact_lock`` key serialising accrual chunks across processes ("rebate")
ACCRUE_LOCK_KEY = 0x726562617465
_ACCRUE_LOCK = threading.Lock()  # one accrual at a time per process (SQLite has one writer)


@dataclass(frozen=True, slots=True)
class AccrualResult:
    trades: int  # attributed trades read
    records: int  # rebate rows inserted
    cursor: int  # last trade id accrued


def has_attributed_trades(changes: BatchChanges) -> bool:
    """Whether a committed batch holds a trade with a broker on either side (the follower's
    ``wants``; runs on the engine thread, so it only looks at the batch's trades)."""
    return any(t.buyer_broker is not None or t.seller_broker is not None for t in changes.trades)


def accrue(
    db: Engine, *, clock: Clock = now_ms, chunk: int = 2000, max_chunks: int = 10_000
) -> AccrualResult:
    """Turn every attributed trade not yet accrued into rebate rows; returns what it did."""
    with _ACCRUE_LOCK:
        return _accrue(db, clock, chunk, max_chunks)


def _accrue(db: Engine, clock: Clock, chunk: int, max_chunks: int) -> AccrualResult:
    repo = RebateRepository(db)
    total_trades = total_records = 0
    with repo.db.connect() as conn:  # nothing to do: do not take the write lock for it
        cursor = repo.cursor(conn, CURSOR)
        if not repo.attributed_trades(conn, cursor, 1):
            return AccrualResult(0, 0, cursor)
    for _ in range(max_chunks):
        with repo.begin_write() as conn:
            repo.lock_accrual(conn, ACCRUE_LOCK_KEY)
            cursor = repo.cursor(conn, CURSOR)
            rows = repo.attributed_trades(conn, cursor, chunk)
            if not rows:
                break
            lines = [ln for r in rows for ln in rebate_lines(r, r.base, r.quote)]
            history = repo.rate_histories(conn, sorted({ln.broker_id for ln in lines}))
            now = clock()
            values = []
            for ln in lines:
                rate = rate_at(history[ln.broker_id], ln.time)
                rebate = rebate_for(ln.fee, rate)
                values.append(
                    {
                        "trade_id": ln.trade_id,
                        "side": ln.side,
                        "order_id": ln.order_id,
                        "account_id": ln.account_id,
                        "broker_id": ln.broker_id,
                        "symbol": ln.symbol,
                        "asset": ln.asset,
                        "fee": ln.fee,
                        "rebate": rebate,
                        "rate_ppm": rate,
                        "maker": ln.maker,
                        "trade_time": ln.time,
                        "status": (RebateStatus.PENDING if rebate else RebateStatus.SETTLED).value,
                        "settlement_key": None,
                        "created": now,
                        "settled_at": None if rebate else now,
                    }
                )
            if values:
                total_records += repo.insert_rebates(conn, values)
            cursor = int(rows[-1].id)
            repo.set_cursor(conn, CURSOR, cursor)
            total_trades += len(rows)
        if len(rows) < chunk:
            break
    return AccrualResult(total_trades, total_records, cursor)


# --- read models ---------------------------------------------------------------------------------
def yyyymmdd(day: int) -> str:
    """The UTC date of day number ``day`` (ms // 86_400_000) as MEXC's ``yyyyMMdd``."""
    return datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y%m%d")


def daily(
    db: Engine,
    broker_id: int,
    *,
    start: int | None = None,
    end: int | None = None,
    page: int = 1,
    page_size: int = 10,
) -> tuple[int, list[dict[str, Any]]]:
    """Daily rebate totals per (UTC day, user, asset) for ``taxQuery``: (total rows, page).

    Rows are ``{"day", "uid", "asset", "amount"}`` with integer amounts, newest day first;
    zero rebates (a fee too small for the rate) are left out.
    """
    total, rows = RebateRepository(db).daily(broker_id, start, end, page, page_size)
    return int(total), [
        {
            "day": yyyymmdd(int(x.day) // DAY_MS),
            "uid": int(x.account_id),
            "asset": x.asset,
            "amount": int(x.amount),
        }
        for x in rows
    ]


def records(
    db: Engine,
    broker_id: int,
    *,
    start: int | None = None,
    end: int | None = None,
    asset: str | None = None,
    status: str | None = None,
    account_id: int | None = None,
    page: int = 1,
    page_size: int = 100,
) -> tuple[int, list[Any]]:
    """Per-trade rebate rows of ``broker_id`` (newest first): (total, page of row mappings)."""
    return RebateRepository(db).records(
        broker_id,
        start=start,
        end=end,
        asset=asset,
        status=status,
        account_id=account_id,
        page=page,
        page_size=page_size,
    )


def totals(db: Engine, broker_id: int) -> list[dict[str, Any]]:
    """Per (asset, status) sums for a broker: ``{"asset", "status", "count", "amount"}``."""
    rows = RebateRepository(db).totals(broker_id)
    return [
        {"asset": x.asset, "status": x.status, "count": int(x.n), "amount": int(x.s or 0)}
        for x in rows
    ]
