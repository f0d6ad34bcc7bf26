"""What a repository that lends its transaction to a service's unit of work shares."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from bourse.store.transaction import write


def in_range(q: Any, col: Any, start: int | None, end: int | None) -> Any:
    """``q`` limited to ``start <= col <= end``; either bound may be absent."""
    if start is not None:
        q = q.where(col >= start)
    if end is not None:
        q = q.where(col <= end)
    return q


class Repository:
    """A repository over ``db`` whose ``conn``-taking methods run inside ``begin()``, so a
    service can make several of them one transaction."""

    def __init__(self, db: Engine) -> None:
        self.db = db

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction for the ``conn``-taking methods."""
        with write(self.db) as conn:
            yield conn

    @contextmanager
    def begin_write(self) -> Iterator[Connection]:
        """One transaction holding the write lock from the start (``store.transaction.write``,
        as every ``begin`` now is): for units of work that read before they write."""
        with write(self.db) as conn:
            yield conn

    def page(
        self,
        q: Any,
        order_by: tuple[Any, ...],
        page: int,
        page_size: int,
        *,
        mappings: bool = False,
    ) -> tuple[int, list[Any]]:
        """(total, rows of page ``page``) of ``q`` in ``order_by`` order, read on one connection
        so the count and the page agree."""
        with self.db.connect() as conn:
            total = conn.execute(select(func.count()).select_from(q.subquery())).scalar_one()
            result = conn.execute(
                q.order_by(*order_by).limit(page_size).offset((page - 1) * page_size)
            )
            rows = result.mappings().all() if mappings else result.all()
        return int(total), list(rows)
