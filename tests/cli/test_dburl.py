"""``bourse.operations.dburl`` reads database URLs as SQLAlchemy does: the same password-free
text, the same SQLite directory and the same runtime-file name for every URL, plain ones read
without SQLAlchemy and the others handed to it."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bourse.cli.common import DEFAULT_URL
from bourse.operations import dburl
from bourse.services.serverkey import data_dir
from bourse.store import db as store_db

PLAIN = [
    "sqlite:///.bourse/bourse.db",
    "sqlite:////tmp/x/bourse.db",
    "sqlite:///rel/a dir+more/b.db",
    "sqlite://",
    "sqlite+pysqlite:///a.db",
    "postgresql://bourse:secret@127.0.0.1:5432/bourse",
    "postgresql://127.0.0.1/db",
    "postgres://u@h/d",
    "postgresql+psycopg2://u:p@h:1/d",
    "postgresql+psycopg://:p@h/d",
    "postgresql://u:p@[::1]:5432/d",
    "mysql://u@h/d",
]
OTHER = [
    "sqlite:///:memory:",
    "sqlite:///file:x.db?mode=ro&uri=true",
    "postgresql+psycopg://u:p%40x@h/d",
    "postgresql://u@/d?host=/var/run/postgresql",
    "postgresql://\u00fc:p@h/d",
    "postgresql://u:p@w@h/d",
    "sqlite:////tmp/\u00fcn\u00ef/b.db",
]


def sqlalchemy_identity(url: str) -> str:
    """What ``runtime.database_digest`` hashed before it read URLs itself."""
    u = make_url(store_db.normalize_url(url))
    if data_dir(url) is not None:
        u = u.set(database=str(Path(str(u.database)).resolve()))
    return u.render_as_string(hide_password=True)


@pytest.mark.parametrize("url", PLAIN + OTHER)
def test_the_same_answers_as_sqlalchemy(url: str) -> None:
    assert (dburl.parse(url) is not None) == (url in PLAIN)
    assert dburl.safe_url(url) == make_url(url).render_as_string(hide_password=True)
    assert dburl.data_dir(url) == data_dir(url)
    assert dburl.identity(url) == sqlalchemy_identity(url)
    assert "secret" not in dburl.safe_url(url)


def test_not_a_url_is_shown_as_it_is() -> None:
    assert dburl.parse("not a url") is None
    assert dburl.safe_url("not a url") == "not a url"


def test_the_command_defaults_to_the_stores_default_database() -> None:
    assert DEFAULT_URL == store_db.DEFAULT_URL
