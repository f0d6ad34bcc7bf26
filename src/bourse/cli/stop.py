"""``bourse stop``: stop every process announced for the database on this host.

SIGTERM, in an order that loses no command: the gateways and followers first (they stop taking
requests), then the standby engines (so none takes over), then the writers (the active engine,
``bourse serve``), which finish the work queued. Each stage waits, bounded, for its processes
to exit before the next one starts. A process started by another announced one (the children
of ``bourse serve --workers``) is left to its supervisor, which stops it. One line per
process stopped, one per failure (exit 1). With none running, what it is for is already so:
one line says that no server was running, exit 0 (as ``systemctl stop`` does).
"""

from __future__ import annotations

import os
import signal
import time
from typing import Annotated

import typer

from bourse.cli.common import DbOption, console, db_url, err, safe_url
from bourse.operations.home import home_for
from bourse.operations.runtime import RunningServer, processes

#: seconds ``bourse stop`` waits for each stage to finish its work and exit
STOP_S = 30.0


def stage(p: RunningServer) -> int:
    """When ``p`` stops: 0 front ends, 1 standby engines, 2 writers."""
    if p.role in ("gateway", "follower"):
        return 0
    return 1 if p.role == "engine" and p.state != "active" else 2


def stop_cmd(
    db: DbOption = None,
    wait: Annotated[
        float, typer.Option(help="Seconds to wait for each stage (gateways, standbys, writers).")
    ] = STOP_S,
) -> None:
    """Stop every process running for the database on this host (SIGTERM; gateways first, the
    active engine last, each finishing its queued work)."""
    url = db_url(db)
    home = home_for(url)
    found = processes(home, url)
    if not found:
        console.print(
            f"no server was running for {safe_url(url)} (home {home})",
            highlight=False,
            soft_wrap=True,  # one line, however long the paths
        )
        return
    pids = {p.pid for p in found}
    ours = [p for p in found if p.parent not in pids]  # the others stop with their supervisor
    failed = 0
    for n in range(3):
        failed += _stop([p for p in ours if stage(p) == n], wait)
    if failed:
        raise typer.Exit(1)


def _stop(group: list[RunningServer], wait: float) -> int:
    """SIGTERM every process of ``group``, wait for them; the number that did not stop."""
    sent = []
    failed = 0
    for p in group:
        try:
            os.kill(p.pid, signal.SIGTERM)
            sent.append(p)
        except ProcessLookupError:  # gone meanwhile: stopped
            console.print(f"[green]stopped[/] {p.label()}", highlight=False)
        except OSError as exc:
            err.print(f"[bold red]error:[/] cannot stop {p.label()}: {exc}", highlight=False)
            failed += 1
    deadline = time.monotonic() + wait
    while any(p.alive() for p in sent) and time.monotonic() < deadline:
        time.sleep(0.1)
    for p in sent:
        if p.alive():
            err.print(
                f"[bold red]error:[/] {p.label()} is still running after {wait:g} s",
                highlight=False,
            )
            failed += 1
        else:
            console.print(f"[green]stopped[/] {p.label()}", highlight=False)
    return failed
