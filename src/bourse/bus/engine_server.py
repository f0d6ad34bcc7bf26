"""The engine's side of the command stream: apply what gateways sent, reply after the commit.

``CommandServer(engine, url, name).start()`` consumes the command stream
(``bus.command_stream``) with the durable consumer ``engine`` and hands each command to the
engine's ordinary ``submit``, in stream order, under the request's trace (its request id and
origin, for the money movements' audit records). When the command's future resolves, which the
engine does only after the batch is committed, the reply goes to the gateway's inbox, and only
then is the message acknowledged (removed from the work-queue stream).

Only the process that holds the database's writer lock runs a ``CommandServer`` (``bourse
engine``; a standby waits for the lock first). On start it recreates the consumer, so every
command no engine acknowledged is delivered again from the start of the stream: those a dead
engine committed without acknowledging are answered with their first result (a client id) or
refused (a replay key, an order already cancelled), and a refusal of such a leftover is answered
as "unknown" (retryable 503), since it may be the mark of the first application; those whose
deadline passed (the gateway answered "try again") are dropped unapplied. Exactly once for every
command, keyed or not: the engine commits the stream sequence of the last command it applied
with the batch (``Trace.command_seq``), and a new engine answers every delivered command up to
that sequence "unknown" without applying it again.

Fencing: once the store lost the writer lock (``SqlStore.writer_lost``: its session was killed
or timed out, and another engine may be the writer now) the server takes no command any more
and answers none that failed: it neither replies nor acknowledges, so the engine that holds the
lock gets them all (``bourse engine`` exits, to come back as a standby).

Heartbeat: from the same loop, the server publishes the engine's beat (``bus.heartbeat``) while
it serves: not closing, and ``heartbeat.serves``: not fenced, the engine thread alive and
responsive (it answered the probe each beat puts on its queue, or it is committing batch after
batch: ``engine.liveness``, with ``heartbeat.STALL_S`` as the bound). Gateways are ready only
while they hear it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from concurrent.futures import Future
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from bourse.bus import command_stream, commands, heartbeat
from bourse.bus.codec import CodecError
from bourse.bus.nats_client import NatsClient
from bourse.domain.errors import DomainError
from bourse.engine import Engine
from bourse.engine.clock import now_ms
from bourse.engine.engine import EngineUnavailable
from bourse.engine.trace import Trace, current

log = logging.getLogger("bourse.bus.engine_server")

#: seconds a delivered command may stay unacknowledged before NATS delivers it again
ACK_WAIT_S = 60.0
#: commands delivered and not yet acknowledged, at most
MAX_IN_FLIGHT = 20_000
#: tests only: die as ``kill -9`` would right after a command's commit, before its reply
CRASH_AFTER_COMMIT = "BOURSE_TEST_CRASH_AFTER_COMMIT"


class CommandServer(NatsClient):
    """Feeds the command stream into ``engine`` and answers each command after its commit."""

    thread_name = "bourse-command-server"
    purpose = "consume commands"

    def __init__(self, engine: Engine, url: str, name: str = "bourse") -> None:
        super().__init__(url)
        self.engine = engine
        self.name = name
        #: commands applied, and commands dropped because their deadline had passed
        self.applied = 0
        self.expired = 0
        #: the stream's last sequence when this engine started: what came before it may have
        #: been committed by a dead engine that did not acknowledge it
        self._leftover = 0
        #: the sequence of the last command the store holds as applied: never apply it again
        self._committed = 0
        self._crash = os.environ.get(CRASH_AFTER_COMMIT) == "1"
        self._fenced: threading.Event = getattr(engine.store, "writer_lost", threading.Event())
        self._closing = False
        self._beat: asyncio.Task[None] | None = None

    @property
    def fenced(self) -> bool:
        """This engine lost the writer lock: it must not take commands any more."""
        return self._fenced.is_set()

    @property
    def alive(self) -> bool:
        """Whether this engine serves commands: what its heartbeat says (``bus.heartbeat``)."""
        return not self._closing and heartbeat.serves(self.engine)

    def close(self, timeout: float = 5.0) -> None:
        self._closing = True  # no beat while the last replies go out
        super().close(timeout)

    async def _setup(self, nc: Client) -> None:
        js = nc.jetstream()
        stream, subject = await command_stream.ensure_stream(js, self.name)
        self._leftover = (await js.stream_info(stream)).state.last_seq
        committed = self.engine.read(lambda e: e.state.command_seq)
        if committed > self._leftover:  # the stream was created anew: its sequences restarted
            log.warning("command stream %s restarted below sequence %d", stream, committed)
            committed = 0
        self._committed = committed
        with contextlib.suppress(NotFoundError):
            await js.delete_consumer(stream, command_stream.CONSUMER)
        await js.subscribe(
            subject,
            durable=command_stream.CONSUMER,
            stream=stream,
            cb=self._on_command,
            manual_ack=True,
            pending_msgs_limit=-1,
            pending_bytes_limit=-1,
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=ACK_WAIT_S,
                max_ack_pending=MAX_IN_FLIGHT,
            ),
        )
        self._beat = asyncio.get_running_loop().create_task(
            heartbeat.beat(nc, self.name, lambda: self.alive)
        )

    # --- serving ---------------------------------------------------------------------------------
    async def _on_command(self, msg: Msg) -> None:
        if self.fenced:  # another engine's: it gets it when it recreates the consumer
            return
        reply = (msg.headers or {}).get(command_stream.REPLY, "")
        seq = msg.metadata.sequence.stream
        if seq <= self._committed:  # a dead engine committed it and did not acknowledge it
            await self._answer(msg, reply, None, _failed_over(), 0)
            return
        try:
            command, trace, deadline = commands.decode_command(msg.data)
        except CodecError as exc:
            log.error("undecodable command on %s: %s", msg.subject, exc)
            await self._answer(msg, reply, None, EngineUnavailable(f"undecodable: {exc}"), 0)
            return
        if now_ms() > deadline:  # its gateway has answered "try again": never apply it now
            self.expired += 1
            await self._answer(msg, reply, None, EngineUnavailable("deadline passed"), 0)
            return
        token = current.set(Trace(trace.request_id, trace.origin, seq))
        try:
            future = self.engine.submit(command)
        finally:
            current.reset(token)
        loop = asyncio.get_running_loop()
        store = self.engine.store

        leftover = seq <= self._leftover

        def done(fut: Future[Any]) -> None:  # the engine's thread, right after the commit
            if self._crash:
                os._exit(137)
            commits = getattr(store, "durable_commits", 0)
            error = fut.exception()
            if error is not None and self.fenced:  # not committed here: the next engine's
                return
            if error is not None and not isinstance(error, DomainError | EngineUnavailable):
                error = EngineUnavailable(f"{type(error).__name__}: {error}")
            elif leftover and isinstance(error, DomainError):
                # a command the engine that died may have committed before it answered: its
                # refusal now (a replayed request, an order already cancelled) may be the mark
                # of that first application, so to a gateway still waiting the outcome is
                # unknown (retryable), never "refused"
                error = _failed_over()
            result = None if error is not None else fut.result()
            with contextlib.suppress(RuntimeError):  # the loop closed: NATS delivers it again
                loop.call_soon_threadsafe(
                    lambda: loop.create_task(self._answer(msg, reply, result, error, commits))
                )

        future.add_done_callback(done)

    async def _answer(
        self, msg: Msg, reply: str, result: Any, error: BaseException | None, commits: int
    ) -> None:
        nc = self._nc
        if nc is None:
            return
        try:
            if reply:
                await nc.publish(reply, commands.encode_reply(result, error, commits))
            await msg.ack()
            self.applied += error is None
        except Exception:
            log.exception("answering a command failed (it will be delivered again)")


def _failed_over() -> EngineUnavailable:
    return EngineUnavailable("the engine failed over; the outcome is unknown")
