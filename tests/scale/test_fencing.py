"""Fencing: the active engine whose PostgreSQL session (and with it the writer lock) is killed
while a standby waits stops taking commands at once and exits 1; the standby takes the
lock and gets every command the fenced engine did not commit: each applied once, none refused
as "engine unavailable" by an engine that can no longer write."""

from __future__ import annotations

import pytest

from bourse.bus.gateway import CommandClient
from bourse.engine import commands as c
from bourse.engine.trace import Trace
from tests.faults.serve import World
from tests.scale.topology import (
    ACTIVE,
    STANDBY,
    Topology,
    kill_writer_session,
    logs,
    stored_transfers,
)
from tests.support.nats import NATS_URL

pytestmark = pytest.mark.slow

AMOUNT = 7_654_321
#: commands sent at once right after the active engine's session is killed
BURST = 24


def test_an_engine_that_loses_the_writer_lock_stops_and_exits(
    topology: Topology, world: World
) -> None:
    active = topology.engine()
    standby = topology.engine(wait=STANDBY)
    a, b = world.users[0], world.users[1]
    client = CommandClient(NATS_URL, topology.name, timeout=60).start()
    try:

        def transfer(k: int) -> object:
            return client.send(
                c.Transfer(a.account, b.account, "USDT", AMOUNT), Trace(f"fence-{k}", "sandbox")
            )

        assert isinstance(transfer(0).result(30), int), logs(active)
        assert kill_writer_session(world.url) == 1
        sent = [transfer(k) for k in range(1, BURST + 1)]
        code = active.proc.wait(15)
        assert code == 1, logs(active)  # a refusal to go on (docs/operations.md)
        assert "lost the database's writer lock" in active.log_path.read_text(), logs(active)
        standby.wait_for(ACTIVE, 60)
        results = [f.result(60) for f in sent]  # type: ignore[attr-defined]
        assert all(isinstance(r, int) for r in results), results
    finally:
        client.close()
    assert stored_transfers(world.url, a.account, AMOUNT) == BURST + 1, logs(active, standby)
