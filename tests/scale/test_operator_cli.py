"""The operator's ``bourse`` commands on a split exchange: with an engine, its standby and a
gateway running on one host and one ``BOURSE_HOME``, ``bourse status`` lists the three, an
operation command runs through the gateway's operator API (the engine holds the writer lock:
on the database directly it could not write), and ``bourse stop`` stops them all, the gateway
first and the active engine last."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.faults.serve import World, bourse_check
from tests.scale.topology import STANDBY, Topology, logs

pytestmark = pytest.mark.slow

#: seconds a ``bourse`` command may take (``bourse stop``: three stages, each bounded by 30 s)
COMMAND_S = 120


def bourse(world: World, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "bourse.cli", *args],
        env={**world.env(), "COLUMNS": "200"},
        cwd=world.home.parent,
        capture_output=True,
        text=True,
        timeout=COMMAND_S,
    )
    assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc.stdout


def bourse_json(world: World, *args: str) -> Any:
    return json.loads(bourse(world, *args, "--json"))


def test_status_operations_and_stop_of_engine_standby_and_gateway(
    topology: Topology, world: World
) -> None:
    active = topology.engine(args=("--health-port", "0"))
    standby = topology.engine(wait=STANDBY)
    gateway, url = topology.gateway()
    procs = (active, standby, gateway)

    status = bourse_json(world, "status")
    assert (status["running"], status["url"], status["pid"]) == (True, url, gateway.proc.pid)
    listed = {p["pid"]: (p["role"], p["state"]) for p in status["processes"]}
    assert listed == {
        active.proc.pid: ("engine", "active"),
        standby.proc.pid: ("engine", "standby"),
        gateway.proc.pid: ("gateway", None),
    }, logs(*procs)
    health = next(p["url"] for p in status["processes"] if p["pid"] == active.proc.pid)
    assert health.startswith("http://127.0.0.1:") and health in active.log()
    text = bourse(world, "status")
    assert text.startswith(f"running at {url} (pid {gateway.proc.pid})"), text
    assert "standby" in text and "active" in text, text

    # through the gateway's operator API, written by the engine
    opened = bourse_json(world, "accounts", "open", "--name", "split")
    credited = bourse_json(world, "deposit", str(opened["account"]), "USDT", "7")
    assert (credited["credited"], credited["available"]) == (True, "7"), credited
    shown = bourse_json(world, "accounts", "show", str(opened["account"]))
    assert any(b["asset"] == "USDT" and b["free"] == "7" for b in shown["balances"]), shown
    last = bourse_json(world, "audit", "--limit", "1", "--actions-only")[0]
    assert last["operation"] == "accounts.deposit" and last["source"] != "local", last

    out = bourse(world, "stop")
    lines = out.strip().splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        f"stopped the gateway at {url}",
        "stopped the engine",
        "stopped the engine",
    ], out
    assert "(standby, " in lines[1] and "(active, " in lines[2], out
    assert not any(p.alive for p in procs), logs(*procs)
    assert bourse(world, "status").startswith("stopped: no server runs"), logs(*procs)
    assert bourse_json(world, "status")["processes"] == []
    code, report = bourse_check(world)
    assert code == 0, report
