"""``bourse status`` and ``bourse stop``: is a server running for the database, and stop it.

Both read the runtime file the server keeps in ``$BOURSE_HOME`` (``bourse.operations.home``);
neither opens the database.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Annotated

import typer

from bourse.cli.common import DbOption, JsonOption, console, db_url, fail, out, safe_url
from bourse.operations.home import RunningServer, home_for, running_server

#: seconds ``bourse stop`` waits for the server to finish its work and exit
STOP_S = 30.0


def status_cmd(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Say whether a server runs for the database (its URL and pid) and where its home is."""
    url = db_url(db)
    home = home_for(url)
    server = running_server(home, url)
    data = {
        "running": server is not None,
        "url": server.url if server else None,
        "pid": server.pid if server else None,
        "database": safe_url(url),
        "home": str(home),
    }
    text = (
        f"[green]running[/] at {server.url} (pid {server.pid}); database {safe_url(url)}; "
        f"home {home}"
        if server
        else f"[yellow]stopped[/]: no server runs for {safe_url(url)} (home {home})"
    )
    out(as_json, data, text)


def stop_cmd(
    db: DbOption = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for it to exit.")] = STOP_S,
) -> None:
    """Stop the server running for the database (SIGTERM: it finishes queued work first)."""
    url = db_url(db)
    home = home_for(url)
    server = running_server(home, url)
    if server is None:
        raise fail(f"no server runs for {safe_url(url)} (home {home})")
    try:
        os.kill(server.pid, signal.SIGTERM)
    except OSError as exc:
        raise fail(f"cannot stop pid {server.pid}: {exc}") from exc
    deadline = time.monotonic() + wait
    while _running(server) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _running(server):
        raise fail(f"the server (pid {server.pid}) is still running after {wait:g} s")
    console.print(f"[green]stopped[/] the server at {server.url} (pid {server.pid})")


def _running(server: RunningServer) -> bool:
    """The process has not exited (the database's writer lock goes with it)."""
    return server.alive()
