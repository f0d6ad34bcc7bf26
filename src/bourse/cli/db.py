"""``bourse migrate``, ``bourse backup`` and ``bourse restore``: the database as a whole."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from bourse.cli.common import (
    DbOption,
    JsonOption,
    console,
    db_url,
    err,
    fail,
    print_json,
    require_database,
    safe_url,
)
from bourse.cli.runner import run
from bourse.operations.home import home_for
from bourse.operations.runtime import any_process, running_server


def migrate(db: DbOption = None) -> None:
    """Create or upgrade the database schema (safe while a server runs)."""
    from bourse.store.db import ensure_database
    from bourse.store.db import migrate as run_migrations

    url = db_url(db)
    with err.status(f"migrating {safe_url(url)} ...", spinner="dots"):
        try:
            ensure_database(url)
            run_migrations(url)
        except Exception as exc:
            raise fail(f"migration failed: {exc}") from exc
    console.print(f"[green]database is up to date[/] ({safe_url(url)})")


#: seconds ``bourse backup`` waits for a running server to write the backup
BACKUP_WAIT_S = 3600.0

FileArg = Annotated[Path, typer.Argument(metavar="FILE", help="The backup file.")]


def backup(file: FileArg, db: DbOption = None, as_json: JsonOption = False) -> None:
    """Write a consistent backup of the database to FILE (0600), while the server runs or not.

    With a server running for the database, the server writes it (operation ``db.backup``);
    else the command reads the database itself. SQLite: the online backup API; PostgreSQL:
    pg_dump, one snapshot. Keep the server key (bourse.key) with it, apart."""
    url = db_url(db)
    dest = file.expanduser().resolve()
    server = running_server(home_for(url), url)
    if server is not None:
        with err.status(f"the server at {server.url} is backing up {safe_url(url)} ..."):
            res = run(db, "db.backup", {"path": str(dest)}, quiet=True, timeout=BACKUP_WAIT_S)
    else:
        from bourse.store.backup import BackupError
        from bourse.store.backup import backup as store_backup

        require_database(url)
        with err.status(f"backing up {safe_url(url)} ...", spinner="dots") as status:
            try:
                res = {"path": str(dest), **store_backup(url, dest, status.update).to_json()}
            except BackupError as exc:
                raise fail(str(exc)) from exc
    _print(as_json, res, _summary("backed up", res))


def restore(file: FileArg, db: DbOption = None, as_json: JsonOption = False) -> None:
    """Replace the database by the backup FILE (migrated to this version's schema).

    Refused while a server runs for the database (stop it first: bourse stop) and for a backup
    of a newer schema. Atomic: the restored copy replaces the database only once complete."""
    from bourse.store.backup import BackupError, head_revision
    from bourse.store.backup import restore as store_restore

    url = db_url(db)
    home = home_for(url)
    server = any_process(home, url)
    if server is not None:
        raise fail(
            f"a server runs for {safe_url(url)}: {server.label()}; stop it first with bourse stop"
        )
    with err.status(f"restoring {safe_url(url)} ...", spinner="dots") as status:
        try:
            manifest = store_restore(url, file.expanduser(), status.update)
        except BackupError as exc:
            raise fail(str(exc)) from exc
    res = {"path": str(file.expanduser().resolve()), **manifest.to_json()}
    res["database"] = safe_url(url)
    res["migrated_to"] = head_revision()
    _print(as_json, res, _summary("restored", res))


def _print(as_json: bool, res: dict[str, Any], line: str) -> None:
    if as_json:
        print_json(res)
    else:  # one line, never wrapped: paths are copied from it
        console.print(line, soft_wrap=True, highlight=False, markup=False)


def _summary(verb: str, res: dict[str, Any]) -> str:
    when = datetime.fromtimestamp(res["created_ms"] / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
    size = res["bytes"] / 1e6
    if verb == "backed up":
        return (
            f"backed up {res['database']} to {res['path']} ({res['backend']}, schema "
            f"{res['revision']}, {size:.1f} MB, {when} UTC)"
        )
    return (
        f"restored {res['database']} from {res['path']} (backup of {when} UTC, schema "
        f"{res['revision']}, now {res['migrated_to']})"
    )
