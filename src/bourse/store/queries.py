"""Read models over the database: order history, an account's trades, a symbol's trades.

The engine commits every batch before it acknowledges it, so whatever a client was told has
happened is already visible here. These are plain synchronous SQLAlchemy Core reads; the HTTP
layer runs them in a worker thread. Orders come back as domain ``Order``s; trades as
``RowMapping``s with the column names of ``bourse.store.tables``, which the wire layer formats.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select

from bourse.domain.orders import Order
from bourse.store import tables as t
from bourse.store.rows import order_from_row

_o = t.orders.c
_t = t.trades.c


class Queries:
    def __init__(self, db: Engine) -> None:
        self.db = db

    def _all(self, q: Any) -> list[Any]:
        with self.db.connect() as conn:
            return list(conn.execute(q).mappings().all())

    # --- operations (metrics) -------------------------------------------------------------------
    def withdrawals_by_status(self) -> dict[str, int]:
        """How many withdrawals are in each status."""
        w = t.withdrawals.c
        q = select(w.status, func.count()).group_by(w.status)
        with self.db.connect() as conn:
            return {str(status): int(n) for status, n in conn.execute(q).all()}

    def committed_batches(self) -> int:
        """The engine's committed batches as the database counts them (the meta row)."""
        q = select(t.meta.c.value).where(t.meta.c.key == "commits")
        with self.db.connect() as conn:
            return int(conn.execute(q).scalar() or 0)

    # --- accounts ------------------------------------------------------------------------------
    def account_named(self, name: str) -> int | None:
        """The oldest account called ``name`` (read straight from the database)."""
        q = select(t.accounts.c.id).where(t.accounts.c.name == name).order_by(t.accounts.c.id)
        rows = self._all(q.limit(1))
        return int(rows[0]["id"]) if rows else None

    # --- orders --------------------------------------------------------------------------------
    def order(
        self,
        account: int,
        symbol: str,
        order_id: int | None = None,
        client_id: str | None = None,
    ) -> Order | None:
        """One order of ``account`` on ``symbol`` by id, or the newest with that client id."""
        q = select(t.orders).where(_o.account_id == account, _o.symbol == symbol)
        if order_id is not None:
            q = q.where(_o.id == order_id)
        elif client_id:
            q = q.where(_o.client_id == client_id).order_by(_o.id.desc()).limit(1)
        else:
            return None
        rows = self._all(q)
        return order_from_row(rows[0]) if rows else None

    def orders(
        self,
        account: int,
        symbol: str,
        start: int | None = None,
        end: int | None = None,
        limit: int = 500,
        newest: bool | None = None,
    ) -> list[Order]:
        """Orders created in ``[start, end]`` (ms, inclusive), oldest first: the first ``limit``
        from ``start`` when it is given (forward paging), else the newest ``limit``;
        ``newest`` forces either."""
        q = select(t.orders).where(_o.account_id == account, _o.symbol == symbol)
        if start is not None:
            q = q.where(_o.created >= start)
        if end is not None:
            q = q.where(_o.created <= end)
        if newest is None:
            newest = start is None
        if not newest:
            return [order_from_row(r) for r in self._all(q.order_by(_o.id).limit(limit))]
        rows = self._all(q.order_by(_o.id.desc()).limit(limit))
        rows.reverse()
        return [order_from_row(r) for r in rows]

    # --- trades --------------------------------------------------------------------------------
    def my_trades(
        self,
        account: int,
        symbol: str,
        order_id: int | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int = 100,
    ) -> list[Any]:
        """The account's fills on ``symbol``, oldest first: the first ``limit`` from ``start``
        when it is given (forward paging), else the newest ``limit``.

        Each row is a trade plus ``buyer_client_id``/``seller_client_id`` (the orders' client
        ids); a self-trade is one row with the account on both sides.
        """
        bo = t.orders.alias("bo")
        so = t.orders.alias("so")
        q = (
            select(
                t.trades,
                bo.c.client_id.label("buyer_client_id"),
                so.c.client_id.label("seller_client_id"),
            )
            .select_from(
                t.trades.outerjoin(bo, bo.c.id == _t.buyer_order).outerjoin(
                    so, so.c.id == _t.seller_order
                )
            )
            .where(
                _t.symbol == symbol,
                or_(_t.buyer_account == account, _t.seller_account == account),
            )
        )
        if order_id is not None:
            q = q.where(
                or_(
                    and_(_t.buyer_order == order_id, _t.buyer_account == account),
                    and_(_t.seller_order == order_id, _t.seller_account == account),
                )
            )
        if start is not None:
            q = q.where(_t.time >= start)
        if end is not None:
            q = q.where(_t.time <= end)
        if start is not None:
            return self._all(q.order_by(_t.id).limit(limit))
        rows = self._all(q.order_by(_t.id.desc()).limit(limit))
        rows.reverse()
        return rows

    def trades(
        self,
        symbol: str,
        start: int | None = None,
        end: int | None = None,
        limit: int = 500,
        from_id: int | None = None,
    ) -> list[Any]:
        """A symbol's public trades, oldest first: the first ``limit`` from ``start``/``from_id``,
        else the newest ``limit``."""
        q = select(_t.id, _t.symbol, _t.price, _t.qty, _t.quote_qty, _t.taker_side, _t.time).where(
            _t.symbol == symbol
        )
        if start is not None:
            q = q.where(_t.time >= start)
        if end is not None:
            q = q.where(_t.time <= end)
        if from_id is not None:
            q = q.where(_t.id >= from_id)
        if start is not None or from_id is not None:
            return self._all(q.order_by(_t.id).limit(limit))
        rows = self._all(q.order_by(_t.id.desc()).limit(limit))
        rows.reverse()
        return rows

    def iter_trades(self, since: int | None = None, chunk: int = 10_000) -> Iterator[Any]:
        """Every public trade (``time >= since``) in id order, fetched in chunks."""
        last = 0
        while True:
            q = select(
                _t.id, _t.symbol, _t.price, _t.qty, _t.quote_qty, _t.taker_side, _t.time
            ).where(_t.id > last)
            if since is not None:
                q = q.where(_t.time >= since)
            rows = self._all(q.order_by(_t.id).limit(chunk))
            if not rows:
                return
            yield from rows
            last = rows[-1]["id"]
            if len(rows) < chunk:
                return

    # --- dust conversions ----------------------------------------------------------------------
    def dust_log(
        self, account: int, start: int | None, end: int | None, page: int, size: int
    ) -> tuple[list[list[Any]], int]:
        """The account's dust conversions in ``[start, end]`` (ms), newest first: page ``page``
        of ``size`` conversions, each the list of its rows (one per asset, in order), and how
        many conversions there are in all."""
        d = t.dust_conversions.c
        where = [d.account_id == account]
        if start is not None:
            where.append(d.time >= start)
        if end is not None:
            where.append(d.time <= end)
        total = self._all(select(func.count(func.distinct(d.id)).label("n")).where(*where))
        ids_q = (
            select(d.id)
            .where(*where)
            .group_by(d.id)
            .order_by(d.id.desc())
            .limit(size)
            .offset((page - 1) * size)
        )
        ids = [r["id"] for r in self._all(ids_q)]
        if not ids:
            return [], int(total[0]["n"])
        rows = self._all(
            select(t.dust_conversions).where(d.id.in_(ids)).order_by(d.id.desc(), d.line)
        )
        groups: dict[int, list[Any]] = {}
        for r in rows:
            groups.setdefault(r["id"], []).append(r)
        return list(groups.values()), int(total[0]["n"])
