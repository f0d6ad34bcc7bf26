"""``bourse serve --workers N``: one engine and N gateway processes on one host, sharing one
listening socket (docs/scaling.md).

This process binds the socket, migrates the database, then supervises its children: a ``bourse
engine`` and N ``bourse serve --role gateway`` processes that inherit the socket (the kernel
spreads the connections over them) and send their commands to the engine over NATS. A child
that dies is started again after a second (the engine's restart recovers from the store, the
commands in flight get a retryable 503 meanwhile). SIGTERM or SIGINT stops them all. The
operator commands find the server through this process's runtime file (role ``serve``), as
with one process; the children announce themselves too, with this process as their parent, so
``bourse status`` lists them and ``bourse stop`` leaves them to it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from bourse.cli.common import console, fail
from bourse.operations.runtime import announce, withdraw
from bourse.store.db import ensure_database, make_engine, migrate

#: seconds before a dead child is started again
RESTART_S = 1.0


def run_workers(
    workers: int,
    sock_fd: int,
    url: str,
    database: str,
    home: Path,
    bus: str,
    bus_name: str,
    gateway_args: list[str],
    cpus: list[str],
) -> None:
    """Run the engine and ``workers`` gateways on ``sock_fd`` until SIGTERM/SIGINT; ``cpus``:
    each child's ``--cpu``, the engine's first."""
    db = make_engine(database)
    try:  # once, here: the children would race each other through the migrations
        ensure_database(database)
        migrate(db)
    except Exception as exc:
        raise fail(f"cannot migrate the database: {exc}") from exc
    finally:
        db.dispose()
    env = {
        **os.environ,
        "BOURSE_DATABASE_URL": database,
        "BOURSE_BUS_URL": bus,
        "BOURSE_BUS_NAME": bus_name,
        "BOURSE_PUBLIC_URL": os.environ.get("BOURSE_PUBLIC_URL", url),
    }
    bourse = [sys.executable, "-m", "bourse.cli"]
    commands: list[tuple[list[str], tuple[int, ...]]] = [
        ([*bourse, "engine", "--cpu", cpus[0]], ())
    ]
    gateway = [*bourse, "serve", "--role", "gateway", "--listen-fd", str(sock_fd), *gateway_args]
    commands += [([*gateway, "--cpu", cpus[1 + i]], (sock_fd,)) for i in range(workers)]
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    def spawn(i: int) -> subprocess.Popen[bytes]:
        argv, fds = commands[i]
        return subprocess.Popen(argv, env=env, pass_fds=fds)

    children = [spawn(i) for i in range(len(commands))]
    console.print(
        f"[bold]Workers[/]    {url}: engine pid {children[0].pid}, gateway pids "
        + " ".join(str(c.pid) for c in children[1:]),
        highlight=False,
    )
    runtime = announce(home, database, url)
    try:
        while not stop.wait(0.5):
            for i, child in enumerate(children):
                if child.poll() is not None and not stop.is_set():
                    console.print(f"worker {child.pid} exited {child.returncode}; restarting")
                    time.sleep(RESTART_S)
                    children[i] = spawn(i)
    finally:
        withdraw(runtime)
        for child in reversed(children):  # the gateways first, the engine last
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + 30
        for child in reversed(children):
            try:
                child.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(5)
