"""``bourse migrate``: create or upgrade the database schema."""

from __future__ import annotations

from bourse.cli.common import DbOption, console, db_url, err, fail, safe_url
from bourse.store.db import ensure_database
from bourse.store.db import migrate as run_migrations


def migrate(db: DbOption = None) -> None:
    """Create or upgrade the database schema (safe while a server runs)."""
    url = db_url(db)
    with err.status(f"migrating {safe_url(url)} ...", spinner="dots"):
        try:
            ensure_database(url)
            run_migrations(url)
        except Exception as exc:
            raise fail(f"migration failed: {exc}") from exc
    console.print(f"[green]database is up to date[/] ({safe_url(url)})")
