"""Rebate accrual: an idempotent projection of the ``trades`` table, and rebate read models.

Each attributed side of a trade becomes exactly one ``rebates`` row (UNIQUE (trade id, side)):
``rebate = fee * rate // 1e6`` (``domain.brokers.rebate_for``, rounded down) with the broker's
rate in force **at the trade's time**, in the fee asset (base for the buyer, quote for the
seller). Rows start ``pending``; a zero rebate is ``settled`` at once (nothing to pay).

``accrue`` scans trades after a watermark (``broker_cursors``) in chunks; each chunk's rows and
the new watermark commit in one transaction, and inserts ignore conflicts, so a crash or a
concurrent run never counts a trade twice. Trade ids grow with commit order (one engine writes
them), so nothing below the watermark can appear later.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select

from bourse.domain.brokers import RebateStatus, rate_at, rebate_for, rebate_lines
from bourse.services.brokers._util import Clock, insert_ignore, now_ms, upsert
from bourse.store import broker_tables as bt
from bourse.store import tables as t

CURSOR = "rebates.trade_id"
_ACCRUE_LOCK = threading.Lock()  # one accrual at a time per process (SQLite has one writer)
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class AccrualResult:
    trades: int  # attributed trades read
    records: int  # rebate rows inserted
    cursor: int  # last trade id accrued


def _cursor(conn: Any) -> int:
    row = conn.execute(
        select(bt.broker_cursors.c.value).where(bt.broker_cursors.c.name == CURSOR)
    ).first()
    return int(row.value) if row is not None else 0


def accrue(
    db: Engine, *, clock: Clock = now_ms, chunk: int = 2000, max_chunks: int = 10_000
) -> AccrualResult:
    """Turn every attributed trade not yet accrued into rebate rows; returns what it did."""
    with _ACCRUE_LOCK:
        return _accrue(db, clock, chunk, max_chunks)


def _accrue(db: Engine, clock: Clock, chunk: int, max_chunks: int) -> AccrualResult:
    tr = t.trades.c
    total_trades = total_records = 0
    cursor = 0
    for _ in range(max_chunks):
        with db.begin() as conn:
            cursor = _cursor(conn)
            rows = conn.execute(
                select(t.trades, t.symbols.c.base, t.symbols.c.quote)
                .select_from(t.trades.join(t.symbols, t.symbols.c.name == tr.symbol))
                .where(
                    tr.id > cursor,
                    or_(tr.buyer_broker.is_not(None), tr.seller_broker.is_not(None)),
                )
                .order_by(tr.id)
                .limit(chunk)
            ).all()
            if not rows:
                break
            lines = [ln for r in rows for ln in rebate_lines(r, r.base, r.quote)]
            brokers = sorted({ln.broker_id for ln in lines})
            history: dict[int, list[tuple[int, int]]] = {b: [] for b in brokers}
            h = bt.broker_rate_history.c
            for hr in conn.execute(
                select(h.broker_id, h.effective_from, h.rate_ppm)
                .where(h.broker_id.in_(brokers))
                .order_by(h.effective_from, h.id)
            ).all():
                history[int(hr.broker_id)].append((int(hr.effective_from), int(hr.rate_ppm)))
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
                stmt = insert_ignore(conn, bt.rebates).returning(bt.rebates.c.id)
                total_records += len(conn.execute(stmt, values).all())
            cursor = int(rows[-1].id)
            upsert(conn, bt.broker_cursors, ["name"], {"name": CURSOR, "value": cursor})
            total_trades += len(rows)
        if len(rows) < chunk:
            break
    return AccrualResult(total_trades, total_records, cursor)


# --- read models ---------------------------------------------------------------------------------
def _range(q: Any, col: Any, start: int | None, end: int | None) -> Any:
    if start is not None:
        q = q.where(col >= start)
    if end is not None:
        q = q.where(col <= end)
    return q


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
) -> tuple[int, list[dict]]:
    """Daily rebate totals per (UTC day, user, asset) for ``taxQuery``: (total rows, page).

    Rows are ``{"day", "uid", "asset", "amount"}`` with integer amounts, newest day first;
    zero rebates (a fee too small for the rate) are left out.
    """
    r = bt.rebates.c
    day = (r.trade_time - r.trade_time % DAY_MS).label("day")  # portable integer floor
    base = _range(
        select(day, r.account_id, r.asset, func.sum(r.rebate).label("amount")).where(
            r.broker_id == broker_id, r.rebate > 0
        ),
        r.trade_time,
        start,
        end,
    ).group_by(day, r.account_id, r.asset)
    with db.connect() as conn:
        total = conn.execute(select(func.count()).select_from(base.subquery())).scalar_one()
        rows = conn.execute(
            base.order_by(day.desc(), r.account_id, r.asset)
            .limit(page_size)
            .offset((page - 1) * page_size)
        ).all()
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
    r = bt.rebates.c
    conds = [r.broker_id == broker_id]
    if asset:
        conds.append(r.asset == asset)
    if status:
        conds.append(r.status == status)
    if account_id is not None:
        conds.append(r.account_id == account_id)
    q = _range(select(bt.rebates).where(and_(*conds)), r.trade_time, start, end)
    with db.connect() as conn:
        total = conn.execute(select(func.count()).select_from(q.subquery())).scalar_one()
        rows = (
            conn.execute(
                q.order_by(r.trade_time.desc(), r.id.desc())
                .limit(page_size)
                .offset((page - 1) * page_size)
            )
            .mappings()
            .all()
        )
    return int(total), list(rows)


def totals(db: Engine, broker_id: int) -> list[dict]:
    """Per (asset, status) sums for a broker: ``{"asset", "status", "count", "amount"}``."""
    r = bt.rebates.c
    with db.connect() as conn:
        rows = conn.execute(
            select(r.asset, r.status, func.count().label("n"), func.sum(r.rebate).label("s"))
            .where(r.broker_id == broker_id)
            .group_by(r.asset, r.status)
            .order_by(r.asset, r.status)
        ).all()
    return [
        {"asset": x.asset, "status": x.status, "count": int(x.n), "amount": int(x.s or 0)}
        for x in rows
    ]
