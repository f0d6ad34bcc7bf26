"""A second ``bourse serve`` on a database that a server already runs for ends in one line
before it seeds or serves: the announced server when its home says so, else the writer lock
held by an engine of another home (or host). The first server goes on, untouched. And the
sandbox commands say what is wrong: no server runs (stopped), or it is not a demo (running).
On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.pg_pool import PgPool
from tests.support.served import Served

#: seconds a refused ``bourse serve`` may take (it opens the database, then stops)
REFUSED_S = 60.0


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def first(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """A running (production) server on its database."""
    pg: PgPool | None = None
    root = tmp_path_factory.mktemp(f"second-{request.param}")
    home = root / ".bourse"
    home.mkdir()
    if request.param == "postgresql":
        pg = request.getfixturevalue("pg_pool")
        url = pg.empty()
    else:
        url = f"sqlite:///{home / 'bourse.db'}"
    served = Served(url, home)
    served.start()
    try:
        yield served
    finally:
        served.stop()
        if pg is not None:
            pg.release(url)


def second(first: Served, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``bourse serve --demo`` on the first server's database, in a process of its own."""
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "bourse.cli", "serve", "--demo", "--port", "0"],
        env={**first.env(**env), "PYTHONUNBUFFERED": "1"},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=REFUSED_S,
    )
    assert time.monotonic() - t0 < REFUSED_S
    assert proc.returncode == 1, proc
    assert proc.stdout == "", proc.stdout  # no banner
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr and "batch" not in proc.stderr, proc.stderr
    return proc


def _accounts(first: Served) -> list[dict[str, object]]:
    return json.loads(first.cli("accounts", "list", "--json"))  # type: ignore[no-any-return]


def test_second_server_of_the_same_home_names_the_first(first: Served, tmp_path: Path) -> None:
    before = _accounts(first)
    assert first.server is not None
    err = second(first, tmp_path).stderr
    assert "a server runs for" in err and "stop it first" in err, err
    assert f"at {first.base} (pid {first.server.proc.pid})" in err, err
    assert _accounts(first) == before  # not seeded


def test_second_server_of_another_home_meets_the_writer_lock(first: Served, tmp_path: Path) -> None:
    """Nothing announced in its home: the writer lock refuses it, before the demo's seed."""
    before = _accounts(first)
    err = second(first, tmp_path, BOURSE_HOME=str(tmp_path / "elsewhere")).stderr
    assert "another Bourse engine is writing this database" in err, err
    assert _accounts(first) == before  # not seeded
    first.cli("accounts", "open")  # the first server still writes
    assert len(_accounts(first)) == len(before) + 1


def test_sandbox_of_a_running_server_outside_demo_mode(first: Served) -> None:
    err = first.cli("sandbox", "faucet", "100", "USDT", "1", code=1)
    assert "only in demo mode" in err and err.count("\n") == 1, err


def test_sandbox_with_no_server_says_so(tmp_path: Path) -> None:
    """On the demo's database once its server stopped: no sandbox runs, whatever the mode."""
    home = tmp_path / ".bourse"
    home.mkdir()
    demo = Served(f"sqlite:///{home / 'bourse.db'}", home)
    demo.start("--demo")
    try:
        assert "Market maker" in demo.cli("sandbox", "status")
    finally:
        demo.stop()
    for args in (("faucet", "100", "BTC", "0.1"), ("status",)):
        err = demo.cli("sandbox", *args, code=1)
        assert err.count("\n") == 1, err
        assert f"no server runs for {demo.url}" in err, err
        assert "`bourse serve --demo` (scripts/run)" in err and "demo mode" not in err, err
