"""Database URLs read without SQLAlchemy, for the ``bourse`` command's start-up.

Every command reads a URL before anything else (which ``$BOURSE_HOME``, which runtime file,
what to print); importing SQLAlchemy for that costs more than a command served by a running
server does in all. ``parse`` reads a URL as ``sqlalchemy.engine.make_url`` does (its pattern)
when every part is plain: no query string, no ``%`` escape and nothing that SQLAlchemy would
quote when it renders the URL again. Then ``render`` gives SQLAlchemy's ``render_as_string``
to the letter, whatever its version; any other URL goes to SQLAlchemy itself.
``tests/cli/test_dburl.py`` holds the two to the same answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

#: ``sqlalchemy.engine.url._parse_url``'s pattern
_URL = re.compile(
    r"""
        (?P<name>[\w\+]+)://
        (?:
            (?P<username>[^:/]*)
            (?::(?P<password>[^@]*))?
        @)?
        (?:
            (?:
                \[(?P<ipv6host>[^/\?]+)\] |
                (?P<ipv4host>[^/:\?]+)
            )?
            (?::(?P<port>[^/\?]*))?
        )?
        (?:/(?P<database>[^\?]*))?
        (?:\?(?P<query>.*))?
        """,
    re.X,
)
#: what SQLAlchemy renders as it is (``urllib.parse.quote``'s safe characters, with " +")
_PLAIN = re.compile(r"[A-Za-z0-9_.\-~ +]*")
_PLAIN_PATH = re.compile(r"[A-Za-z0-9_.\-~ +/]*")
#: the drivers ``bourse.store.db.normalize_url`` replaces by psycopg 3
_PSYCOPG = ("postgresql", "postgres", "postgresql+psycopg2")


@dataclass(frozen=True, slots=True)
class DbUrl:
    drivername: str
    username: str | None
    password: str | None
    host: str | None
    port: int | None
    database: str | None

    @property
    def backend(self) -> str:
        return self.drivername.split("+", 1)[0]

    def render(self, hide_password: bool = True) -> str:
        """The URL as ``URL.render_as_string`` writes it."""
        s = self.drivername + "://"
        if self.username is not None:
            s += self.username
            if self.password is not None:
                s += ":" + ("***" if hide_password else self.password)
            s += "@"
        if self.host is not None:
            s += f"[{self.host}]" if ":" in self.host else self.host
        if self.port is not None:
            s += f":{self.port}"
        if self.database is not None:
            s += "/" + self.database
        return s

    def normalized(self) -> DbUrl:
        """With the driver ``bourse.store.db.normalize_url`` picks (psycopg 3)."""
        if self.drivername in _PSYCOPG:
            return replace(self, drivername="postgresql+psycopg")
        return self

    def sqlite_file(self) -> str | None:
        """The path of a SQLite database file (None: another database, memory, a URI)."""
        path = self.database
        if self.backend != "sqlite" or not path or path == ":memory:":
            return None
        return None if path.startswith("file:") else path


def parse(url: str) -> DbUrl | None:
    """``url``'s parts when it is plain (see the module docstring), else None."""
    m = _URL.match(url)
    if m is None or m["query"] is not None or "%" in url:
        return None
    port = m["port"]
    if port is not None and not port.isdigit():
        return None
    if port == "":
        return None
    plain = (m["username"], m["ipv4host"])
    if any(p is not None and not _PLAIN.fullmatch(p) for p in plain):
        return None
    if m["database"] is not None and not _PLAIN_PATH.fullmatch(m["database"]):
        return None
    if m["password"] is not None and not _PLAIN.fullmatch(m["password"]):
        return None
    return DbUrl(
        m["name"],
        m["username"],
        m["password"],
        m["ipv4host"] or m["ipv6host"],
        int(port) if port else None,
        m["database"],
    )


def safe_url(url: str) -> str:
    """The URL without its password, for messages (``url`` itself when it is no URL)."""
    u = parse(url)
    if u is not None:
        return u.render(hide_password=True)
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def sqlite_file(url: str) -> str | None:
    """The path of the SQLite database file ``url`` names, else None (see ``DbUrl``)."""
    u = parse(url)
    if u is not None:
        return u.sqlite_file()
    from sqlalchemy.engine import make_url

    s = make_url(url)
    return DbUrl(s.drivername, None, None, None, None, s.database).sqlite_file()


def data_dir(url: str) -> Path | None:
    """``bourse.services.serverkey.data_dir``: the directory of a SQLite database file."""
    path = sqlite_file(url)
    return Path(path).resolve().parent if path is not None else None


def identity(url: str) -> str:
    """What names a database in ``$BOURSE_HOME/run``: the normalized URL without its password,
    a SQLite file by its absolute path (the text ``runtime.database_digest`` always hashed)."""
    u = parse(url)
    if u is not None:
        u = u.normalized()
        path = u.sqlite_file()
        if path is not None:
            u = replace(u, database=str(Path(path).resolve()))
            if parse(u.render(hide_password=False)) is not None:  # still plain
                return u.render(hide_password=True)
    from sqlalchemy.engine import make_url

    from bourse.store.db import normalize_url

    s = make_url(normalize_url(url))
    if data_dir(url) is not None:
        s = s.set(database=str(Path(str(s.database)).resolve()))
    return s.render_as_string(hide_password=True)
