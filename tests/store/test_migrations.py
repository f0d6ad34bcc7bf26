"""Migrations create exactly ``bourse.store.tables`` on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import threading

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Integer, inspect, text

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


def test_a_database_behind_head_is_migrated_and_one_at_head_left_alone(db_url: str) -> None:
    """``migrate`` skips Alembic on a database at head (``db.head_revision``, read from the
    scripts' lines, must name Alembic's own head) and upgrades one a revision behind."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert dbmod.head_revision() == head
    migrate(db_url)
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "-1")
        with engine.connect() as conn:
            behind = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        assert behind not in (None, head)
        assert not dbmod._at_head(engine)
        migrate(engine)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head
        assert dbmod._at_head(engine)
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


def test_money_audit_rows_stored_before_are_split_per_account_and_back(db_url: str) -> None:
    """0020: the money audit rows written before (one per command, naming only the payer or
    nobody) get one row per account and asset they moved money in or out of, as the engine
    writes them now, so each account's audit finds them; a downgrade keeps the first rows."""
    migrate(db_url, "0019")
    engine = make_engine(db_url)
    old = [  # (command, account, asset, amount, ref, detail) as 0017-0019 wrote them
        ("Transfer", 102, "USDT", 500, None,
         '{"client_id":"t-1","initiator":null,"replay":"","to_account":106}'),
        ("CreditDeposit", 102, "USDT", 1000, None, '{"tx_ref":"t1"}'),
        ("PayRebates", None, "", None, None,
         '{"payouts":[[104,"BTC",33],[105,"BTC",7]],"settlement_key":"k1"}'),
        ("ReserveWithdrawal", 107, "USDT", 29, 1, '{"fee":1,"network":"TRX"}'),
        ("ApproveWithdrawal", None, "", None, 1, '{"withdrawal_id":1}'),
        ("SettleWithdrawal", None, "", None, 1, '{"txid":"tx","withdrawal_id":1}'),
        ("ConvertDust", 108, "", None, 5, '{"assets":["USDT","ETH"]}'),
        ("ResetBalances", None, "", None, None, '{"targets":[[102,"USDT",1]]}'),
        ("VoidWithdrawal", None, "", None, 99, '{"failed":false,"withdrawal_id":99}'),
    ]  # fmt: skip
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO withdrawals (id, account_id, asset, amount, fee, address, "
                    "network, memo, client_id, status, txid, created, updated) VALUES "
                    "(1, 107, 'USDT', 29, 1, 'T', 'TRX', '', '', 'SUCCESS', 'tx', 1, 1)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO dust_conversions (id, line, account_id, asset, amount, "
                    "\"convert\", fee, time) VALUES (5, 0, 108, 'USDT', 900, 80, 1, 1)"
                )
            )
            for i, (name, account, asset, amount, ref, detail) in enumerate(old):
                conn.execute(
                    text(
                        "INSERT INTO money_audit (time, command, origin, request_id, account, "
                        "asset, amount, ref, detail) VALUES (:time, :command, 'system', '', "
                        ":account, :asset, :amount, :ref, :detail)"
                    ),
                    dict(time=1000 + i, command=name, account=account, asset=asset,
                         amount=amount, ref=ref, detail=detail),
                )  # fmt: skip
        migrate(engine)
        assert _diffs(engine) == []
        with engine.connect() as conn:
            got = conn.execute(
                text(
                    "SELECT command, account, asset, amount, direction, leg, detail "
                    "FROM money_audit ORDER BY time, leg"
                )
            ).all()
        rows = [tuple(r[:6]) for r in got]
        assert rows == [
            ("Transfer", 102, "USDT", 500, "out", 0),
            ("Transfer", 106, "USDT", 500, "in", 1),
            ("CreditDeposit", 102, "USDT", 1000, "in", 0),
            ("CreditDeposit", 3, "USDT", 1000, "out", 1),
            ("PayRebates", 1, "BTC", 40, "out", 0),
            ("PayRebates", 104, "BTC", 33, "in", 1),
            ("PayRebates", 105, "BTC", 7, "in", 2),
            ("ReserveWithdrawal", 107, "USDT", 29, "", 0),
            ("ApproveWithdrawal", 107, "USDT", 29, "", 0),
            ("SettleWithdrawal", 107, "USDT", 30, "out", 0),
            ("SettleWithdrawal", 3, "USDT", 29, "in", 1),
            ("SettleWithdrawal", 1, "USDT", 1, "in", 2),
            ("ConvertDust", 108, "USDT", 900, "out", 0),
            ("ConvertDust", 108, "MX", 80, "in", 1),
            ("ConvertDust", 4, "USDT", 900, "in", 2),
            ("ConvertDust", 4, "MX", 81, "out", 3),
            ("ConvertDust", 1, "MX", 1, "in", 4),
            ("ResetBalances", None, "", None, "", 0),  # what it moved was never stored
            ("VoidWithdrawal", None, "", None, "", 0),  # no such withdrawal: left as it was
        ]
        details = {(r[0], r[5]): json.loads(r[6]) for r in got}
        assert details["Transfer", 1] == {
            "amount": 500, "asset": "USDT", "client_id": "t-1", "from_account": 102,
            "initiator": None, "replay": "", "to_account": 106,
        }  # fmt: skip
        assert details["PayRebates", 0]["payouts"] == [[104, "BTC", 33], [105, "BTC", 7]]
        assert details["PayRebates", 2] == {"settlement_key": "k1"}
        assert details["ConvertDust", 3] == {"account": 108}
        with engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0019")
        with engine.connect() as conn:
            back = conn.execute(
                text("SELECT command, account, asset, amount FROM money_audit ORDER BY time")
            ).all()
        assert [tuple(r) for r in back] == [r[:4] for r in rows if r[5] == 0]
        columns = {c["name"] for c in inspect(engine).get_columns("money_audit")}
        assert not columns & {"direction", "leg"}
        index = {i["name"]: i["column_names"] for i in inspect(engine).get_indexes("money_audit")}
        assert index["ix_money_audit_account"] == ["account"]
    finally:
        engine.dispose()


