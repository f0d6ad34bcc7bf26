"""Test databases on SQLite and PostgreSQL, migrated once and cloned per test.

Migrating a fresh database with Alembic costs far more than copying one, so the schema at head
is built once into a *template* and every test gets a copy:

* PostgreSQL: ``pg_template()`` makes (at most once per migration set, across test sessions and
  concurrent pytest runs) a database ``bourse_tpl_<digest>`` marked ``IS_TEMPLATE``, where
  ``<digest>`` hashes the migration files, so a schema change makes a new template by itself.
  It is built under a name of its own and renamed into place under a PostgreSQL advisory lock:
  a template that exists is complete. ``create_pg_database(template=...)`` then clones it with
  ``CREATE DATABASE ... TEMPLATE``.
* SQLite: ``SqliteTemplate`` migrates one file per test session; ``copy_to(path)`` copies it.

PostgreSQL is required: if the server at ``BOURSE_TEST_PG_URL`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``) is unreachable, the test fails loudly.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import threading
import uuid
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from bourse.store.db import MIGRATIONS_DIR, migrate

PG_ADMIN_URL = os.environ.get("BOURSE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
#: ``pg_advisory_lock`` key held while a template is built ("tp" + "bourse")
TEMPLATE_LOCK_KEY = 0x7470_626F75727365
TEMPLATE_PREFIX = "bourse_tpl_"


def migrations_digest() -> str:
    """A short hash of every migration file (name and content): the schema's version."""
    h = hashlib.sha256()
    for path in sorted(MIGRATIONS_DIR.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            h.update(str(path.relative_to(MIGRATIONS_DIR)).encode() + b"\0")
            h.update(path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _admin_conninfo() -> str:
    """The admin URL in the plain libpq form psycopg accepts."""
    return make_url(PG_ADMIN_URL).set(drivername="postgresql").render_as_string(hide_password=False)


def _url_of(name: str) -> str:
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def _admin() -> psycopg.Connection:
    try:
        return psycopg.connect(_admin_conninfo(), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is required for the tests and is not reachable at {PG_ADMIN_URL}: {exc}",
            pytrace=False,
        )


def create_pg_database(prefix: str = "bourse_test", template: str | None = None) -> str:
    """Create a PostgreSQL database with a unique name (empty, or a copy of ``template``);
    return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    source = f' TEMPLATE "{template}"' if template else ""
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"{source}')
    return _url_of(name)


def drop_pg_database(url: str) -> None:
    """Drop a database made by ``create_pg_database``, disconnecting anyone still on it."""
    name = make_url(url).database
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_template_lock = threading.Lock()
_template_name: str | None = None


def pg_template() -> str:
    """The name of the migrated template database for the current migrations (built once)."""
    global _template_name
    with _template_lock:
        if _template_name is None:
            _template_name = _ensure_pg_template(TEMPLATE_PREFIX + migrations_digest())
        return _template_name


def _ensure_pg_template(name: str) -> str:
    with _admin() as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (TEMPLATE_LOCK_KEY,))
        try:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if exists.fetchone() is None:
                building = f"{name}_build"  # left over only if a run died while building
                conn.execute(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{building}"')
                migrate(_url_of(building))
                conn.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
                conn.execute(f'ALTER DATABASE "{name}" WITH IS_TEMPLATE true')
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (TEMPLATE_LOCK_KEY,))
    return name


class SqliteTemplate:
    """A SQLite file migrated to head once, copied for each test that wants the schema."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / f"template-{migrations_digest()}.db"
        self._lock = threading.Lock()
        self._ready = False

    def copy_to(self, path: Path) -> str:
        """Copy the migrated file to ``path``; return its URL."""
        with self._lock:
            if not self._ready:
                migrate(f"sqlite:///{self.path}")
                # fold the WAL back into the main file, so the file alone is the database
                with sqlite3.connect(self.path) as conn:
                    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.close()
                self._ready = True
        shutil.copyfile(self.path, path)
        return f"sqlite:///{path}"
