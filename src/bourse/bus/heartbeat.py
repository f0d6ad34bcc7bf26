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

A writer started by ``bourse serve --bus`` has no command server: it beats from a loop thread
of its own (``Publisher``), on the same subject and under the same rule (``serves``).

Each gateway's command client (``bus.gateway``) notes when it last heard a beat (``Heard``), and
so does a plain follower (``bourse serve --bus`` on a database another process writes:
``Listener``); their ``/readyz`` engine check fails once they heard none for ``SILENCE_S``
seconds, so a follower of a dead, hung or fenced writer stops saying it serves current books
and balances. A failover (the standby takes the lock, loads the state and starts beating)
takes about a second, well inside that bound, so a normal takeover does not flap the
gateways' readiness. Beats are best-effort and not stored (no JetStream): one costs a few
bytes every half second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from nats.aio.client import Client
from nats.aio.msg import Msg

from bourse.bus.nats import bus_names
from bourse.bus.nats_client import NatsClient
from bourse.engine import Engine

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


def serves(engine: Engine) -> bool:
    """Whether ``engine`` may beat: it holds the writer role (its store did not lose the writer
    lock, it is not read-only), its thread runs and answers (``engine.liveness``)."""
    lost = getattr(engine.store, "writer_lost", None)
    if lost is not None and lost.is_set():
        return False
    if not engine.running or engine.read_only is not None:
        return False
    return engine.liveness.responsive(STALL_S)


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

    def problem(self, who: str = "engine") -> str | None:
        """Why no ``who`` counts as there (one line for ``/readyz``), or None if one is."""
        silent, ever = self.silence()
        if not ever:
            return f"no {who} heard yet"
        if silent > SILENCE_S:
            return f"no {who} heard for {silent:.1f} s"
        return None


class Publisher(NatsClient):
    """The writer's beat, on a loop thread of its own, while ``serves(engine)`` (``bourse serve
    --bus`` as the writer; ``bourse engine`` beats from its command server's loop)."""

    thread_name = "bourse-heartbeat"
    purpose = "publish the writer's heartbeat"

    def __init__(self, engine: Engine, url: str, name: str = "bourse") -> None:
        subject(name)  # the bus's rule for names, checked before connecting
        super().__init__(url)
        self.engine = engine
        self.name = name
        self._closing = False
        self._beat: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return not self._closing and serves(self.engine)

    async def _setup(self, nc: Client) -> None:
        self._beat = asyncio.get_running_loop().create_task(beat(nc, self.name, lambda: self.alive))

    def close(self, timeout: float = 5.0) -> None:
        self._closing = True  # no beat from a writer that shuts down
        super().close(timeout)


class Listener(NatsClient):
    """Hears the writer's beat on a connection of its own (a plain follower; a gateway's
    command client listens on its own connection): ``heard`` is what ``/readyz`` asks."""

    thread_name = "bourse-heartbeat"
    purpose = "hear the writer's heartbeat"

    def __init__(self, url: str, name: str = "bourse") -> None:
        subject(name)  # the bus's rule for names, checked before connecting
        super().__init__(url)
        self.name = name
        self.heard = Heard()

    async def _setup(self, nc: Client) -> None:
        await self.heard.listen(nc, self.name)
        await nc.flush()
