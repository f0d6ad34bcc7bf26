"""A gateway's engine: reads from the mirror, commands to the engine over the command stream.

A gateway process (``bourse gateway``) serves HTTP and WebSocket from a read-only copy of the
engine that ``bus.mirror`` keeps in step with the committed events; ``RemoteEngine`` is that
copy, and where the API hands it a command (``submit``, ``run``, ``execute``) the command goes
to the engine instead: published on the command stream (``bus.command_stream``) with a stable
``Nats-Msg-Id``, then the gateway waits for the reply the engine sends once the command's batch
is committed, and for its own copy to hold that batch (so a client reads its own write).

No reply within ``timeout`` s (the engine is down, failing over, or NATS is away) fails the
command with ``EngineUnavailable``, which the API answers with MEXC's retryable 503; the command
carries the same deadline, and an engine that finds it past its deadline does not apply it.
The gateway never acknowledges what the engine did not commit.

The client also listens for the active engine's heartbeat (``bus.heartbeat``): ``heard`` is
what the gateway's ``/readyz`` asks whether an engine is there to take its commands.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from bourse.bus import command_stream, commands, heartbeat
from bourse.bus.codec import CodecError
from bourse.bus.nats_client import NatsClient
from bourse.engine import Engine
from bourse.engine import commands as c
from bourse.engine.clock import now_ms
from bourse.engine.engine import EngineUnavailable
from bourse.engine.trace import Trace, current

log = logging.getLogger("bourse.bus.gateway")

#: seconds a gateway waits for the engine's reply before answering "try again"
TIMEOUT_S = 5.0
#: seconds a gateway waits for its copy to hold a replied batch before answering anyway
CATCH_UP_S = 2.0
#: publish attempts (the same message id: the stream keeps one copy)
PUBLISH_ATTEMPTS = 3


class CommandClient(NatsClient):
    """Sends commands on the command stream and waits for their replies (a loop thread)."""

    thread_name = "bourse-commands"
    purpose = "send commands"

    def __init__(
        self,
        url: str,
        name: str = "bourse",
        *,
        timeout: float = TIMEOUT_S,
        caught_up: Callable[[int], bool] = lambda commits: True,
    ) -> None:
        super().__init__(url)
        self.name = name
        self.timeout = timeout
        self._caught_up = caught_up
        self._js: JetStreamContext | None = None
        self._subject = ""
        self._inbox = ""
        self._tokens = itertools.count(1)
        self._waiting: dict[str, asyncio.Future[bytes]] = {}
        #: commands that got no reply in time (the metrics' and the tests' view)
        self.timeouts = 0
        #: when the active engine's heartbeat was last heard
        self.heard = heartbeat.Heard()

    async def _setup(self, nc: Client) -> None:
        js = self._js = nc.jetstream()
        _, self._subject = await command_stream.ensure_stream(js, self.name)
        self._inbox = nc.new_inbox()
        await nc.subscribe(f"{self._inbox}.*", cb=self._on_reply)
        await self.heard.listen(nc, self.name)

    async def _on_reply(self, msg: Msg) -> None:
        waiter = self._waiting.pop(msg.subject.rpartition(".")[2], None)
        if waiter is not None and not waiter.done():
            waiter.set_result(msg.data)

    # --- sending ---------------------------------------------------------------------------------
    def send(self, command: c.Command, trace: Trace) -> Future[Any]:
        """The command's outcome (from any thread): its result, its ``DomainError``, or
        ``EngineUnavailable`` when the engine did not answer in time."""
        thread = self._thread
        if thread is None:
            failed: Future[Any] = Future()
            failed.set_exception(EngineUnavailable("the gateway is not connected to the engine"))
            return failed
        return thread.spawn(self._send(command, trace))

    async def _send(self, command: c.Command, trace: Trace) -> Any:
        js = self._js
        assert js is not None
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = now_ms() + int(self.timeout * 1000)
        token = str(next(self._tokens))
        waiter: asyncio.Future[bytes] = loop.create_future()
        self._waiting[token] = waiter
        headers = {
            "Nats-Msg-Id": commands.message_id(command),
            command_stream.REPLY: f"{self._inbox}.{token}",
        }
        data = commands.encode_command(command, trace, deadline)
        try:
            for attempt in range(PUBLISH_ATTEMPTS):
                left = self.timeout - (loop.time() - started)
                try:
                    ack = await js.publish(
                        self._subject, data, timeout=max(left, 0.05), headers=headers
                    )
                except Exception as exc:
                    if attempt + 1 == PUBLISH_ATTEMPTS or left <= 0:
                        raise self._unavailable(f"the command stream refused it: {exc}") from exc
                    await asyncio.sleep(0.05)
                    continue
                if ack.duplicate and attempt == 0:
                    # the same command within the duplicate window, sent by an earlier request
                    # whose reply went there: send it under an id of its own, so the engine's
                    # idempotency answers this request (the first result, or a refusal)
                    headers["Nats-Msg-Id"] = commands.message_id_fresh()
                    continue
                break
            try:
                raw = await asyncio.wait_for(waiter, self.timeout - (loop.time() - started))
            except TimeoutError:
                raise self._unavailable("the engine did not answer in time") from None
        finally:
            self._waiting.pop(token, None)
        try:
            result, error, commits = commands.decode_reply(raw)
        except CodecError as exc:
            raise EngineUnavailable(f"unreadable reply from the engine: {exc}") from exc
        await self._catch_up(commits)
        if error is not None:
            raise error
        return result

    def _unavailable(self, why: str) -> EngineUnavailable:
        self.timeouts += 1
        return EngineUnavailable(why)

    async def _catch_up(self, commits: int) -> None:
        """Wait (bounded) until this gateway's copy holds the batch that was replied."""
        if self._caught_up(commits):
            return
        loop = asyncio.get_running_loop()
        until = loop.time() + CATCH_UP_S
        while not self._caught_up(commits) and loop.time() < until:
            await asyncio.sleep(0.001)


class RemoteEngine(Engine):
    """The gateway's engine: the mirror's read-only copy for reads, ``client`` for commands."""

    client: CommandClient | None = None

    @property  # type: ignore[override]
    def read_only(self) -> str | None:
        """A gateway takes commands (it forwards them): never read-only to its callers."""
        return None if self.client is not None else self._read_only

    @read_only.setter
    def read_only(self, value: str | None) -> None:
        self._read_only = value

    def submit(self, command: c.Command) -> Future[Any]:
        if self.client is None:
            return super().submit(command)
        return self.client.send(command, current.get())

    def execute(self, command: c.Command, timeout: float | None = 30.0) -> Any:
        return self.submit(command).result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        if self.client is not None:
            self.client.close()
        super().stop(timeout)
