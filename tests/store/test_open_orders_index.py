"""What reads orders by status reads open ones, through ``ix_orders_open`` (the partial index of
open orders, migration 0026), on SQLite and PostgreSQL: the engine's load and the ledger check,
each planned on the index, as the statements they run."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event, insert

from bourse.domain.orders import OPEN_STATUSES
from bourse.sandbox.listings import ASSETS, SYMBOLS
from bourse.store import tables as t
from bourse.store.ledger_check import ledger_figures
from bourse.store.snapshot import read_snapshot

#: closed orders, and one open in this many: the open ones a small share, as on a served
#: database, so a planner that can use the index prefers it
CLOSED, EVERY = 20_000, 1000


def _order(oid: int, status: str) -> dict[str, Any]:
    return dict(
        id=oid, account_id=7 + oid % 3, symbol="BTCUSDT", side=0, type="LIMIT", price=100,
        qty=10, quote_qty=0, remaining=10, filled_qty=0, filled_quote=0,
        locked=1000 if status in t.OPEN_ORDER_STATUSES else 0, status=status, client_id="",
        stp="none", source="", broker_id=None, created=oid, updated=oid, cancel_reason="",
    )  # fmt: skip


def _plan(conn: Any, statement: str, params: Any) -> str:
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params).all()
        return "\n".join(str(r[-1]) for r in rows)
    return "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {statement}", params))


def test_the_index_names_the_domain_s_open_statuses() -> None:
    assert set(t.OPEN_ORDER_STATUSES) == {str(s) for s in OPEN_STATUSES}


def test_open_orders_are_read_through_the_partial_index(db_engine: Engine) -> None:
    statuses = ["CANCELED", "FILLED", "CANCELED", "NEW", "PARTIALLY_FILLED"]
    rows = [
        _order(i, statuses[3 + i // EVERY % 2] if i % EVERY == 0 else statuses[i % 3])
        for i in range(1, CLOSED + 1)
    ]
    opened = [r["id"] for r in rows if r["status"] in t.OPEN_ORDER_STATUSES]
    assert len(opened) == CLOSED // EVERY
    with db_engine.begin() as conn:
        conn.execute(insert(t.assets), [dict(code=a.code, scale=a.scale, name="") for a in ASSETS])
        btc = next(s for s in SYMBOLS if s.name == "BTCUSDT")
        conn.execute(
            insert(t.symbols),
            dict(
                name=btc.name, base=btc.base.code, quote=btc.quote.code,
                price_scale=btc.price_scale, qty_scale=btc.qty_scale, min_qty=btc.min_qty,
                max_qty=btc.max_qty, min_notional=btc.min_notional,
                max_notional=btc.max_notional, trading=True, order_types="LIMIT",
            ),
        )  # fmt: skip
        conn.execute(insert(t.orders), rows)
    with db_engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")

    ran: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        ran.append((statement, params))

    event.listen(db_engine, "before_cursor_execute", seen)
    try:
        with db_engine.begin() as conn:
            snapshot, _ = read_snapshot(conn)
        figures = ledger_figures(db_engine)
    finally:
        event.remove(db_engine, "before_cursor_execute", seen)
    assert [o.id for o in snapshot.open_orders] == opened
    assert figures is not None

    by_status = [(s, p) for s, p in ran if "FROM orders" in s and "status IN" in s]
    assert len(by_status) == 2, [s for s, _ in ran if "orders" in s]  # the load, the check
    with db_engine.connect() as conn:
        for statement, params in by_status:
            assert "'NEW', 'PARTIALLY_FILLED'" in statement  # constants: no bound parameters
            plan = _plan(conn, statement, params)
            assert "ix_orders_open" in plan, f"{statement}\n{plan}"
