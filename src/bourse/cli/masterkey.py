"""``bourse keys new-master FILE`` and ``bourse keys rotate-master``: the server key that
encrypts API and TOTP secrets at rest (``bourse.services.serverkey``).

``rotate-master`` works on a stopped server's database. A running server keeps the key in
memory and would go on encrypting under the old one, so the command refuses in one line when a
server announces itself for the database (``$BOURSE_HOME/run``), when on PostgreSQL a server's
session is connected to it (``bourse.store.sessions``: a gateway, a standby, a server of another
host or home), or when a server holds its writer lock; it holds that lock itself for the whole
rotation, so no server starts writing meanwhile. A gateway takes no writer lock, so the
sessions are asked again inside the re-encryption transaction, last: one connected meanwhile
rolls it back and the command refuses the same way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from bourse.cli.common import (
    DbOption,
    console,
    db_url,
    fail,
    first_line,
    require_database,
    safe_url,
)
from bourse.cli.runner import actor
from bourse.operations.home import home_for
from bourse.operations.runtime import any_process


def new_master(
    path: Annotated[Path, typer.Argument(help="The key file to create (mode 0600).")],
) -> None:
    """Create a new server key file (for BOURSE_SECRET_KEY_FILE); never overwrites one."""
    from cryptography.fernet import Fernet

    from bourse.services.serverkey import write_key_file

    try:
        write_key_file(path, Fernet.generate_key())
    except FileExistsError:
        raise fail(f"{path} exists already: a server key is never overwritten") from None
    except OSError as exc:
        raise fail(f"cannot write {path}: {exc.strerror}") from exc
    console.print(
        f"[green]server key written[/] to {path} (mode 0600); keep it apart from the data",
        soft_wrap=True,
    )


def rotate_master(
    db: DbOption = None,
    new_key_file: Annotated[
        Path | None,
        typer.Option(
            "--new-key-file",
            help="Where to write the new key when the current one comes from BOURSE_SECRET_KEY.",
        ),
    ] = None,
) -> None:
    """Re-encrypt every API and TOTP secret under a new server key, atomically. The server
    must be stopped (a running one makes this refuse)."""
    from bourse.engine.clock import now_ms
    from bourse.services.serverkey import (
        KEY_FILE_NAME,
        ServerKeyError,
        config_dir,
        data_dir,
        load_server_keys,
        rotate,
    )
    from bourse.store.db import make_engine, migrate
    from bourse.store.repositories.audit import AuditLog
    from bourse.store.sql import SqlStore, StoreLocked

    url = db_url(db)
    server = any_process(home_for(url), url)
    if server is not None:  # its key is in memory: re-encrypting under it would lose secrets
        raise fail(
            f"{server.label()} runs for this database: stop it (bourse stop), then run "
            "`bourse keys rotate-master` again"
        )
    require_database(url)
    _refuse_connected_servers(url)
    try:
        keys = load_server_keys(None, None, url)
    except ServerKeyError as exc:
        raise fail(str(exc)) from exc
    if new_key_file is not None and new_key_file.resolve().parent == data_dir(url):
        raise fail(f"{new_key_file} is in the database's directory: keep the key apart from it")
    # a key from before keys moved out of the data directory: rotate to the default key file
    legacy = None
    if keys.path is not None and keys.path.parent == data_dir(url):
        legacy = None if os.environ.get("BOURSE_SECRET_KEY_FILE") else keys.path
    if legacy is not None and new_key_file is None:
        new_key_file = config_dir() / KEY_FILE_NAME
    engine = make_engine(url)
    store = SqlStore(engine)
    try:
        migrate(engine)
        try:
            store.ensure_writer()  # held until close: no server can start writing meanwhile
        except StoreLocked:
            raise fail(
                "a running server writes this database: stop it, then run "
                "`bourse keys rotate-master` again"
            ) from None
        try:
            done = rotate(
                engine, keys, new_key_file, before_commit=lambda: _refuse_connected_servers(url)
            )
        except ServerKeyError as exc:
            raise fail(str(exc)) from exc
        if legacy is not None:
            legacy.unlink()  # every secret is under the new key now
        AuditLog(engine).record(  # in the operator audit trail (`bourse audit`)
            time=now_ms(),
            actor=f"local ({actor()})",
            source="local",
            operation="keys.rotate-master",
            params={},
            outcome="ok",
            detail=f"{done.api_secrets} API and {done.totp_secrets} TOTP secrets re-encrypted",
        )
    finally:
        store.close()
        engine.dispose()
    console.print(
        f"re-encrypted {done.api_secrets} API and {done.totp_secrets} TOTP secrets of "
        f"{safe_url(url)} under the new server key in {done.path}"
        + (f"; {done.unreadable} were unreadable already" if done.unreadable else "")
        + ("; now set BOURSE_SECRET_KEY_FILE to it" if keys.path is None else "")
        + (f" (the old key beside the database, {legacy}, is deleted)" if legacy else ""),
        highlight=False,
        soft_wrap=True,
    )


def _refuse_connected_servers(url: str) -> None:
    """End the command in one line if a Bourse server of any host is connected to the
    PostgreSQL database of ``url`` (the local checks cannot see one of another host)."""
    from bourse.store.sessions import connected_servers

    try:
        found = connected_servers(url)
    except Exception as exc:  # down, or slower than the bound: nothing is done yet
        raise fail(
            f"cannot tell which servers are connected to {safe_url(url)}: {first_line(exc)}"
        ) from exc
    if found:
        raise fail(
            f"Bourse servers are connected to {safe_url(url)}: "
            + ", ".join(each.label() for each in found)
            + "; stop them (on every host), then run `bourse keys rotate-master` again"
        )
