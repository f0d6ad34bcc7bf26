"""The active engine's heartbeat: how a gateway knows an engine is there to take its commands.

A gateway's copy of the engine can be caught up with the event stream while no engine runs
(killed, no standby): it would answer every order with a 503 after its deadline. So the active
engine's command server (``bus.engine_server``), on the loop that consumes the command stream,
publishes an empty core-NATS message on ``bourse.<name>.heartbeat`` every ``INTERVAL_S``
seconds while it can serve: it holds the writer lock (a standby never beats), its engine thread
runs, and that thread is responsive (``engine.liveness``): each beat puts a probe on the queue
the engine takes its commands from (when the last one was answered), and the engine stops
beating once a probe has waited ``STALL_S`` unanswered with no batch acknowledged meanwhile
(an engine working through a backlog is busy, not stuck). A dead, fenced or hung engine stops
beating, hung with no command in flight too (stuck in a handler, a commit or a listener, or
waiting for a lock): at most ``STALL_S + INTERVAL_S`` (1.5 s) after it hung. A commit slower
than ``STALL_S`` skips beats while it lasts, but gateways only give up after ``SILENCE_S``
without one, so an engine must make no progress for about 4 s before they do (a loaded
PostgreSQL commit takes 100s of ms).

Each gateway's command client (``bus.gateway``) notes when it last heard a beat (``Heard``);
its ``/readyz`` engine check fails once it heard none for ``SILENCE_S`` seconds. A failover
(the standby takes the lock, loads the state and starts beating) takes about a second, well
inside that bound, so a normal takeover does not flap the gateways' readiness. Beats are
best-effort and not stored (no JetStream): one costs a few bytes every half second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from nats.aio.client import Client
from nats.aio.msg import Msg

from bourse.bus.nats import bus_names

log = logging.getLogger("bourse.bus.heartbeat")

#: seconds between two beats of the active engine
INTERVAL_S = 0.5
#: seconds without a beat after which a gateway's ``/readyz`` says no engine is there
SILENCE_S = 3.0
#: seconds the engine thread may leave a probe unanswered, acknowledging no batch meanwhile,
#: before its engine stops beating (``engine.liveness``)
STALL_S = 1.0


def subject(name: str) -> str:
    """The heartbeat subject of the exchange ``name`` (core NATS, no stream)."""
    bus_names(name)  # the same rule for names as the bus
    return f"bourse.{name}.heartbeat"


async def beat(nc: Client, name: str, alive: Callable[[], bool]) -> None:
    """Publish a beat every ``INTERVAL_S`` while ``alive()`` (runs until cancelled)."""
    to = subject(name)
    while True:
        if alive():
            try:
                await nc.publish(to, b"")
            except Exception as exc:  # NATS away: the gateways notice the silence
                log.debug("heartbeat not sent: %s", exc or type(exc).__name__)
        await asyncio.sleep(INTERVAL_S)


class Heard:
    """When this process last heard an engine's beat (``listen`` on its connection)."""

    def __init__(self) -> None:
        self._since = time.monotonic()
        self._at: float | None = None

    async def listen(self, nc: Client, name: str) -> None:
        await nc.subscribe(subject(name), cb=self._on_beat)

    async def _on_beat(self, msg: Msg) -> None:
        self._at = time.monotonic()

    def silence(self) -> tuple[float, bool]:
        """Seconds since the last beat (or since listening began) and whether one was heard."""
        at = self._at
        return time.monotonic() - (self._since if at is None else at), at is not None

    def problem(self) -> str | None:
        """Why no engine counts as there (one line for ``/readyz``), or None if one is."""
        silent, ever = self.silence()
        if not ever:
            return "no engine heard yet"
        if silent > SILENCE_S:
            return f"no engine heard for {silent:.1f} s"
        return None
