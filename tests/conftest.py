"""Shared fixtures: a fresh database per test, on SQLite AND PostgreSQL.

* ``db_url``: parametrized over ``["sqlite", "postgresql"]``; yields the URL of a database that
  belongs to this test only, EMPTY (no tables) unless the test also uses ``migrated_url``.
  SQLite is a file in ``tmp_path``; PostgreSQL is a database created with a unique name on the
  server at ``BOURSE_TEST_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``)
  and dropped (``WITH (FORCE)``) afterwards. PostgreSQL is never skipped: if the server is
  down the test errors out loudly.
* ``migrated_url``: the same database with the schema at head. It is a copy of a template
  migrated once (``tests.support.databases``), not migrated per test; PostgreSQL copies are
  made ahead and dropped behind the tests (``tests.support.pg_pool``).
* ``bourse_config_dir`` (automatic): ``BOURSE_CONFIG_DIR`` points at a temporary directory
  for the whole run, so the default server key file is never the user's own.
* ``db_engine``: a SQLAlchemy engine (``bourse.store.db.make_engine``) on ``migrated_url``,
  disposed after the test.
* A PostgreSQL writer (a ``SqlStore`` an ``Engine`` committed through) left open by a test is
  closed, with a warning that names the test, before its database is dropped
  (``_close_writers_left``): its heartbeat would otherwise run for the rest of the worker's
  run and log "the writer's database session is gone" into whichever test runs at the drop.

Parallel runs (``scripts/test`` runs pytest-xdist workers, ``--dist loadgroup``, with the groups of
``tests.support.workers``): the tests are
put in the order ``slow`` first (long tests do not end the run on one busy worker), then the
rest, then the ``alone`` ones (``tests.support.alone``: no other test runs while one of them
measures time).

Any test that takes one of these runs twice, as ``test_x[sqlite]`` and ``test_x[postgresql]``;
``-k sqlite`` / ``-k postgresql`` picks one backend.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bourse.services.serverkey import KEY_FILE_NAME, generate_server_key, write_key_file
from bourse.store.db import make_engine, migrate
from bourse.store.sql import SqlStore
from tests.support.alone import room
from tests.support.databases import SqliteTemplate
from tests.support.pg_pool import PgPool

#: whether this test's ``db_url`` was cloned from the migrated template
_FROM_TEMPLATE = pytest.StashKey[bool]()


def _rank(item: pytest.Item) -> int:
    if item.get_closest_marker("alone") is not None:
        return 2
    return 0 if item.get_closest_marker("slow") is not None else 1


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist, absent with -p no:xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """``--dist loadgroup`` groups by ``tests.support.workers.SAME_WORKER``."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from tests.support.workers import GroupScheduling  # only where xdist is installed

    return GroupScheduling(config, log)  # type: ignore[arg-type]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first, ``alone`` tests last (a stable sort: otherwise in file order)."""
    items.sort(key=_rank)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    """Each test in the run's lock: shared, or exclusive for an ``alone`` test."""
    with room(item.config, item.get_closest_marker("alone") is not None, item.nodeid):
        return (yield)


@pytest.fixture(scope="session", autouse=True)
def bourse_config_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private configuration directory for the whole run, inherited by every ``bourse``
    subprocess: tests never touch ``~/.config``. It holds a server key, as an operator's does,
    so ``bourse serve`` without ``--demo`` (production) starts."""
    path = tmp_path_factory.mktemp("bourse-config")
    write_key_file(path / KEY_FILE_NAME, generate_server_key().encode())
    old = os.environ.get("BOURSE_CONFIG_DIR")
    os.environ["BOURSE_CONFIG_DIR"] = str(path)
    try:
        yield path
    finally:
        if old is None:
            os.environ.pop("BOURSE_CONFIG_DIR", None)
        else:
            os.environ["BOURSE_CONFIG_DIR"] = old


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplate:
    """The SQLite file migrated once for this session (copied by ``migrated_url``)."""
    return SqliteTemplate(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(scope="session")
def pg_pool() -> Iterator[PgPool]:
    """PostgreSQL databases for this session, cloned ahead and dropped behind the tests."""
    pool = PgPool()
    try:
        yield pool
    finally:
        pool.close()


def _heartbeats() -> set[threading.Thread]:
    """The PostgreSQL writers' heartbeat threads running now (``SqlStore.ensure_writer``)."""
    return {t for t in threading.enumerate() if t.name == "bourse-writer-heartbeat"}


def _close_writers_left(before: set[threading.Thread], test: str) -> None:
    """Close the writers whose heartbeat started during ``test`` and still runs: stores the
    test did not close (a thread's ``_target`` is its store's ``_beat`` while it runs)."""
    for beat in _heartbeats() - before:
        store = getattr(getattr(beat, "_target", None), "__self__", None)
        if isinstance(store, SqlStore):
            store.close()
            warnings.warn(
                pytest.PytestWarning(f"{test} left a PostgreSQL writer open: close its store"),
                stacklevel=1,
            )


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a database of the parametrized backend, private to this test.

    Empty, unless the test (directly or through its fixtures) uses ``migrated_url``: then it
    starts as a copy of the migrated template, which is what ``migrated_url`` returns.
    """
    migrated = "migrated_url" in request.fixturenames
    request.node.stash[_FROM_TEMPLATE] = migrated
    if request.param == "sqlite":
        path = tmp_path / "bourse.db"
        if migrated:
            request.getfixturevalue("sqlite_template").copy_to(path)
        yield f"sqlite:///{path}"
        return
    pool: PgPool = request.getfixturevalue("pg_pool")
    url = pool.migrated() if migrated else pool.empty()
    beating = _heartbeats()
    try:
        yield url
    finally:
        _close_writers_left(beating, request.node.nodeid)
        pool.release(url)


@pytest.fixture
def migrated_url(request: pytest.FixtureRequest, db_url: str) -> str:
    """``db_url`` with the schema at head (a copy of the migrated template)."""
    if not request.node.stash.get(_FROM_TEMPLATE, False):
        migrate(db_url)  # only when asked for late, through ``request.getfixturevalue``
    return db_url


@pytest.fixture
def db_engine(migrated_url: str) -> Iterator[Engine]:
    """A SQLAlchemy engine on ``migrated_url``; disposed after the test."""
    engine = make_engine(migrated_url)
    try:
        yield engine
    finally:
        engine.dispose()
