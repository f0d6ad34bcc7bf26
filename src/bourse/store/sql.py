"""``SqlStore``: the engine's store on SQLite or PostgreSQL.

``commit`` is on the hot path of every acknowledged command, so it is kept flat. The SQL of
every write is built once per store from the table definitions; a batch becomes one list of
row tuples per table (no ORM, no per-row dicts), and the whole batch is written in ONE
transaction with one statement per table, on a connection the store keeps open (no pool
checkout or ping per batch):

* SQLite: ``executemany`` of ``INSERT`` / ``INSERT .. ON CONFLICT (pk) DO UPDATE``;
* PostgreSQL (psycopg 3): one ``INSERT .. SELECT * FROM unnest(<column arrays>)`` (with
  ``ON CONFLICT (pk) DO UPDATE`` for upserts) per table, sent with ``BEGIN`` and ``COMMIT`` in
  one pipeline, so a batch costs one round trip plus the commit's flush, whatever its size.

Rows that only ever grow (postings, trades, transfers, deposits, idempotency keys) are inserted;
rows that change (balances, orders, accounts, fee overrides, withdrawals, assets, symbols,
sequences, replay keys, reference prices) are upserted; a fee override cleared to the default
is deleted, and so are replay keys past their window. Reads (``load``, ``get_order``,
``get_withdrawal``) use SQLAlchemy Core; what ``load`` reads is ``snapshot``.

The SQL of the writes is in ``batch_writes``; rows become domain objects in ``rows``.
It behaves exactly like ``bourse.store.memory.MemoryStore`` with history kept: ``load`` gives
the same ``Snapshot``, ``get_order`` / ``get_withdrawal`` the same objects.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from bourse.domain.orders import Order
from bourse.domain.wallet import Withdrawal
from bourse.engine.changes import BatchChanges, Snapshot
from bourse.store import tables as t
from bourse.store.batch_writes import (
    batch_work,
    build_writes,
    execute_postgresql,
    execute_sqlite,
    rollback_postgresql,
    rollback_sqlite,
)
from bourse.store.db import psycopg_errors
from bourse.store.rows import order_from_row, withdrawal_from_row
from bourse.store.snapshot import COMMITS, read_snapshot
from bourse.store.transaction import StoreBusy, refused

log = logging.getLogger(__name__)

#: PostgreSQL advisory lock key held by the one engine that writes a database ("bourse")
WRITER_LOCK_KEY = 0x626F75727365
#: PostgreSQL: the writer's session ends this long after its last statement (PostgreSQL's own
#: ``idle_session_timeout``), so the lock of a writer that died without closing its connection
#: (host gone, network cut) frees itself; a live writer keeps it with a heartbeat
WRITER_IDLE_TIMEOUT_MS = 5_000
#: seconds between the live writer's heartbeats (well under the idle timeout)
WRITER_HEARTBEAT_S = 1.0


class StoreLocked(Exception):
    """Another engine (another process) is the writer of this database."""


#: what the store raises when it fails (``SqlStore.down``), its refusals of a value aside; and
#: ``psycopg.Error`` (``db.psycopg_errors``)
_STORE_ERRORS = (StoreLocked, StoreBusy, SQLAlchemyError, sqlite3.Error, OSError)


class SqlStore:
    """``EngineStore`` on a SQLAlchemy engine (SQLite or PostgreSQL, migrated to head).

    One engine writes a database: the first commit takes a writer lock (a PostgreSQL advisory
    lock on the store's connection, or an exclusive ``flock`` on ``<file>.writer.lock`` beside
    a SQLite file) and keeps it until ``close``. A second process that tries to commit gets
    ``StoreLocked``; the lock dies with its process, ``kill -9`` included.

    On PostgreSQL the lock lives as long as the writer's session, and the server may not see a
    dead client for hours (a host that vanished sends no FIN; TCP keepalives are off by default
    and a proxy in between keeps answering them). So the writer's session sets
    ``idle_session_timeout`` (``WRITER_IDLE_TIMEOUT_MS``) and a heartbeat thread runs a
    statement on it every ``WRITER_HEARTBEAT_S``: a writer that stops beating loses its session,
    and with it the lock, within the timeout, and the next writer takes over. A writer that
    was only paused finds its session gone at its next commit and cannot retake the lock while
    another holds it: the lock, and every commit, are on the same connection.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._writes = build_writes(engine)
        postgresql = self.dialect == "postgresql"
        self._execute = execute_postgresql if postgresql else execute_sqlite
        self._rollback = rollback_postgresql if postgresql else rollback_sqlite
        self._lock = threading.RLock()
        self._conn: Connection | None = None
        #: sequences as last committed, so unchanged ones are not rewritten every batch
        self._seq_written: dict[str, int] = {}
        self.commits = 0
        self._writer = False
        self._lock_fd: int | None = None
        #: batches committed to the database as of our last load / commit
        self._db_commits = 0
        self._heartbeat: threading.Thread | None = None
        self._closing = threading.Event()
        #: set when this store held the writer lock and lost it (its PostgreSQL session ended:
        #: killed, timed out, the server restarted): another engine may be the writer now
        self.writer_lost = threading.Event()
        self._sel_order = select(t.orders).where(t.orders.c.id == bindparam("id"))
        self._sel_withdrawal = select(t.withdrawals).where(t.withdrawals.c.id == bindparam("id"))

    # --- connection ----------------------------------------------------------------------------
    def _connection(self) -> Connection:
        conn = self._conn
        if conn is None or conn.closed or conn.invalidated:
            conn = self._conn = self.engine.connect()
        return conn

    def _discard(self) -> None:
        if self.dialect == "postgresql" and self._writer:
            self._writer = False  # the advisory lock goes with the connection
            self.writer_lost.set()
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()
                conn.close()
            except Exception:  # pragma: no cover - the connection is already gone
                pass

    def close(self) -> None:
        """Release the store's connection and the writer lock (the SQLAlchemy engine itself is
        the caller's to dispose)."""
        self._closing.set()
        beat = self._heartbeat
        if beat is not None and beat is not threading.current_thread():
            beat.join(WRITER_HEARTBEAT_S * 5)
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                if self._writer and self.dialect == "postgresql":
                    # the pool keeps the session alive: give the advisory lock back explicitly
                    with contextlib.suppress(Exception), conn.begin():
                        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": WRITER_LOCK_KEY})
                        conn.exec_driver_sql("RESET idle_session_timeout")
                conn.close()
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # releases the flock
                self._lock_fd = None
            self._writer = False

    @property
    def durable_commits(self) -> int:
        """Batches committed to the database as of our last ``load`` or ``commit`` (the meta
        row ``commits``): what a follower compares the bus's events with."""
        return self._db_commits

    # --- the single writer ---------------------------------------------------------------------
    def ensure_writer(self) -> bool:
        """Become this database's only writer (``StoreLocked`` if another process is).

        Returns False when another writer committed after our last ``load``: the caller must
        reload before it applies anything.
        """
        with self._lock:
            if self._writer:
                return True
            conn = self._connection()
            try:
                with conn.begin():
                    if self.dialect == "postgresql":
                        got = conn.execute(
                            text("SELECT pg_try_advisory_lock(:k)"), {"k": WRITER_LOCK_KEY}
                        ).scalar()
                        if not got:
                            raise StoreLocked("another Bourse engine is writing this database")
                        if (self.engine.dialect.server_version_info or (0,)) >= (14,):
                            conn.exec_driver_sql(
                                f"SET idle_session_timeout = {WRITER_IDLE_TIMEOUT_MS}"
                            )
                    else:
                        self._lock_sqlite_file()
                    current = conn.execute(
                        select(t.meta.c.value).where(t.meta.c.key == COMMITS)
                    ).scalar()
            except StoreLocked:
                raise
            except BaseException:
                self._discard()
                raise
            self._writer = True
            if self.dialect == "postgresql" and not self._beating():
                self._closing.clear()
                self._heartbeat = threading.Thread(
                    target=self._beat, name="bourse-writer-heartbeat", daemon=True
                )
                self._heartbeat.start()
            return int(current or 0) == self._db_commits

    def _beat(self) -> None:
        """Keep the writer's session (and lock) alive: a statement every heartbeat. A failed
        one means the session is gone: drop it, so the next batch takes the lock again (or
        learns that another writer has it)."""
        while not self._closing.wait(WRITER_HEARTBEAT_S):
            with self._lock:
                conn = self._conn
                if not self._writer or conn is None or conn.closed or conn.invalidated:
                    continue
                try:
                    with conn.begin():
                        conn.exec_driver_sql("SELECT 1")
                except Exception:
                    log.warning("the writer's database session is gone; the lock with it")
                    self._discard()

    def _beating(self) -> bool:
        return self._heartbeat is not None and self._heartbeat.is_alive()

    def _lock_sqlite_file(self) -> None:
        path = self.engine.url.database
        if not path or path == ":memory:" or path.startswith("file::memory:"):
            return
        if self._lock_fd is None:
            fd = os.open(f"{path}.writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise StoreLocked("another Bourse engine is writing this database") from None
            self._lock_fd = fd

    # --- writing -------------------------------------------------------------------------------
    def commit(self, ch: BatchChanges) -> None:
        """Write the whole batch in ONE transaction; on any error nothing of it is stored."""
        w = self._writes
        work = batch_work(w, ch)
        seq_written = self._seq_written
        seqs = [(k, v) for k, v in ch.sequences.items() if seq_written.get(k) != v]
        seqs.append((COMMITS, self._db_commits + 1))
        work.append((w["meta"], seqs))

        with self._lock:
            conn = self._connection()
            try:
                self._execute(conn.connection.dbapi_connection, work)
            except BaseException as exc:
                self._abandon(conn, exc)
                raise
            seq_written.update(seqs)
            self._db_commits += 1
            self.commits += 1

    def _abandon(self, conn: Connection, exc: BaseException) -> None:
        """A commit failed: nothing of it is stored. If the database refused a value, roll the
        transaction back on the same connection (PostgreSQL: the session holding the writer
        lock, which a new connection would lose); else, or if that fails, drop the connection
        (its transaction is rolled back as it closes)."""
        if refused(exc):
            try:
                self._rollback(conn.connection.dbapi_connection)
                return
            except Exception:
                log.warning("rolling back a refused commit failed; dropping the connection")
        self._discard()

    def refused(self, exc: BaseException) -> bool:
        """Whether ``exc`` (from ``commit``) is the database refusing a value of the batch (a
        row that breaks a constraint, a number out of range, a text it cannot store), which one
        command can cause, with this store still the writer; not when the store failed."""
        return not self.writer_lost.is_set() and refused(exc)

    def down(self, exc: BaseException) -> bool:
        """Whether ``exc`` says the store itself failed (out of reach, busy, another engine's,
        or this engine's writer lock lost), rather than refusing a value it was given."""
        if self.writer_lost.is_set():
            return True
        failures = _STORE_ERRORS + psycopg_errors("Error")
        return isinstance(exc, failures) and not refused(exc)

    # --- reading -------------------------------------------------------------------------------
    def load(self) -> Snapshot:
        with self._lock:
            conn = self._connection()
            try:
                with conn.begin():
                    if self.dialect == "postgresql":  # one consistent snapshot of every table
                        conn.exec_driver_sql(
                            "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
                        )
                    return self._load(conn)
            except BaseException:
                self._discard()
                raise

    def _load(self, conn: Connection) -> Snapshot:
        snapshot, self._db_commits = read_snapshot(conn)
        self._seq_written = dict(snapshot.sequences)
        return snapshot

    def _one(self, stmt: Any, params: dict[str, Any]) -> Any:
        with self._lock:
            conn = self._connection()
            try:
                with conn.begin():
                    return conn.execute(stmt, params).mappings().first()
            except BaseException:
                self._discard()
                raise

    def get_order(self, order_id: int) -> Order | None:
        row = self._one(self._sel_order, {"id": order_id})
        return order_from_row(row) if row is not None else None

    def dust_conversions_since(self, account: int, since: int) -> int:
        d = t.dust_conversions.c
        stmt = select(func.count(func.distinct(d.id)).label("n")).where(
            d.account_id == account, d.time >= since
        )
        row = self._one(stmt, {})
        return int(row["n"]) if row is not None else 0

    def get_withdrawal(self, withdrawal_id: int) -> Withdrawal | None:
        row = self._one(self._sel_withdrawal, {"id": withdrawal_id})
        return withdrawal_from_row(row) if row is not None else None
