"""The SQL of rebate accrual, the rebate read models and settlement
(``bourse.services.brokers.rebates`` / ``settlement``): the ``rebates``,
``rebate_settlements`` and ``broker_cursors`` tables, read against ``trades``.

Methods that take a ``conn`` run inside a transaction the service opens with ``begin()``, so a
unit of several statements (an accrual chunk, a claim) stays one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, text, update

from bourse.store import broker_tables as bt
from bourse.store import tables as t
from bourse.store.repositories.base import Repository, in_range
from bourse.store.repositories.dialect import insert_ignore, upsert
from bourse.store.transaction import write

DAY_MS = 86_400_000
_r = bt.rebates.c
_s = bt.rebate_settlements.c
_h = bt.broker_rate_history.c


class RebateRepository(Repository):
    """See ``Repository``: ``conn``-taking methods run inside ``begin()``."""

    # --- accrual ---------------------------------------------------------------------------------
    @staticmethod
    def lock_accrual(conn: Connection, key: int) -> None:
        """Serialise accrual transactions across processes: on PostgreSQL an advisory lock held
        until commit (SQLite's ``BEGIN IMMEDIATE`` already is one)."""
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})

    @staticmethod
    def cursor(conn: Connection, name: str) -> int:
        row = conn.execute(
            select(bt.broker_cursors.c.value).where(bt.broker_cursors.c.name == name)
        ).first()
        return int(row.value) if row is not None else 0

    @staticmethod
    def set_cursor(conn: Connection, name: str, value: int) -> None:
        upsert(conn, bt.broker_cursors, ["name"], {"name": name, "value": value})

    @staticmethod
    def attributed_trades(conn: Connection, after: int, limit: int) -> list[Any]:
        """Trades after id ``after`` with a broker on either side, with their symbol's
        ``base`` and ``quote``, in id order."""
        tr = t.trades.c
        return list(
            conn.execute(
                select(t.trades, t.symbols.c.base, t.symbols.c.quote)
                .select_from(t.trades.join(t.symbols, t.symbols.c.name == tr.symbol))
                .where(
                    tr.id > after,
                    or_(tr.buyer_broker.is_not(None), tr.seller_broker.is_not(None)),
                )
                .order_by(tr.id)
                .limit(limit)
            ).all()
        )

    @staticmethod
    def rate_histories(conn: Connection, brokers: list[int]) -> dict[int, list[tuple[int, int]]]:
        """broker id -> [(effective_from, rate_ppm)] in force order."""
        history: dict[int, list[tuple[int, int]]] = {b: [] for b in brokers}
        for hr in conn.execute(
            select(_h.broker_id, _h.effective_from, _h.rate_ppm)
            .where(_h.broker_id.in_(brokers))
            .order_by(_h.effective_from, _h.id)
        ).all():
            history[int(hr.broker_id)].append((int(hr.effective_from), int(hr.rate_ppm)))
        return history

    @staticmethod
    def insert_rebates(conn: Connection, values: list[dict[str, Any]]) -> int:
        """Insert rebate rows, ignoring those already there; returns how many were new."""
        stmt = insert_ignore(conn, bt.rebates).returning(_r.id)
        return len(conn.execute(stmt, values).all())

    # --- read models -----------------------------------------------------------------------------
    def daily(
        self, broker_id: int, start: int | None, end: int | None, page: int, page_size: int
    ) -> tuple[int, list[Any]]:
        """(total, page) of non-zero rebate sums per (UTC day start ms ``day``, ``account_id``,
        ``asset``) as ``amount``, newest day first."""
        day = (_r.trade_time - _r.trade_time % DAY_MS).label("day")  # portable integer floor
        base = in_range(
            select(day, _r.account_id, _r.asset, func.sum(_r.rebate).label("amount")).where(
                _r.broker_id == broker_id, _r.rebate > 0
            ),
            _r.trade_time,
            start,
            end,
        ).group_by(day, _r.account_id, _r.asset)
        return self.page(base, (day.desc(), _r.account_id, _r.asset), page, page_size)

    def records(
        self,
        broker_id: int,
        *,
        start: int | None,
        end: int | None,
        asset: str | None,
        status: str | None,
        account_id: int | None,
        page: int,
        page_size: int,
    ) -> tuple[int, list[Any]]:
        """(total, page of row mappings) of the broker's rebate rows, newest first."""
        conds = [_r.broker_id == broker_id]
        if asset:
            conds.append(_r.asset == asset)
        if status:
            conds.append(_r.status == status)
        if account_id is not None:
            conds.append(_r.account_id == account_id)
        q = in_range(select(bt.rebates).where(and_(*conds)), _r.trade_time, start, end)
        return self.page(q, (_r.trade_time.desc(), _r.id.desc()), page, page_size, mappings=True)

    def totals(self, broker_id: int) -> list[Any]:
        """Rows of (``asset``, ``status``, count ``n``, sum ``s``) for a broker."""
        with self.db.connect() as conn:
            return list(
                conn.execute(
                    select(
                        _r.asset, _r.status, func.count().label("n"), func.sum(_r.rebate).label("s")
                    )
                    .where(_r.broker_id == broker_id)
                    .group_by(_r.asset, _r.status)
                    .order_by(_r.asset, _r.status)
                ).all()
            )

    # --- settlement ------------------------------------------------------------------------------
    def pending_groups(
        self, status: str, broker_id: int | None, limit: int
    ) -> list[tuple[int, str]]:
        """(broker, asset) groups with rows in ``status``."""
        q = (
            select(_r.broker_id, _r.asset)
            .where(_r.status == status)
            .group_by(_r.broker_id, _r.asset)
            .order_by(_r.broker_id, _r.asset)
            .limit(limit)
        )
        if broker_id is not None:
            q = q.where(_r.broker_id == broker_id)
        with self.db.connect() as conn:
            return [(int(g.broker_id), g.asset) for g in conn.execute(q).all()]

    def settlements_in(self, status: str, broker_id: int | None, limit: int) -> list[Any]:
        """Settlement rows in ``status``, oldest first."""
        q = (
            select(bt.rebate_settlements)
            .where(_s.status == status)
            .order_by(_s.created)
            .limit(limit)
        )
        if broker_id is not None:
            q = q.where(_s.broker_id == broker_id)
        with self.db.connect() as conn:
            return list(conn.execute(q).all())

    def claim(
        self,
        broker_id: int,
        asset: str,
        pending: str,
        settling: str,
        temp_key: str,
        max_rows: int,
        settle: Callable[[list[int], int], dict[str, Any]],
    ) -> dict[str, Any] | None:
        """In one transaction: move up to ``max_rows`` of the group's ``pending`` rows to
        ``settling`` under ``temp_key``, then ``settle(ids, amount)`` gives the settlement row
        (its ``key`` replaces the temporary one on the rows) which is upserted. None if no row
        was claimed.

        The first statement is the claiming UPDATE, so concurrent claims serialize on the rows
        instead of reading the same ones: each row is claimed by exactly one settlement."""
        with write(self.db) as conn:
            pick = (
                select(_r.id)
                .where(_r.broker_id == broker_id, _r.asset == asset, _r.status == pending)
                .order_by(_r.id)
                .limit(max_rows)
            )
            if conn.dialect.name == "postgresql":
                pick = pick.with_for_update(skip_locked=True)
            conn.execute(
                update(bt.rebates)
                .where(_r.id.in_(pick.scalar_subquery()), _r.status == pending)
                .values(status=settling, settlement_key=temp_key)
            )
            rows = conn.execute(
                select(_r.id, _r.rebate).where(_r.settlement_key == temp_key).order_by(_r.id)
            ).all()
            if not rows:
                return None
            ids = [int(x.id) for x in rows]
            values = settle(ids, sum(int(x.rebate) for x in rows))
            conn.execute(
                update(bt.rebates)
                .where(_r.settlement_key == temp_key)
                .values(settlement_key=values["key"])
            )
            # a key that failed before (same rows again after retry_failed) is reused
            upsert(conn, bt.rebate_settlements, ["key"], values)
        return values

    def finish(
        self, key: str, settling: str, status: str, settled_at: int | None, error: str, now: int
    ) -> None:
        """Rows still ``settling`` under ``key`` and their settlement get ``status``."""
        with write(self.db) as conn:
            conn.execute(
                update(bt.rebates)
                .where(_r.settlement_key == key, _r.status == settling)
                .values(status=status, settled_at=settled_at)
            )
            conn.execute(
                update(bt.rebate_settlements)
                .where(_s.key == key)
                .values(status=status, error=error, updated=now)
            )

    def reset(self, status: str, to: str, broker_id: int | None) -> int:
        """Rows in ``status`` back to ``to`` without a settlement key; returns how many."""
        q = update(bt.rebates).where(_r.status == status).values(status=to, settlement_key=None)
        if broker_id is not None:
            q = q.where(_r.broker_id == broker_id)
        with write(self.db) as conn:
            return int(conn.execute(q).rowcount)

    def settlements(self, broker_id: int, limit: int) -> list[Any]:
        with self.db.connect() as conn:
            return list(
                conn.execute(
                    select(bt.rebate_settlements)
                    .where(_s.broker_id == broker_id)
                    .order_by(_s.created.desc())
                    .limit(limit)
                )
                .mappings()
                .all()
            )

    def pending_total(self, broker_id: int, asset: str, pending: str) -> int:
        with self.db.connect() as conn:
            return int(
                conn.execute(
                    select(func.coalesce(func.sum(_r.rebate), 0)).where(
                        _r.broker_id == broker_id, _r.asset == asset, _r.status == pending
                    )
                ).scalar_one()
            )