def test_stored_emails_take_their_one_form_unless_another_row_has_it(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """0025: each ``users.email`` becomes its one form (NFKC, lower-cased) in id order; a row
    whose one form another row already holds, or that is no valid e-mail now, is left as it
    was and logged; the downgrade changes nothing."""
    migrate(db_url, "0024")
    engine = make_engine(db_url)
    stored = {
        1: "\uff41nn@example.com",  # full-width a: becomes ann@
        2: "\uff42ob@example.com",  # its one form is row 3's: left
        3: "bob@example.com",
        4: "\uff43arl@example.com",  # the oldest of two look-alikes takes the form
        5: "\uff43\uff41rl@example.com",  # then it is row 4's: left
        6: "dave@example.com.",  # no valid e-mail now: left
        7: "jose\u0301@example.com",  # NFKC composes the accent
        8: "eve@example.com",
    }
    try:
        with engine.begin() as conn:
            for uid, email in stored.items():
                conn.execute(
                    text(
                        "INSERT INTO users (id, email, password_hash, account_id, totp_last_step, "
                        "created) VALUES (:id, :email, 'h', :account, 0, 1)"
                    ),
                    dict(id=uid, email=email, account=1000 + uid),
                )
        with caplog.at_level("WARNING", logger="bourse.migrations"):
            migrate(engine)
        assert _diffs(engine) == []
        with engine.connect() as conn:
            got = dict(conn.execute(text("SELECT id, email FROM users")).all())
        assert got == {
            1: "ann@example.com",
            2: "\uff42ob@example.com",
            3: "bob@example.com",
            4: "carl@example.com",
            5: "\uff43\uff41rl@example.com",
            6: "dave@example.com.",
            7: "jos\u00e9@example.com",
            8: "eve@example.com",
        }
        left = [r.getMessage() for r in caplog.records if r.name == "bourse.migrations"]
        assert len(left) == 3, left
        assert "user 2 (account 1002)" in left[1] and "is user 3's" in left[1]
        assert "user 5 (account 1005)" in left[2] and "is user 4's" in left[2]
        assert "user 6 (account 1006)" in left[0] and "not a valid e-mail" in left[0]
        with engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0024")
        with engine.connect() as conn:
            assert dict(conn.execute(text("SELECT id, email FROM users")).all()) == got
    finally:
        engine.dispose()


def _sqlite_shape(engine) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Each SQLite table's and index's ``CREATE`` text (None for an automatic index)."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT name, sql FROM sqlite_master").all()
    return {name: sql for name, sql in rows}


def _pk_index(engine, table: str) -> bool:  # type: ignore[no-untyped-def]
    """Whether SQLite keeps ``table``'s primary key in an index of its own (a rowid table whose
    key is not its rowid), beside the table's B-tree."""
    with engine.connect() as conn:
        sql = conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).scalar()
        origins = [r[3] for r in conn.exec_driver_sql(f'PRAGMA index_list("{table}")')]
    return "WITHOUT ROWID" not in sql and "pk" in origins


