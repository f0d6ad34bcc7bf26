"""Write transactions outside the engine, and what a busy store looks like to its callers.

The engine is the only writer of balances, orders and the ledger; everything else (API keys,
users, OAuth, brokers, listen keys, chain bookkeeping) writes through ``write(db)``:

* SQLite: ``BEGIN IMMEDIATE`` takes the database's write lock before the first read, waiting
  up to the busy timeout (``db.SQLITE_BUSY_TIMEOUT_MS``) for the engine or another writer. A
  plain ``BEGIN`` would read first and then fail at once with "database is locked" when it
  tries to write after another writer committed (SQLite cannot upgrade a stale read snapshot);
* PostgreSQL: READ COMMITTED with a ``lock_timeout`` as long as SQLite's busy timeout, plus, for a rule that counts rows (at most 30 API keys per
  account), a transaction-scoped advisory lock on what is counted (``lock=(area, id)``), so
  two concurrent inserts cannot both see room for one more. SQLite needs no such lock: its
  write lock already serialises every writer.

A write that still cannot run (the lock was not free within the timeout, PostgreSQL refused a
serialization or deadlock, the server is out of reach) raises ``StoreBusy``: nothing was
written and the same request may be sent again. The MEXC API answers it with HTTP 503 and
``Retry-After`` (``api/mexc/errors.py``), never a 500.

A write the database refused for what it held (``refused``: a row that breaks a constraint, a
number out of range, a text it cannot store) is the other kind of failure: the request, not
the store, is at fault, and sending it again fails again.
"""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bourse.store.db import SQLITE_BUSY_TIMEOUT_MS, psycopg_errors

#: milliseconds a PostgreSQL write waits for a lock (SQLite: ``db.SQLITE_BUSY_TIMEOUT_MS``)
LOCK_TIMEOUT_MS = SQLITE_BUSY_TIMEOUT_MS
#: seconds a client is asked to wait before retrying a write the store could not take
RETRY_AFTER_S = 1


class StoreBusy(Exception):
    """The database could not take this write now; nothing was written, retrying may work."""

    retry_after = RETRY_AFTER_S


def unavailable(exc: BaseException) -> bool:
    """True when ``exc`` says the store is busy or out of reach (a retryable condition), not
    that the request itself was wrong: locked, serialization failure, deadlock, lost or
    refused connection, pool exhausted."""
    if isinstance(exc, StoreBusy | OperationalError | PoolTimeout):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


#: what a database (or its driver, encoding a value) raises for a value it will not store; and
#: psycopg's ``IntegrityError`` and ``DataError`` (``db.psycopg_errors``)
_REFUSALS = (
    sqlite3.IntegrityError,
    sqlite3.DataError,
    ValueError,  # UnicodeEncodeError: a lone surrogate
    OverflowError,  # SQLite: an integer past 64 bits
    TypeError,  # a value of a type the column cannot take
)


def refused(exc: BaseException) -> bool:
    """True when ``exc`` says the database refused a value it was given (a row that breaks a
    constraint, a number out of range, a text it cannot store): one write's own fault, which
    one command can cause; False when the store is busy or out of reach, or for anything else."""
    driver = exc.orig if isinstance(exc, DBAPIError) else exc  # SQLAlchemy wraps the driver's
    return isinstance(driver, _REFUSALS + psycopg_errors("IntegrityError", "DataError"))


def lock_key(area: str, ident: int) -> int:
    """A PostgreSQL advisory lock key (signed 64-bit) for ``ident`` within ``area``."""
    return (zlib.crc32(area.encode()) & 0x7FFFFFFF) << 32 | (ident & 0xFFFFFFFF)


@contextmanager
def write(db: Engine, lock: tuple[str, int] | None = None) -> Iterator[Connection]:
    """One write transaction on ``db`` (see the module docstring); ``lock=(area, id)``
    serialises, on PostgreSQL, every transaction that takes the same lock. Raises
    ``StoreBusy`` when the store cannot take the write."""
    try:
        with (
            db.connect().execution_options(sqlite_begin="BEGIN IMMEDIATE") as conn,
            conn.begin(),
        ):
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = {int(LOCK_TIMEOUT_MS)}")
                if lock is not None:
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(*lock)})
            yield conn
    except (OperationalError, PoolTimeout) as exc:
        raise StoreBusy("the database is busy, please retry") from exc
