"""Shared fixtures: a fresh database per test, on SQLite AND PostgreSQL.

* ``db_url``: parametrized over ``["sqlite", "postgresql"]``; yields the URL of an empty
  database that belongs to this test only. SQLite is a file in ``tmp_path``; PostgreSQL is a
  database created with a unique name on the server at ``BOURSE_TEST_PG_URL`` (default
  ``postgresql://postgres@127.0.0.1:5432/postgres``) and dropped (``WITH (FORCE)``) afterwards.
  PostgreSQL is never skipped: if the server is down the test errors out loudly.
* ``migrated_url``: the same, after ``bourse.store.db.migrate`` (the schema at head).
* ``db_engine``: a SQLAlchemy engine (``bourse.store.db.make_engine``) on ``migrated_url``,
  disposed after the test.

Any test that takes one of these runs twice, as ``test_x[sqlite]`` and ``test_x[postgresql]``;
``-k sqlite`` / ``-k postgresql`` picks one backend.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy.engine import make_url

from bourse.store.db import make_engine, migrate

PG_ADMIN_URL = os.environ.get("BOURSE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_admin_conninfo() -> str:
    """The admin URL in the plain libpq form psycopg accepts."""
    u = make_url(PG_ADMIN_URL)
    return u.set(drivername="postgresql").render_as_string(hide_password=False)


def create_pg_database(prefix: str = "bourse_test") -> str:
    """Create an empty PostgreSQL database with a unique name; return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(_pg_admin_conninfo(), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is required for the tests and is not reachable at {PG_ADMIN_URL}: {exc}",
            pytrace=False,
        )
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    """Drop a database made by ``create_pg_database``, disconnecting anyone still on it."""
    name = make_url(url).database
    with psycopg.connect(_pg_admin_conninfo(), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """URL of an empty database of the parametrized backend, private to this test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'bourse.db'}"
        return
    url = create_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture
def migrated_url(db_url: str) -> str:
    """``db_url`` with the schema migrated to head."""
    migrate(db_url)
    return db_url


@pytest.fixture
def db_engine(migrated_url: str):  # type: ignore[no-untyped-def]
    """A SQLAlchemy engine on ``migrated_url``; disposed after the test."""
    engine = make_engine(migrated_url)
    try:
        yield engine
    finally:
        engine.dispose()
