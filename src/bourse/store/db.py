"""Database connections and migrations.

``database_url()`` reads ``BOURSE_DATABASE_URL`` (default: a SQLite file ``.bourse/bourse.db``,
where ``scripts/run`` keeps it; its directory is created, private to the user, when missing).
``make_engine(url)`` builds a SQLAlchemy engine tuned for the store:

* SQLite: the database file and its WAL private to the user (mode 0600), WAL journal,
  ``synchronous=FULL`` (an acknowledged commit survives power loss),
  a busy timeout, foreign keys on, and real transactions (pysqlite's implicit transaction
  handling is switched off and ``BEGIN`` is emitted when SQLAlchemy begins one), usable from
  any thread;
* PostgreSQL: psycopg 3 (``postgresql://`` URLs are rewritten to ``postgresql+psycopg://``).

Every PostgreSQL session of a process says which Bourse process it is: ``application_name``
is ``bourse-serve``, ``bourse-engine``, ``bourse-gateway`` (the server commands ``identify``
their process first) or ``bourse-cli`` (any other), whatever the URL says. So
``pg_stat_activity`` shows who is connected, and ``bourse keys rotate-master`` refuses while a
server of another host is (``bourse.store.sessions``). ``make_engine`` and ``pg_connect`` are
where this package opens connections.

``migrate(url_or_engine)`` runs Alembic's ``upgrade head`` with the migrations shipped inside
the package, so no ``alembic.ini`` is needed; on a database already at head it only reads
``alembic_version`` (``head_revision``), so a process that opens the database for one command
neither waits for the write lock nor imports Alembic.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import pkgutil
import re
import sqlite3
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, MetaData, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

import bourse.store as store_pkg
from bourse.store import tables

if TYPE_CHECKING:  # imported where used: a command on a SQLite file needs neither
    import psycopg
    from alembic.config import Config

DEFAULT_URL = "sqlite:///.bourse/bourse.db"
MIGRATIONS_DIR = Path(__file__).with_name("migrations")

#: milliseconds a SQLite connection waits for a lock before failing
SQLITE_BUSY_TIMEOUT_MS = 10_000

#: ``application_name`` of a process's PostgreSQL sessions, by the role it ``identify``-ed
APPLICATION_NAMES = {
    "serve": "bourse-serve",
    "engine": "bourse-engine",
    "gateway": "bourse-gateway",
    "cli": "bourse-cli",
}
#: the processes that hold the server key while they run (``bourse serve``, ``bourse engine``
#: active or standby, ``bourse gateway``): not ``bourse-cli``, a command that ends
SERVER_APPLICATION_NAMES = frozenset(APPLICATION_NAMES[r] for r in ("serve", "engine", "gateway"))
_process = {"role": "cli"}


def identify(role: str) -> None:
    """Name this process's PostgreSQL sessions opened from now on after ``role`` (a key of
    ``APPLICATION_NAMES``); a server command calls it before it opens anything."""
    if role not in APPLICATION_NAMES:
        raise ValueError(f"unknown process role {role!r}")
    _process["role"] = role


def application_name() -> str:
    """This process's ``application_name`` (``bourse-cli`` unless it ``identify``-ed)."""
    return APPLICATION_NAMES[_process["role"]]


def pg_connect(conninfo: str, **kwargs: Any) -> psycopg.Connection[Any]:
    """A psycopg connection named after this process, ``connect_timeout`` 10 s unless given."""
    import psycopg  # here: a command on a SQLite database never loads it

    kwargs.setdefault("connect_timeout", 10)
    return psycopg.connect(conninfo, application_name=application_name(), **kwargs)


def database_url() -> str:
    """The configured database URL (``BOURSE_DATABASE_URL``, else a local SQLite file)."""
    return os.environ.get("BOURSE_DATABASE_URL") or DEFAULT_URL


