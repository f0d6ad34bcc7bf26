"""Crash-only for ``bourse engine``: an unexpected exception on its engine thread ends it at once
(exit 70, the traceback once, one line saying so), the standby takes over as a supervisor's
restart would, and every command the dead engine answered is stored, once
(``BOURSE_TEST_RAISE_IN_ENGINE``, ``bourse.engine.crash``; tests/faults/test_engine_crash.py
does the same to ``bourse serve``)."""

from __future__ import annotations

import contextlib
import time

import pytest

from bourse.bus.gateway import CommandClient
from bourse.cli.crash import EXIT_CRASHED
from bourse.engine import commands as c
from bourse.engine.crash import RAISE_IN_ENGINE
from bourse.engine.engine import EngineUnavailable
from bourse.engine.trace import Trace
from tests.faults.serve import World
from tests.scale.topology import ACTIVE, STANDBY, Topology, logs, stored_transfers
from tests.support.nats import NATS_URL

pytestmark = pytest.mark.slow

CRASH_AT = 4
AMOUNT = 98_765
#: seconds from the fatal command to the engine's exit, at most
EXIT_S = 5.0


def test_engine_thread_crash_ends_bourse_engine_and_the_standby_takes_over(
    topology: Topology, world: World
) -> None:
    active = topology.engine(env={RAISE_IN_ENGINE: str(CRASH_AT)})
    standby = topology.engine(wait=STANDBY)
    a, b = world.users[0], world.users[1]
    client = CommandClient(NATS_URL, topology.name, timeout=90).start()
    done = 0
    try:
        for i in range(CRASH_AT - 1):  # one at a time: a batch each, answered before the next
            sent = client.send(c.Transfer(a.account, b.account, "USDT", AMOUNT), Trace(f"x{i}"))
            assert isinstance(sent.result(60), int), logs(active)
            done += 1
        fatal = client.send(c.Transfer(a.account, b.account, "USDT", AMOUNT), Trace("fatal"))
        sent_at = time.monotonic()
        code = active.proc.wait(EXIT_S)
        assert time.monotonic() - sent_at < EXIT_S
        out = active.log_path.read_text(errors="replace")
        assert code == EXIT_CRASHED, logs(active)
        assert out.count("Traceback (most recent call last)") == 1, out[-4000:]
        said = [ln for ln in out.splitlines() if ln.startswith("bourse engine: the engine")]
        assert len(said) == 1 and f"exiting {EXIT_CRASHED}" in said[0], out[-4000:]
        standby.wait_for(ACTIVE, 60)
        # never committed by the dead engine: the standby applies it, or says "unknown"
        with contextlib.suppress(EngineUnavailable):
            done += isinstance(fatal.result(90), int)
        again = client.send(c.Transfer(a.account, b.account, "USDT", AMOUNT), Trace("again"))
        assert isinstance(again.result(60), int), logs(standby)
        done += 1
    finally:
        client.close()
    count = stored_transfers(world.url, a.account, AMOUNT)
    assert count == done, logs(active, standby)
