"""A command that operates an exchange, given a database that does not exist or holds no Bourse
schema (a mistyped ``--db``), refuses it in one line and creates nothing: no SQLite file or
folder, no PostgreSQL database, no table. ``bourse migrate`` (like ``bourse serve``) does create
one, after which the same commands work. A ``--db`` that is no URL is one line too."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from bourse.cli import app
from tests.support.databases import PG_ADMIN_URL
from tests.support.pg_pool import PgPool
from tests.support.served import COMMAND_S, SECRET_KEY

#: commands that operate an existing exchange, each of which once created what it was given
COMMANDS = [
    ("accounts", "list"),
    ("accounts", "open"),
    ("keys", "create", "--account", "104"),
    ("deposit", "104", "USDT", "1"),
    ("audit",),
    ("check",),
    ("demo-credentials",),
    ("keys", "rotate-master"),
]
NO_DATABASE = "no Bourse database at"


def bourse(url: str, home: Path, *args: str, code: int = 0) -> str:
    """``bourse ARGS --db URL`` in this process: its stdout, or its stderr (one line) when
    ``code`` is not 0."""
    env = {"BOURSE_HOME": str(home), "BOURSE_SECRET_KEY": SECRET_KEY, "BOURSE_DATABASE_URL": ""}
    t0 = time.monotonic()
    res = CliRunner().invoke(app, [*args, "--db", url], env=env)
    assert time.monotonic() - t0 < COMMAND_S
    assert res.exit_code == code, (args, res.stdout, res.stderr, res.exception)
    if code == 0:
        return res.stdout
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr, res.stderr
    return res.stderr


def _pg_has(name: str) -> bool:
    admin = make_url(PG_ADMIN_URL).set(drivername="postgresql")
    with psycopg.connect(admin.render_as_string(hide_password=False), connect_timeout=5) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return row is not None


def _pg_tables(url: str) -> list[str]:
    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return [r[0] for r in rows]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a))
def test_sqlite_file_or_folder_that_does_not_exist(args: tuple[str, ...], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nodir' / 'x.db'}"
    err = bourse(url, tmp_path / "home", *args, code=1)
    assert NO_DATABASE in err and url in err, err
    assert "bourse serve" in err and "bourse migrate" in err, err
    assert not (tmp_path / "nodir").exists()


def test_sqlite_file_without_a_bourse_schema(tmp_path: Path) -> None:
    """An empty file, and one of another application: refused, left as they were."""
    empty = tmp_path / "empty.db"
    empty.touch()
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
    before = other.read_bytes()
    for path in (empty, other):
        for args in COMMANDS:
            err = bourse(f"sqlite:///{path}", tmp_path / "home", *args, code=1)
            assert NO_DATABASE in err, (args, err)
    assert empty.stat().st_size == 0 and other.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db", "other.db"]


def test_sqlite_created_by_migrate_then_operated(tmp_path: Path) -> None:
    """What the refusal points to works: ``bourse migrate`` makes the database."""
    url = f"sqlite:///{tmp_path / 'new' / 'bourse.db'}"
    home = tmp_path / "home"
    bourse(url, home, "accounts", "list", code=1)
    assert "up to date" in bourse(url, home, "migrate")
    assert "Accounts" in bourse(url, home, "accounts", "list")


def test_postgresql_database_that_does_not_exist(tmp_path: Path) -> None:
    name = f"bourse_nc_{uuid.uuid4().hex[:12]}"
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    for args in COMMANDS:
        err = bourse(url, tmp_path, *args, code=1)
        assert NO_DATABASE in err and name in err, (args, err)
        assert not _pg_has(name), args


def test_postgresql_database_without_a_bourse_schema(pg_pool: PgPool, tmp_path: Path) -> None:
    url = pg_pool.empty()
    try:
        for args in COMMANDS:
            err = bourse(url, tmp_path, *args, code=1)
            assert NO_DATABASE in err, (args, err)
        assert _pg_tables(url) == []
    finally:
        pg_pool.release(url)


@pytest.mark.parametrize("url", ["notaurl", "sqlite:/x.db", "postgresql://h:port/db"])
def test_db_that_is_no_url_is_one_line(url: str, tmp_path: Path) -> None:
    """Through the console script's entry point, as an operator types it."""
    proc = subprocess.run(
        [sys.executable, "-m", "bourse.cli", "accounts", "list", "--db", url],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("BOURSE_")},
            "BOURSE_HOME": str(tmp_path),
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1 and proc.stdout == "", proc
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert f"error: not a database URL: {url!r}" in proc.stderr, proc.stderr
    assert "ArgumentError" not in proc.stderr and "SQLAlchemy" not in proc.stderr
    assert list(tmp_path.iterdir()) == []
