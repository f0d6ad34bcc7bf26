"""``bourse brokers`` commands, and the daily rebate scheduler."""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Any

import pytest
from typer.testing import CliRunner

from bourse.bootstrap import open_platform
from bourse.cli.brokers import brokers_app
from bourse.config import Config
from bourse.domain.accounts import AccountKind
from bourse.engine import commands as c
from bourse.operations.brokers import parse_rate
from bourse.services.apikeys import generate_server_key
from bourse.services.brokers.settlement import RebateScheduler, next_run

runner = CliRunner()


def _run(db: str, *args: str) -> Any:
    res = runner.invoke(brokers_app, [*args, "--db", db, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_cli_flow(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOURSE_SECRET_KEY", generate_server_key())
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    with open_platform(Config(database_url=db)) as p:
        master = p.engine.execute(c.OpenAccount(AccountKind.BROKER_MASTER)).id
        user = p.engine.execute(c.OpenAccount(AccountKind.USER)).id
        key, _ = p.apikeys.create_key(user)
    info = _run(db, "apply", str(master), "--type", "API", "--name", "Acme", "--code", "acme")
    bid = info["brokerId"]
    assert info["status"] == "PENDING"
    assert _run(db, "approve", str(bid))["status"] == "APPROVED"
    assert _run(db, "set-rate", str(bid), "25%")["ratePpm"] == 250_000
    # a time in a line says UTC, as every other the command prints
    said = runner.invoke(brokers_app, ["set-rate", str(bid), "25%", "--db", db])
    assert said.exit_code == 0 and re.fullmatch(
        rf"broker {bid} rate 250000 ppm from \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC\n", said.stdout
    ), said.stdout
    (row,) = _run(db, "list", "--status", "approved")
    assert row["ratePpm"] == 250_000 and row["code"] == "acme"
    assert _run(db, "bind", key, str(bid))["brokerId"] == bid
    res = runner.invoke(brokers_app, ["bind", key, str(bid), "--db", db])
    assert res.exit_code == 1 and "already bound" in res.output
    (k,) = _run(db, "keys", str(bid))
    listed = runner.invoke(brokers_app, ["keys", str(bid), "--db", db]).stdout
    assert "bound (UTC)" in listed and "unbound (UTC)" in listed, listed
    assert k["apiKey"] == key and "secret" not in json.dumps(k).lower()
    assert _run(db, "unbind", key)["brokerId"] == bid
    assert _run(db, "keys", str(bid)) == []
    assert _run(db, "accrue")["records"] == 0
    rep = _run(db, "settle")
    assert rep["paid"] == [] and rep["failed"] == []
    assert _run(db, "suspend", str(bid), "--reason", "test")["status"] == "SUSPENDED"
    res = runner.invoke(brokers_app, ["reject", str(bid), "--db", db])
    assert res.exit_code == 1


def test_parse_rate() -> None:
    assert parse_rate("30%") == 300_000
    assert parse_rate("0.3") == 300_000
    assert parse_rate("12.5%") == 125_000
    assert parse_rate("0.000001") == 1


def test_next_run() -> None:
    day = 86_400_000
    t0 = 1_767_225_600_000  # 2026-01-01T00:00Z
    assert next_run(t0, "00:05") == t0 + 5 * 60_000
    assert next_run(t0 + 5 * 60_000, "00:05") == t0 + day + 5 * 60_000
    assert next_run(t0 + 23 * 3_600_000, "00:00") == t0 + day
    with pytest.raises(ValueError):
        next_run(t0, "24:00")


def test_scheduler_runs_daily_and_stops_promptly() -> None:
    ran = threading.Event()
    calls: list[int] = []
    day = 86_400_000
    now = [1_767_225_600_000 + day - 50]  # 50 ms before midnight

    def job() -> None:
        calls.append(now[0])
        now[0] += day - 1  # jump to just before the next run
        ran.set()

    sched = RebateScheduler(job, at="00:00", clock=lambda: now[0], max_runs=3).start()
    assert ran.wait(10)
    deadline = time.monotonic() + 10
    while len(calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(calls) == 3
    sched.stop()
    # a scheduler waiting a whole day stops at once
    idle = RebateScheduler(lambda: None, at="00:00", clock=lambda: 1_767_225_600_001).start()
    t = time.monotonic()
    idle.stop()
    assert time.monotonic() - t < 2 and idle.runs == 0


def test_scheduler_survives_a_failing_run() -> None:
    def boom() -> None:
        raise RuntimeError("db down")

    sched = RebateScheduler(boom)
    assert sched.run_once() is None
    assert isinstance(sched.last_error, RuntimeError) and sched.runs == 1


def test_serve_refuses_a_bad_settlement_time_in_one_line(tmp_path: Any) -> None:
    from bourse.cli import app

    db = f"sqlite:///{tmp_path / 'x.db'}"
    res = runner.invoke(app, ["serve", "--settle-at", "25:00", "--port", "0", "--db", db])
    assert res.exit_code == 1
    assert "--settle-at '25:00': expected HH:MM (UTC)" in res.output
    assert "Traceback" not in res.output