def _index_predicates(engine) -> dict[str, str | None]:  # type: ignore[no-untyped-def]
    """Each index's ``WHERE`` as the database keeps it (None: a full index), by name."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            ).all()
            return {n: s.split(" WHERE ", 1)[1] if " WHERE " in s else None for n, s in rows}
        rows = conn.exec_driver_sql(
            "SELECT c.relname, pg_get_expr(i.indpred, i.indrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = "
            "c.relnamespace WHERE n.nspname = current_schema()"
        ).all()
        return dict(rows)


def test_migrated_schema_has_what_compare_metadata_does_not_see(db_url: str) -> None:
    """What Alembic's comparison ignores: which indexes are partial, and on what (the open
    orders' statuses in ``tables``' order: SQLite uses a partial index only for a query that
    repeats its constants in order); on SQLite, which tables are WITHOUT ROWID and which are
    keyed by their rowid (no automatic index of their primary key)."""
    from bourse.store import tables as t

    migrate(db_url)
    engine = make_engine(db_url)
    dialect = engine.dialect.name
    try:
        predicates = _index_predicates(engine)
        for table in metadata.tables.values():
            for index in table.indexes:
                partial = index.dialect_options[dialect]["where"] is not None
                assert (predicates[index.name] is not None) == partial, index.name
        open_where = predicates["ix_orders_open"]
        assert open_where is not None
        statuses = re.findall(r"'(\w+)'", open_where)
        assert tuple(statuses) == t.OPEN_ORDER_STATUSES
        if dialect != "sqlite":
            return
        shape = _sqlite_shape(engine)
        for name, table in metadata.tables.items():
            without = table.dialect_options["sqlite"]["with_rowid"] is False
            assert ("WITHOUT ROWID" in shape[name]) == without, name
            pk = list(table.primary_key.columns)
            rowid = len(pk) == 1 and type(pk[0].type.dialect_impl(engine.dialect)) is Integer
            # a B-tree of its own for the primary key: a rowid table not keyed by its rowid
            assert _pk_index(engine, name) == bool(pk and not without and not rowid), name
        for name in ("orders", "trades"):
            assert not _pk_index(engine, name)
    finally:
        engine.dispose()


def test_tables_rebuilt_for_fewer_btrees_keep_every_row_and_back(db_url: str) -> None:
    """0026: ``orders``, ``trades``, ``idempotency`` and ``replays`` keep every row through
    the SQLite rebuilds, up and down; ``ix_orders_status`` becomes ``ix_orders_open`` (open
    orders only) and back."""
    migrate(db_url, "0025")
    engine = make_engine(db_url)
    big = 2**63 - 1
    inserts = [
        "INSERT INTO orders VALUES (1, 7, 'BTCUSDT', 0, 'LIMIT', 300, 10, 0, 10, 0, 0, 3000, "
        "'NEW', 'a', 'NONE', '', NULL, 1, 1, '')",
        "INSERT INTO orders VALUES (2, 7, 'BTCUSDT', 1, 'IMMEDIATE_OR_CANCEL', 301, 10, 0, 0, "
        "10, 3010, 0, 'FILLED', '', 'NONE', 'x', 9, 2, 3, '')",
        f"INSERT INTO orders VALUES ({big}, 8, 'ETHUSDT', 0, 'LIMIT', 5, 1, 0, 1, 0, 0, 5, "
        "'CANCELED', 'b', 'NONE', '', NULL, 4, 5, 'USER')",
        "INSERT INTO trades VALUES (1, 'BTCUSDT', 301, 10, 3010, 1, 2, 7, 7, 1, 0, 3, NULL, 9, "
        "3, NULL, 'MX')",
        f"INSERT INTO trades VALUES ({big}, 'ETHUSDT', 5, 1, 5, 3, 3, 8, 8, 0, 0, 0, NULL, NULL, "
        "6, NULL, NULL)",
        "INSERT INTO idempotency VALUES ('order', 7, 'a', 'f1', 1, 1)",
        "INSERT INTO idempotency VALUES ('deposit', 0, 'tx:1', 'f2', 4, 2)",
        "INSERT INTO replays VALUES ('k1', 100)",
        "INSERT INTO replays VALUES ('k2', 200)",
    ]
    tables = {"orders": "id", "trades": "id", "idempotency": "scope, account_id, client_id"}
    tables["replays"] = '"key"'

    def rows() -> dict[str, list[tuple]]:  # type: ignore[type-arg]
        with engine.connect() as conn:
            return {
                name: [
                    tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {name} ORDER BY {key}")
                ]
                for name, key in tables.items()
            }

    try:
        with engine.begin() as conn:
            for sql in inserts:
                conn.exec_driver_sql(sql)
        before = rows()
        assert [len(v) for v in before.values()] == [3, 2, 2, 2]
        migrate(engine)
        assert rows() == before
        assert _diffs(engine) == []
        predicates = _index_predicates(engine)
        assert "ix_orders_status" not in predicates and predicates["ix_orders_open"]
        if engine.dialect.name == "sqlite":
            shape = _sqlite_shape(engine)
            assert "WITHOUT ROWID" in shape["idempotency"] and "WITHOUT ROWID" in shape["replays"]
            assert not _pk_index(engine, "orders") and not _pk_index(engine, "trades")
            with engine.connect() as conn:  # the id is the rowid
                assert conn.exec_driver_sql(f"SELECT rowid FROM orders WHERE id = {big}").all()
        with engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0025")
        assert rows() == before
        predicates = _index_predicates(engine)
        assert "ix_orders_open" not in predicates and predicates["ix_orders_status"] is None
        if engine.dialect.name == "sqlite":
            shape = _sqlite_shape(engine)
            assert "WITHOUT ROWID" not in shape["idempotency"] + shape["replays"]
            for name in tables:
                assert _pk_index(engine, name), name
    finally:
        engine.dispose()
