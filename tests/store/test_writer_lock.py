"""One engine writes a database: a second writer is refused, and a writer that loaded before
another one committed reloads before it applies anything (no clobbered balances)."""

from __future__ import annotations

import threading

import pytest

from bourse.domain.accounts import AccountKind
from bourse.engine import Engine, EngineUnavailable
from bourse.engine import commands as c
from bourse.sandbox.listings import ASSETS, SYMBOLS
from bourse.store.db import make_engine, migrate
from bourse.store.sql import SqlStore


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
