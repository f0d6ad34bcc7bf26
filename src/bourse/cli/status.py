"""``bourse status``: which processes run for the database on this host, and where its home is.

It reads the runtime files the processes keep in ``$BOURSE_HOME`` (``operations.runtime``)
and never opens the database. The first line names the process the ``bourse`` commands talk
to (a ``bourse serve``, else a gateway); with more than one process a table lists them all.
"""

from __future__ import annotations

from bourse.cli.common import DbOption, JsonOption, console, db_url, print_json, safe_url, table
from bourse.operations.home import home_for
from bourse.operations.runtime import RunningServer, processes, running_server


def status_cmd(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Say which processes run for the database (a server, gateways, engines: role, pid, URL)
    and where its home is."""
    url = db_url(db)
    home = home_for(url)
    found = processes(home, url)
    server = running_server(home, url)
    if as_json:
        print_json(
            {
                "running": bool(found),
                "url": server.url if server else None,
                "pid": server.pid if server else None,
                "database": safe_url(url),
                "home": str(home),
                "processes": [p.to_json() for p in found],
            }
        )
        return
    where = f"database {safe_url(url)}; home {home}"
    # soft_wrap: one line however long the paths (piped output is not wrapped at 80 columns)
    if server is not None:
        console.print(
            f"[green]running[/] at {server.url} (pid {server.pid}); {where}", soft_wrap=True
        )
    elif found:
        console.print(
            f"[green]running[/]: no server takes operations (engines only); {where}", soft_wrap=True
        )
    else:
        console.print(
            f"[yellow]stopped[/]: no server runs for {safe_url(url)} (home {home})", soft_wrap=True
        )
    if len(found) > 1:
        table("", ["role", "pid", "state", "url"], [_row(p) for p in found], keep=["url"])


def _row(p: RunningServer) -> list[str]:
    return [p.role, str(p.pid), p.state or "-", p.url or "-"]
