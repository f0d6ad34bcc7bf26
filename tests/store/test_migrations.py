"""Migrations create exactly ``bourse.store.tables`` on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from bourse.store import db as dbmod
from bourse.store.db import alembic_config, make_engine, migrate, schema_metadata

metadata = schema_metadata()


def _diffs(engine) -> list:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(ctx, metadata)


def test_migrated_schema_matches_tables(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        migrate(engine)
        assert _diffs(engine) == []
        names = set(inspect(engine).get_table_names())
        assert set(metadata.tables) <= names
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head
    finally:
        engine.dispose()


def test_migrate_is_idempotent_and_reversible(db_url: str) -> None:
    migrate(db_url)
    migrate(db_url)  # already at head: nothing to do
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate(engine)
        assert _diffs(engine) == []
    finally:
        engine.dispose()


def test_sqlite_connection_settings(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
        # a rolled-back transaction leaves nothing behind (real transactions, DDL included)
        with engine.connect() as conn:
            trans = conn.begin()
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
            trans.rollback()
        assert "t" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_urls(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("BOURSE_DATABASE_URL", raising=False)
    assert dbmod.database_url() == "sqlite:///.bourse/bourse.db"
    monkeypatch.setenv("BOURSE_DATABASE_URL", "postgresql://u:p@h:5432/d")
    assert dbmod.database_url() == "postgresql://u:p@h:5432/d"
    assert dbmod.normalize_url("postgresql://u:p@h:5432/d") == "postgresql+psycopg://u:p@h:5432/d"
    assert dbmod.normalize_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert dbmod.normalize_url("sqlite:///x.db") == "sqlite:///x.db"
    engine = make_engine("postgresql://u:p@h:5432/d")
    assert engine.dialect.driver == "psycopg"
    engine.dispose()


def test_concurrent_migrations_do_not_collide(db_url: str) -> None:
    """Several workers starting at once all migrate the same fresh database safely."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            migrate(db_url)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert errors == []
    engine = make_engine(db_url)
    try:
        assert _diffs(engine) == []
    finally:
        engine.dispose()


def test_withdrawal_remarks_move_into_withdrawals_and_back(db_url: str) -> None:
    """0019: the remarks ``withdrawal_info`` held land on their ``withdrawals`` rows (a
    withdrawal without one gets ""), and the table goes; a downgrade puts them back."""
    migrate(db_url, "0018")
    engine = make_engine(db_url)
    row = (
        "INSERT INTO withdrawals (id, account_id, asset, amount, fee, address, network, memo, "
        "client_id, status, txid, created, updated) VALUES "
        "(:id, 7, 'USDT', 29, 1, 'T', 'TRX', '', '', 'PENDING', '', 1, 1)"
    )
    try:
        with engine.begin() as conn:
            for wid in (1, 2):
                conn.execute(text(row), {"id": wid})
            conn.execute(
                text("INSERT INTO withdrawal_info (withdrawal_id, remark) VALUES (1, 'rent')")
            )
        migrate(engine)
        with engine.connect() as conn:
            got = conn.execute(text("SELECT id, remark FROM withdrawals ORDER BY id")).all()
        assert [tuple(r) for r in got] == [(1, "rent"), (2, "")]
        assert "withdrawal_info" not in inspect(engine).get_table_names()
        assert _diffs(engine) == []
        with engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0018")
        with engine.connect() as conn:
            back = conn.execute(text("SELECT withdrawal_id, remark FROM withdrawal_info")).all()
        assert [tuple(r) for r in back] == [(1, "rent")]
        columns = {c["name"] for c in inspect(engine).get_columns("withdrawals")}
        assert "remark" not in columns
    finally:
        engine.dispose()
