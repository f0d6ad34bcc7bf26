"""What a repository that lends its transaction to a service's unit of work shares."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine

from bourse.store.transaction import write


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
