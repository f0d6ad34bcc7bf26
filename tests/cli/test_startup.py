"""The ``bourse`` command starts light: ``--help``, ``status`` and a command that a running
server serves never import SQLAlchemy, Alembic, psycopg, uvicorn, NATS or the platform; the
same command with the server stopped opens the database itself (SQLAlchemy, the platform), and
still imports nothing that only a server, a bus, PostgreSQL or a migration needs.

Structural, not timed: each command runs in a fresh interpreter that then lists which of those
modules it holds (``bourse.cli``'s start-up comment says why they wait).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bourse.operations.runtime import running_server
from tests.support.served import Served

#: what opening a SQLite database for one command needs: nothing else of ``SERVER_ONLY``
DIRECT = ["bourse.bootstrap", "sqlalchemy"]
#: what only serving (HTTP, WebSocket, metrics), the bus, PostgreSQL or a migration needs; and
#: httpx, whose import brings its own command line's (click, pygments): a command talks to a
#: running server with the standard library's client
SERVER_ONLY = (
    "httpx",
    "alembic",
    "psycopg",
    "uvicorn",
    "granian",
    "starlette",
    "google.protobuf",
    "prometheus_client",
    "nats",
    "aiohttp",
    "bourse.app",
    "bourse.api",
    "bourse.web",
)
HEAVY = (*DIRECT, *SERVER_ONLY)
#: runs ``bourse ARGV`` in this interpreter, then prints the heavy modules it holds, last
PROBE = f"""
import json, sys
from bourse.cli import app
try:
    app(sys.argv[1:], prog_name="bourse")
    code = 0
except SystemExit as exc:
    code = exc.code
held = sorted(m for m in {HEAVY!r} if m in sys.modules)
print(json.dumps({{"code": code, "held": held}}), file=sys.stderr)
"""
#: seconds a probed command may take
COMMAND_S = 60.0


@dataclass
class Probed:
    code: int
    held: list[str]
    stdout: str
    stderr: str


class Home(Served):
    def probe(self, *args: str) -> Probed:
        proc = subprocess.run(
            [sys.executable, "-c", PROBE, *args],
            env=self.env(),
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=COMMAND_S,
        )
        last = json.loads(proc.stderr.strip().splitlines()[-1])
        return Probed(last["code"], last["held"], proc.stdout, proc.stderr)


@pytest.fixture
def home(tmp_path: Path) -> Home:
    home = tmp_path / ".bourse"
    home.mkdir()
    return Home(f"sqlite:///{home / 'bourse.db'}", home)


def test_help_and_status_of_a_stopped_server_import_nothing_heavy(home: Home) -> None:
    helped = home.probe("--help")
    assert (helped.code, helped.held) == (0, [])
    assert "accounts" in helped.stdout
    status = home.probe("status", "--json")
    assert (status.code, status.held) == (0, [])
    assert json.loads(status.stdout)["running"] is False


def test_a_command_served_by_a_running_server_imports_nothing_heavy(home: Home) -> None:
    home.start()
    try:
        opened = home.probe("accounts", "open", "--name", "remote", "--json")
        assert (opened.code, opened.held) == (0, [])
        listed = home.probe("accounts", "list", "--json")
        assert (listed.code, listed.held) == (0, [])
        assert [a["name"] for a in json.loads(listed.stdout)] == ["remote"]
        status = home.probe("status", "--json")
        assert (status.code, status.held) == (0, [])
        assert json.loads(status.stdout)["running"] is True
    finally:
        home.stop()
    assert running_server(home.home, home.url) is None
    # the server stopped: the same command opens the database itself, and the probe sees it
    direct = home.probe("accounts", "list", "--json")
    assert (direct.code, direct.held) == (0, DIRECT)
    assert [a["name"] for a in json.loads(direct.stdout)] == ["remote"]


def test_a_command_on_a_stopped_server_imports_nothing_only_a_server_needs(home: Home) -> None:
    """A read and a write on the database itself (migrated at head, so no Alembic): only the
    platform and SQLAlchemy, and the write is there for the next command to read."""
    home.start()  # creates and migrates the database, as a first `scripts/run` does
    home.stop()
    opened = home.probe("accounts", "open", "--name", "direct", "--json")
    assert (opened.code, opened.held) == (0, DIRECT)
    account = json.loads(opened.stdout)["account"]
    paid = home.probe("deposit", str(account), "USDT", "7", "--json")
    assert (paid.code, paid.held) == (0, DIRECT)
    shown = home.probe("accounts", "show", str(account), "--json")
    assert (shown.code, shown.held) == (0, DIRECT)
    balances = {b["asset"]: b["free"] for b in json.loads(shown.stdout)["balances"]}
    assert balances["USDT"] == "7"


def test_serve_on_a_taken_port_says_so_before_importing_the_platform(home: Home) -> None:
    """The port is bound before the platform's modules load (seconds on a small machine), so a
    taken one is refused at once, in one line that says how to pick another."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        served = home.probe("serve", "--demo", "--port", str(port))
    assert (served.code, served.held) == (1, [])
    (line,) = [x for x in served.stderr.splitlines() if x.startswith("error:")]
    assert line.startswith(f"error: cannot listen on 127.0.0.1:{port}: ")
    assert line.endswith(" (use --port N)"), line
    assert not (home.home / "bourse.db").exists()  # nothing created either


def test_serve_on_the_port_of_its_own_running_server_says_it_runs(home: Home) -> None:
    """The taken port is this database's own server's: not "use another port" (a second
    server on the same data), but that it already runs, and how to stop it."""
    home.start()
    try:
        running = running_server(home.home, home.url)
        assert running is not None
        port = str(urlsplit(running.url).port)
        served = home.probe("serve", "--port", port)
    finally:
        home.stop()
    assert (served.code, served.held) == (1, [])
    (line,) = [x for x in served.stderr.splitlines() if x.startswith("error:")]
    assert line.startswith(f"error: cannot listen on 127.0.0.1:{port}: the server of ")
    assert f"already runs at {running.url} (pid {running.pid})" in line, line
    assert line.endswith("stop it first with bourse stop") and "--port" not in line, line


def test_chain_deposit_to_a_named_server_imports_nothing_heavy(home: Home) -> None:
    """``chain-deposit`` is an HTTP request to the demo: it answers (here: cannot reach the
    server) without loading the platform (``bourse.sandbox.demo``, seconds on a small
    machine)."""
    sent = home.probe(
        "chain-deposit", "USDT", "1", "--account", "999", "--url", "http://127.0.0.1:9"
    )
    assert (sent.code, [m for m in sent.held if m != "httpx"]) == (1, [])  # its own client
    assert "error: cannot reach http://127.0.0.1:9" in sent.stderr
