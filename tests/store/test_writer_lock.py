"""One engine writes a database: a second writer is refused, and a writer that loaded before
another one committed reloads before it applies anything (no clobbered balances)."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from sqlalchemy.engine import make_url

from bourse.domain.accounts import AccountKind
from bourse.engine import Engine, EngineUnavailable
from bourse.engine import commands as c
from bourse.sandbox.listings import ASSETS, SYMBOLS
from bourse.store.db import make_engine, migrate
from bourse.store.sql import WRITER_HEARTBEAT_S, WRITER_IDLE_TIMEOUT_MS, SqlStore
from tests.support.pg_pool import PgPool


def _available(engine: Engine, account: int, asset: str) -> int:
    return engine.read(lambda e: e.exchange.ledger.available(account, asset))


def test_second_writer_is_refused_then_reloads(migrated_url: str) -> None:
    db_a, db_b = make_engine(migrated_url), make_engine(migrated_url)
    store_a, store_b = SqlStore(db_a), SqlStore(db_b)
    try:
        a = Engine(store_a)
        a.apply_batch_now([c.AddAsset(x) for x in ASSETS] + [c.AddSymbol(s) for s in SYMBOLS])
        (acc,) = a.apply_batch_now([c.OpenAccount(AccountKind.USER)])
        b = Engine(store_b)  # loaded while A is the writer
        a.apply_batch_now([c.CreditDeposit(acc.id, "USDT", 100, "tx-a")])

        with pytest.raises(EngineUnavailable, match="another Bourse engine"):
            b.apply_batch_now([c.CreditDeposit(acc.id, "USDT", 50, "tx-b")])

        store_a.close()  # A stops: B may write, but only after reloading A's deposit
        b.apply_batch_now([c.CreditDeposit(acc.id, "USDT", 50, "tx-b")])
        assert _available(b, acc.id, "USDT") == 150
        b.exchange.ledger.check()

        fresh = Engine(SqlStore(make_engine(migrated_url)))
        assert _available(fresh, acc.id, "USDT") == 150
    finally:
        store_a.close()
        store_b.close()
        db_a.dispose()
        db_b.dispose()


def test_migrating_while_another_process_writes_does_not_wait(migrated_url: str) -> None:
    """A second process (a follower, a CLI command) migrates the database a running engine
    holds the writer lock of: the migration lock is another key, so it neither waits nor
    takes the writer's."""
    db_a = make_engine(migrated_url)
    store_a = SqlStore(db_a)
    try:
        a = Engine(store_a)
        a.apply_batch_now([c.AddAsset(x) for x in ASSETS[:1]])  # A holds the writer lock
        done = threading.Event()
        migrator = threading.Thread(target=lambda: (migrate(migrated_url), done.set()))
        migrator.start()
        migrator.join(20)
        assert done.is_set(), "migrate() waited for the running engine's writer lock"
        a.apply_batch_now([c.AddAsset(x) for x in ASSETS[1:2]])  # A is still the writer
    finally:
        store_a.close()
        db_a.dispose()


def test_a_writer_gone_right_after_a_commit_loses_its_session(pg_pool: PgPool) -> None:
    """PostgreSQL: a writer that stops right after a commit (killed, frozen: no heartbeat
    follows) loses its session, and the writer lock with it, to ``idle_session_timeout``.
    The commit must leave the session armed for it: a backend that got one more message
    after its last ready-for-query (a pipeline's flush request) never times out."""
    url = pg_pool.migrated()
    db = make_engine(url)
    store = SqlStore(db)
    try:
        a = Engine(store)
        a.apply_batch_now([c.AddAsset(x) for x in ASSETS[:1]])  # the lock, and the heartbeat
        store._closing.set()  # the heartbeat stops, as a frozen or killed writer's does
        assert store._heartbeat is not None
        store._heartbeat.join(WRITER_HEARTBEAT_S * 5)
        a.apply_batch_now([c.AddAsset(x) for x in ASSETS[1:2]])  # the last thing it does
        conn = store._conn
        assert conn is not None
        pid = conn.connection.dbapi_connection.info.backend_pid  # type: ignore[union-attr]
        deadline = time.monotonic() + WRITER_IDLE_TIMEOUT_MS / 1000 + 10
        with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(
            hide_password=False), autocommit=True) as probe:  # fmt: skip
            while time.monotonic() < deadline:
                alive = probe.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)
                ).fetchone()
                if alive == (0,):
                    break
                time.sleep(0.25)
            else:
                pytest.fail("the stopped writer's session (and lock) outlived its idle timeout")
    finally:
        store.close()
        db.dispose()
        pg_pool.release(url)
