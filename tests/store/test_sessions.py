"""Every PostgreSQL session says which Bourse process it is (``application_name``, set by
``bourse.store.db``), and ``bourse.store.sessions.connected_servers`` finds the server-role
sessions connected to a database, by role and client address, this question's own left out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bourse.store import db as store_db
from bourse.store.db import identify, make_engine, pg_connect
from bourse.store.sessions import OTHER_CLIENTS, Connected, connected_servers, sessions_of
from tests.support.pg_pool import PgPool


@pytest.fixture
def pg_url(pg_pool: PgPool) -> Iterator[str]:
    url = pg_pool.empty()
    try:
        yield url
    finally:
        pg_pool.release(url)


@pytest.fixture
def role(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's role is given back after the test (``identify`` sets it for good)."""
    monkeypatch.setitem(store_db._process, "role", store_db._process["role"])


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _named(url: str, **kwargs: Any) -> str:
    """The ``application_name`` of a session of ``make_engine(url, **kwargs)``."""
    engine = make_engine(url, **kwargs)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SELECT current_setting('application_name')")).scalar())
    finally:
        engine.dispose()


def test_sessions_are_named_after_the_process_role(pg_url: str, role: None) -> None:
    assert _named(pg_url) == "bourse-cli"  # a command, unless a server identified itself
    for each, name in (("gateway", "bourse-gateway"), ("engine", "bourse-engine")):
        identify(each)
        assert _named(pg_url) == name
        assert _named(f"{pg_url}?application_name=mine") == name  # over the URL's own
        with pg_connect(_libpq(pg_url)) as conn:
            got = conn.execute("SELECT current_setting('application_name')").fetchone()
            assert got == (name,)
    identify("serve")
    assert _named(pg_url, lock_timeout_ms=1000) == "bourse-serve"  # with its other options
    with pytest.raises(ValueError, match="unknown process role"):
        identify("bourse-gateway")


def test_connected_servers_by_role_and_address(pg_url: str, role: None) -> None:
    assert connected_servers(pg_url) == []
    names = ["bourse-gateway", "bourse-gateway", "bourse-engine", "bourse-cli", "psql", ""]
    sessions = [psycopg.connect(_libpq(pg_url), application_name=n) for n in names]
    elsewhere = psycopg.connect(  # another database of the same server: not this one's
        _libpq(pg_url).rsplit("/", 1)[0] + "/postgres", application_name="bourse-serve"
    )
    try:
        identify("gateway")  # the question's own session is never counted, whatever its name
        assert connected_servers(pg_url) == [
            Connected("bourse-engine", "127.0.0.1", 1),
            Connected("bourse-gateway", "127.0.0.1", 2),
        ]
        assert Connected("bourse-gateway", "127.0.0.1", 2).label() == (
            "bourse-gateway from 127.0.0.1 (2 sessions)"
        )
        with pg_connect(_libpq(pg_url)) as conn:  # every session, as a restore counts them
            found = sessions_of(conn)  # an autovacuum worker may visit too: not a client
            assert [c for c in found if not c.client.startswith("the database server")] == [
                Connected("bourse-cli", "127.0.0.1", 1),
                Connected("bourse-engine", "127.0.0.1", 1),
                Connected("bourse-gateway", "127.0.0.1", 2),
                Connected(OTHER_CLIENTS, "127.0.0.1", 2, ("psql",)),  # "" is no name
            ]
        assert Connected(OTHER_CLIENTS, "a local socket", 3, ("a", "psql")).label() == (
            "other clients from a local socket (a, psql; 3 sessions)"
        )
    finally:
        for conn in [*sessions, elsewhere]:
            conn.close()


def test_connected_servers_on_sqlite_is_nothing(tmp_path: Path) -> None:
    assert connected_servers(f"sqlite:///{tmp_path}/bourse.db") == []