def normalize_url(url: str) -> str:
    """Pick the drivers we ship with: psycopg 3 for PostgreSQL."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


def private_files(path: str) -> None:
    """Make a SQLite database file and its ``-wal`` / ``-shm`` companions mode 0600 (SQLite
    creates the companions with the database file's mode, so they stay private too)."""
    for name in (path, f"{path}-wal", f"{path}-shm", f"{path}-journal"):
        try:
            if os.stat(name).st_mode & 0o077:
                os.chmod(name, 0o600)
        except (FileNotFoundError, PermissionError):
            continue


#: SQLite connections kept open per engine (see ``make_engine``)
SQLITE_POOL_SIZE = 64


def _null(value: None) -> None:
    return value


# Python's sqlite3 (3.11) binds a None through its adaptation protocol, whose lookup on a type
# fails by building and dropping an AttributeError: ~3,000 instructions per None bound (every
# order row binds one: its broker id). With an adapter registered for None it is one dict
# lookup and this call; None still binds NULL. (Not an adapter of int, float or str: one of
# those would make sqlite3 adapt every value it binds.)
sqlite3.register_adapter(type(None), _null)


def _sqlite_on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    # Let SQLAlchemy (not pysqlite) decide where transactions begin; see the "begin" hook.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    try:
        path = cur.execute("PRAGMA database_list").fetchone()[2]
        if path:
            private_files(path)  # before WAL mode creates the companions
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = FULL")
        cur.execute("PRAGMA foreign_keys = ON")
        if path:
            private_files(path)
    finally:
        cur.close()


def _sqlite_on_begin(conn) -> None:  # type: ignore[no-untyped-def]
    # ``conn.execution_options(sqlite_begin="BEGIN IMMEDIATE")`` takes the write lock up front
    conn.exec_driver_sql(conn.get_execution_options().get("sqlite_begin", "BEGIN"))


def make_engine(
    url: str | None = None, *, lock_timeout_ms: int | None = None, **kwargs: Any
) -> Engine:
    """A SQLAlchemy engine for ``url`` (default: ``database_url()``); ``lock_timeout_ms``
    bounds every lock wait on PostgreSQL (SQLite always waits at most its busy timeout)."""
    url = normalize_url(url or database_url())
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        connect_args = dict(kwargs.pop("connect_args", None) or {})
        connect_args.setdefault("check_same_thread", False)
        connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
        path = make_url(url).database
        if path not in (None, "", ":memory:") and not path.startswith("file:"):
            Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if make_url(url).database in (None, "", ":memory:"):
            # one in-memory database shared by every thread (tests, throwaway demos)
            kwargs.setdefault("poolclass", StaticPool)
        else:
            # a connection per thread that may use one (the engine, AnyIO's 40 worker threads,
            # the schedulers), kept: SQLAlchemy's default of 5 (+10 overflow) closed and
            # reopened connections under load, running the PRAGMAs below again each time
            kwargs.setdefault("pool_size", SQLITE_POOL_SIZE)
            kwargs.setdefault("max_overflow", SQLITE_POOL_SIZE)
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    connect_args = dict(kwargs.pop("connect_args", None) or {})
    # over one in the URL's query too (connect_args win): rotate-master relies on the name
    connect_args.setdefault("application_name", application_name())
    if lock_timeout_ms:
        connect_args.setdefault("options", f"-c lock_timeout={int(lock_timeout_ms)}")
        connect_args.setdefault("connect_timeout", 10)
    return create_engine(url, connect_args=connect_args, **kwargs)


def schema_metadata() -> MetaData:
    """The whole schema: ``bourse.store.tables.metadata`` after importing every table module.

    Feature areas declare their tables in their own ``bourse.store.*tables`` module on the
    shared metadata (``broker_tables``, ``oauth_tables``, ...); this imports them all, so the
    result is what the migrations at head must create.
    """
    for mod in pkgutil.iter_modules(store_pkg.__path__):
        if mod.name.endswith("tables") and not mod.ispkg:
            importlib.import_module(f"bourse.store.{mod.name}")
    return tables.metadata


def alembic_config() -> Config:
    """An Alembic config pointing at the packaged migrations."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


#: ``pg_advisory_xact_lock`` key that serialises concurrent migrations (several workers). It
#: must differ from ``bourse.store.sql.WRITER_LOCK_KEY``: the running engine holds that one for
#: its whole life, so a second process (a follower, a CLI command) migrating with the same key
#: would wait forever.
MIGRATION_LOCK_KEY = 0x626F7572736D  # "boursm"


def ensure_database(url: str | None = None) -> bool:
    """Create the PostgreSQL database of ``url`` if the server does not have it yet (a SQLite
    file is created by its first connection). Returns whether it was created."""
    u = make_url(normalize_url(url or database_url()))
    if u.get_backend_name() != "postgresql" or not u.database:
        return False
    import psycopg
    from psycopg import sql

    admin = u.set(drivername="postgresql", database="postgres")
    libpq = admin.render_as_string(hide_password=False)
    with pg_connect(libpq, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (u.database,))
        if exists.fetchone():
            return False
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(u.database)))
        except psycopg.errors.DuplicateDatabase:  # created meanwhile by another process
            return False
    return True


def has_schema(url: str) -> bool:
    """Whether ``url`` names an existing database that holds a Bourse schema (Alembic's
    ``alembic_version`` table, at any revision), found without creating anything: no SQLite
    file or directory, no PostgreSQL database. An in-memory SQLite database never does; a
    SQLite ``file:`` URI is not looked at (True). A database that cannot be reached raises."""
    u = make_url(normalize_url(url))
    if u.get_backend_name() == "sqlite":
        return _sqlite_has_schema(u.database)
    if u.get_backend_name() != "postgresql" or not u.database:
        return True  # not ours to tell: opening it says what is wrong
    import psycopg

    libpq = u.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        conn = pg_connect(libpq)
    except psycopg.OperationalError:
        if not _pg_database_exists(u):
            return False
        raise
    with conn:
        found = conn.execute("SELECT to_regclass('alembic_version')").fetchone()
    return found is not None and found[0] is not None


def _sqlite_has_schema(path: str | None) -> bool:
    if not path or path == ":memory:":
        return False
    if path.startswith("file:"):
        return True
    if not Path(path).is_file():  # connecting would create it (and its folder)
        return False
    with contextlib.closing(sqlite3.connect(path, timeout=10)) as conn:
        found = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
        ).fetchone()
    return found is not None


def _pg_database_exists(u: URL) -> bool:
    """Whether the PostgreSQL server of URL ``u`` has its database (asked of the ``postgres``
    database; True when that cannot be asked: the caller's own error then says more)."""
    import psycopg

    admin = u.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    try:
        with pg_connect(admin, autocommit=True) as conn:
            row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (u.database,))
            return row.fetchone() is not None
    except psycopg.Error:
        return True


def psycopg_errors(*names: str) -> tuple[type[Exception], ...]:
    """psycopg's exception classes ``names`` once psycopg is loaded, else none: a process that
    never opened PostgreSQL (a command on a SQLite file) cannot meet one of them, and need not
    import psycopg to tell."""
    module = sys.modules.get("psycopg")
    return tuple(getattr(module, name) for name in names) if module is not None else ()


def migrate(url_or_engine: str | Engine | None = None, revision: str = "head") -> None:
    """Bring the database schema up to ``revision`` (default: the latest).

    Safe to call from several processes at once: the migration runs in one transaction that
    first takes the write lock (SQLite ``BEGIN IMMEDIATE``) or an advisory lock (PostgreSQL).
    For an in-memory SQLite database pass the engine, not the URL.
    """
    own = not isinstance(url_or_engine, Engine)
    engine = url_or_engine if isinstance(url_or_engine, Engine) else make_engine(url_or_engine)
    try:
        if revision == "head" and _at_head(engine):
            return  # nothing to do: no write lock, no Alembic (a tenth of a second to import)
        from alembic import command

        with (
            engine.connect().execution_options(sqlite_begin="BEGIN IMMEDIATE") as conn,
            conn.begin(),
        ):
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    finally:
        if own:
            engine.dispose()


_REVISION = re.compile(r"""^revision = ["']([^"']+)["']$""", re.M)
_DOWN_REVISION = re.compile(r"""^down_revision = (None|["']([^"']+)["'])$""", re.M)


@functools.cache
def head_revision() -> str | None:
    """The revision of the packaged migrations' head, read from each script's ``revision`` and
    ``down_revision`` lines without importing Alembic; None when that does not tell one head
    (a script of another shape, a merge, several heads): Alembic's own reading then decides."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (MIGRATIONS_DIR / "versions").glob("*.py"):
        source = script.read_text()
        rev, down = _REVISION.findall(source), _DOWN_REVISION.findall(source)
        if len(rev) != 1 or len(down) != 1:
            return None
        revisions.add(rev[0])
        if down[0][1]:
            parents.add(down[0][1])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _at_head(engine: Engine) -> bool:
    """Whether the database of ``engine`` is already at the packaged migrations' head (one
    read, no lock: a database at head stays there)."""
    head = head_revision()
    if head is None:
        return False
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    except Exception:  # no schema yet (or no table): the migration says what is wrong
        return False
    return [r[0] for r in rows] == [head]
