"""What every ``bourse`` sub-command shares: consoles, the ``--db``/``--json`` options, the
platform opener and the way errors end a command."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from sqlalchemy.engine import make_url

from bourse.bootstrap import open_platform as _open
from bourse.config import Config
from bourse.services.bundle import Services
from bourse.store.db import database_url

console = Console()
err = Console(stderr=True)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="BOURSE_DATABASE_URL",
        help="Database URL (sqlite:///path.db or postgresql://...); default sqlite:///.bourse/bourse.db (where scripts/run keeps it).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def db_url(db: str | None) -> str:
    return db or database_url()


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


@contextmanager
def open_platform(db: str | None, *, quiet: bool = False, **config: Any) -> Iterator[Services]:
    """Open the platform (migrating the database) with a spinner; always closed afterwards.
    ``config`` sets further ``Config`` fields."""

    url = db_url(db)
    with err.status(f"opening {safe_url(url)} ...", spinner="dots") if not quiet else _null():
        try:
            platform = _open(Config(database_url=url, **config))
        except Exception as exc:  # bad URL, database down: a message, not a traceback
            raise fail(f"cannot open {safe_url(url)}: {exc}") from exc
    try:
        yield platform
    finally:
        platform.close()


@contextmanager
def _null() -> Iterator[None]:
    yield


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url
