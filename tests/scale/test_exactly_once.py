"""Exactly once across a failover for a command no key protects (no client id, no replay key:
a Bearer order without newClientOrderId, a console or operator command, a dust conversion): the
active engine commits it and dies (as ``kill -9``) before it replies or acknowledges it; the
standby, delivered it again, answers "unknown" (retryable) instead of applying it twice."""

from __future__ import annotations

import pytest

from bourse.bus.engine_server import CRASH_AFTER_COMMIT
from bourse.bus.gateway import CommandClient
from bourse.engine import commands as c
from bourse.engine.engine import EngineUnavailable
from bourse.engine.trace import Trace
from tests.faults.serve import World
from tests.scale.topology import ACTIVE, STANDBY, Topology, logs, stored_transfers
from tests.support.nats import NATS_URL

pytestmark = pytest.mark.slow

AMOUNT = 123_457


def test_an_unkeyed_command_committed_by_a_dying_engine_is_not_applied_again(
    topology: Topology, world: World
) -> None:
    active = topology.engine(env={CRASH_AFTER_COMMIT: "1"})
    standby = topology.engine(wait=STANDBY)
    a, b = world.users[0], world.users[1]
    client = CommandClient(NATS_URL, topology.name, timeout=90).start()
    try:
        # a transfer with no client id and no replay key: its message id is a fresh one
        sent = client.send(
            c.Transfer(a.account, b.account, "USDT", AMOUNT), Trace("eo-1", "sandbox")
        )
        standby.wait_for(ACTIVE, 60)
        assert not active.alive, logs(active)
        with pytest.raises(EngineUnavailable, match="outcome is unknown"):
            sent.result(60)
        # the new engine applies what comes next, once
        again = client.send(
            c.Transfer(a.account, b.account, "USDT", AMOUNT), Trace("eo-2", "sandbox")
        )
        assert isinstance(again.result(60), int), logs(standby)
    finally:
        client.close()
    count = stored_transfers(world.url, a.account, AMOUNT)
    assert count == 2, logs(standby)
