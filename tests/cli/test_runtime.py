"""Runtime files (``bourse.operations.runtime``) and what ``bourse status`` and ``bourse stop``
make of them, with stand-in processes: each is a real process that announces itself as a role
would, and on SIGTERM notes its role in a shared log, withdraws its file and exits.
``tests/scale/test_operator_cli.py`` does the same with the real engine, standby and gateway.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bourse.cli import app
from bourse.operations.runtime import RUN_DIR, database_digest, processes, running_server

#: a process announced as ROLE (STATE); with a CHILD role, it starts that one and stops it
#: when it stops (as ``bourse serve --workers`` does its gateways)
STAND_IN = """
import signal, subprocess, sys, time
from pathlib import Path
from bourse.operations.runtime import announce, withdraw
home, db, url, role, state, log, child = sys.argv[1:8]
kids = []
if child != "-":
    kids.append(subprocess.Popen([sys.executable, "-c", sys.argv[8], home, db, url, child, "",
                                  log, "-", sys.argv[8]]))
def bye(*_):
    for kid in kids:
        kid.terminate()
        kid.wait(10)
    with open(log, "a") as f:
        f.write(f"{role}:{state}\\n")
    withdraw(path)
    sys.exit(0)
signal.signal(signal.SIGTERM, bye)
path = announce(Path(home), db, url, role=role, state=state)
while True:
    time.sleep(0.1)
"""
#: seconds a stand-in may take to announce itself
START_S = 30.0


class Host:
    """A home, a database URL and the stand-ins started on them."""

    def __init__(self, tmp: Path) -> None:
        self.home = tmp / "home"
        self.db = f"sqlite:///{tmp / 'exchange.db'}"
        self.log = tmp / "stopped.log"
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, role: str, url: str = "", state: str = "", child: str = "-") -> int:
        argv = [str(self.home), self.db, url, role, state, str(self.log), child, STAND_IN]
        proc = subprocess.Popen([sys.executable, "-c", STAND_IN, *argv])
        self.procs.append(proc)
        deadline = time.monotonic() + START_S
        while proc.pid not in {p.pid for p in processes(self.home, self.db)}:
            assert proc.poll() is None and time.monotonic() < deadline, "no runtime file"
            time.sleep(0.05)
        return proc.pid

    def bourse(self, *args: str, code: int = 0) -> str:
        env = {"BOURSE_HOME": str(self.home), "BOURSE_DATABASE_URL": self.db}
        res = CliRunner().invoke(app, list(args), env=env)
        assert res.exit_code == code, (args, res.stdout, res.stderr)
        return res.stdout if code == 0 else res.stderr

    def stopped(self) -> list[str]:
        return self.log.read_text().split() if self.log.exists() else []


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    h = Host(tmp_path)
    try:
        yield h
    finally:
        for proc in h.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


def test_status_lists_every_process_and_stop_goes_front_to_back(host: Host) -> None:
    active = host.start("engine", "http://127.0.0.1:1", "active")
    standby = host.start("engine", state="standby")
    gateway = host.start("gateway", "http://127.0.0.1:2")
    follower = host.start("follower", "http://127.0.0.1:3")
    # one file per process, side by side
    folder = host.home / RUN_DIR / database_digest(host.db)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"{pid}.json" for pid in (active, standby, gateway, follower)
    )
    # the commands go to the gateway: the only process that runs operations
    server = running_server(host.home, host.db)
    assert server is not None and (server.pid, server.url) == (gateway, "http://127.0.0.1:2")
    data = json.loads(host.bourse("status", "--json"))
    assert (data["running"], data["url"], data["pid"]) == (True, "http://127.0.0.1:2", gateway)
    listed = {(p["role"], p["pid"], p["state"], p["url"]) for p in data["processes"]}
    assert listed == {
        ("engine", active, "active", "http://127.0.0.1:1"),
        ("engine", standby, "standby", None),
        ("gateway", gateway, None, "http://127.0.0.1:2"),
        ("follower", follower, None, "http://127.0.0.1:3"),
    }
    text = host.bourse("status")
    assert text.startswith(f"running at http://127.0.0.1:2 (pid {gateway})"), text
    assert str(host.home) in text.splitlines()[0], text  # one line, however long the paths
    assert all(str(pid) in text for pid in (active, standby, follower)), text

    out = host.bourse("stop")
    # the front ends first (in either order), then the standby, the active engine last
    order = host.stopped()
    assert sorted(order[:2]) == ["follower:", "gateway:"] and order[2:] == [
        "engine:standby",
        "engine:active",
    ], order
    assert f"stopped the engine (active, pid {active})" in out, out
    assert f"stopped the gateway at http://127.0.0.1:2 (pid {gateway})" in out, out
    assert not list(folder.iterdir())
    stopped = host.bourse("status")
    assert "stopped: no server runs" in stopped and stopped.count("\n") == 1, stopped
    assert json.loads(host.bourse("status", "--json"))["processes"] == []
    # stopping what is stopped is done (exit 0), as systemctl stop: one line says so
    again = host.bourse("stop")
    assert again == f"no server was running for {host.db} (home {host.home})\n", again


def test_a_serve_is_preferred_and_a_supervisor_stops_its_children(host: Host) -> None:
    """``bourse serve --workers``: the supervisor (role serve) and its gateway child share the
    URL; ``bourse stop`` signals the supervisor only, which stops the child (a child signalled
    directly would be restarted by it)."""
    url = "http://127.0.0.1:4"
    supervisor = host.start("serve", url, child="gateway")
    deadline = time.monotonic() + START_S
    while len(found := processes(host.home, host.db)) < 2:
        assert time.monotonic() < deadline, found
        time.sleep(0.05)
    child = next(p for p in found if p.role == "gateway")
    assert child.parent == supervisor
    server = running_server(host.home, host.db)
    assert server is not None and (server.role, server.pid) == ("serve", supervisor)
    out = host.bourse("stop")
    assert out.strip() == f"stopped the server at {url} (pid {supervisor})", out
    assert host.stopped() == ["gateway:", "serve:"]  # the child stopped by its supervisor
    assert processes(host.home, host.db) == []


def test_stale_files_are_ignored_and_removed_and_the_old_layout_is_read(host: Host) -> None:
    """A process killed -9 leaves its file: readers skip and remove it. A server of the previous
    version announced itself in ``run/<digest>.json``: it is still found (role serve)."""
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead_pid = int(gone.stdout)
    folder = host.home / RUN_DIR / database_digest(host.db)
    folder.mkdir(parents=True)
    stale = folder / f"{dead_pid}.json"
    stale.write_text(json.dumps({"pid": dead_pid, "role": "gateway", "url": "http://x:1",
                                 "database": host.db}))  # fmt: skip
    assert running_server(host.home, host.db) is None and not stale.exists()

    old = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    host.procs.append(old)
    legacy = host.home / RUN_DIR / f"{database_digest(host.db)}.json"
    legacy.write_text(json.dumps({"pid": old.pid, "url": "http://127.0.0.1:5",
                                  "database": host.db}))  # fmt: skip
    server = running_server(host.home, host.db)
    assert server is not None and (server.role, server.pid) == ("serve", old.pid)
    data = json.loads(host.bourse("status", "--json"))
    assert (data["url"], data["pid"]) == ("http://127.0.0.1:5", old.pid)
    host.bourse("stop")
    assert old.wait(10) == -15
    assert running_server(host.home, host.db) is None and not legacy.exists()
    assert os.listdir(folder) == []
