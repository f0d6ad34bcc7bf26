"""The NATS bus: committed batches published to a JetStream stream, read by other processes.

``NatsBus(url, name)`` owns one JetStream stream (``stream``) on one subject (``subject``); both
are derived from ``name``, so several exchanges (or tests) share one ``nats-server`` without
seeing each other. The stream keeps the last ``max_age_s`` seconds of events (at most
``max_bytes``, the oldest go first), so a follower can
replay from a stream sequence (``subscribe(start=seq)``) or start at the newest event
(``start="last"``).

Publishing is the engine's: ``publish`` runs on the engine thread right after a commit and only
appends the event to an outbox; a thread of the bus (its own asyncio loop and connection)
encodes and publishes it with JetStream's asynchronous acknowledgements. An outbox that grows
past ``max_backlog`` (NATS unreachable, or slower than the engine) loses events: they are
counted in ``lost`` and logged, the engine never waits. A follower sees the hole as a gap in
``version`` and reloads from the store.

A subscription has its own connection on the subscriber's event loop and an ordered JetStream
consumer (in order, no acks, recreated by nats-py from the last sequence after a hiccup); its
queue is bounded like ``InProcessBus``'s: a subscriber more than ``maxsize`` events behind is
dropped (``dropped``), never waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from bourse.bus import codec
from bourse.bus.events import Committed

log = logging.getLogger("bourse.bus.nats")

#: seconds to connect (and create the stream) before ``start`` gives up
CONNECT_TIMEOUT_S = 3.0


async def _log_error(exc: Exception) -> None:
    # nats-py prints a traceback per failed (re)connect attempt by default (every 0.5 s while
    # the server is away): keep them for debugging
    log.debug("NATS: %s", exc or type(exc).__name__)


async def _log_disconnected() -> None:
    log.info("NATS disconnected (closed, or lost: then it reconnects)")


async def _log_reconnected() -> None:
    log.warning("NATS reconnected")


async def connect(url: str) -> Client:
    """A connection that reconnects for ever once made; the first connect is bounded in time."""
    pending = nats.connect(
        url,
        connect_timeout=CONNECT_TIMEOUT_S,
        error_cb=_log_error,
        disconnected_cb=_log_disconnected,
        reconnected_cb=_log_reconnected,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
    )
    try:
        return await asyncio.wait_for(pending, CONNECT_TIMEOUT_S)
    except TimeoutError:
        raise BusUnavailable(f"no NATS server answered in {CONNECT_TIMEOUT_S:.0f} s") from None


class BusUnavailable(Exception):
    """The NATS server cannot be reached (or refused the stream)."""


def bus_names(name: str) -> tuple[str, str]:
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise ValueError(f"bus name {name!r}: letters, digits, '_' and '-' only")
    return f"BOURSE_{name}", f"bourse.{name}.committed"


class NatsSubscription:
    """One subscriber's events, in stream order, from its own connection and ordered consumer."""

    def __init__(self, bus: NatsBus, maxsize: int, start: int | str) -> None:
        self._bus = bus
        self._maxsize = maxsize
        self._start = start
        self._queue: deque[tuple[int, Committed]] = deque()
        self._wake = asyncio.Event()
        self._nc: Client | None = None
        self._error: BaseException | None = None
        self._ready = asyncio.Event()
        self._closing: asyncio.Future[None] | None = None
        self.closed = False
        self.dropped = False
        #: stream sequence of the last event iterated (0 before the first)
        self.seq = 0
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        try:
            nc = self._nc = await connect(self._bus.url)
            start = self._start
            config = None
            if isinstance(start, int):
                policy = DeliverPolicy.BY_START_SEQUENCE
                config = ConsumerConfig(opt_start_seq=max(start, 1))
            else:
                policy = {
                    "new": DeliverPolicy.NEW,
                    "last": DeliverPolicy.LAST,
                    "all": DeliverPolicy.ALL,
                }[start]
            await nc.jetstream().subscribe(
                self._bus.subject,
                stream=self._bus.stream,
                cb=self._on_msg,
                ordered_consumer=True,
                deliver_policy=policy,
                config=config,
                pending_msgs_limit=-1,
                pending_bytes_limit=-1,
            )
        except BaseException as exc:
            self._error = exc
            self.close()
            raise
        finally:
            self._ready.set()

    async def started(self, timeout: float = CONNECT_TIMEOUT_S) -> None:
        """Wait until the consumer exists (events published after this are delivered)."""
        await asyncio.wait_for(self._ready.wait(), timeout)
        if self._error is not None:
            raise BusUnavailable(f"cannot subscribe to {self._bus.url}: {self._error}")

    async def _on_msg(self, msg: Msg) -> None:
        if self.closed:
            return
        if len(self._queue) >= self._maxsize:
            self.dropped = True
            self.close()
            return
        try:
            event = codec.decode(msg.data)
        except codec.CodecError:
            log.exception("undecodable message on %s", msg.subject)
            return
        self._queue.append((msg.metadata.sequence.stream, event))
        self._wake.set()

    async def __aiter__(self) -> AsyncIterator[Committed]:
        queue = self._queue
        while True:
            while queue:
                self.seq, event = queue.popleft()
                yield event
            if self.closed:
                if self._error is not None and not self.dropped:
                    raise BusUnavailable(f"{self._bus.url}: {self._error}")
                return
            self._wake.clear()
            await self._wake.wait()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._wake.set()
        nc = self._nc
        if nc is not None:
            self._closing = asyncio.ensure_future(_quietly(nc.close()))
        elif not self._task.done():
            self._task.cancel()

    async def aclose(self) -> None:
        """``close`` and wait until the connection is closed."""
        self.close()
        if self._closing is not None:
            await self._closing
        with contextlib.suppress(BaseException):
            await self._task


def _run_catching(coro: Any, failure: list[BaseException]) -> None:
    try:
        asyncio.run(coro)
    except BaseException as exc:
        failure.append(exc)


async def _quietly(coro: Any) -> None:
    with contextlib.suppress(Exception):
        await coro


class NatsBus:
    """``Bus`` over NATS JetStream: call ``start()`` before publishing, ``close()`` at the end."""

    def __init__(
        self,
        url: str,
        name: str = "bourse",
        *,
        max_backlog: int = 100_000,
        max_age_s: float = 3600.0,
        max_bytes: int = 1 << 30,
    ) -> None:
        self.url = url
        self.stream, self.subject = bus_names(name)
        self.max_backlog = max_backlog
        self.max_age_s = max_age_s
        self.max_bytes = max_bytes
        self.published = 0
        #: events never published (outbox full or NATS refused them)
        self.lost = 0
        self._outbox: deque[Committed] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._nc: Client | None = None

    # --- lifecycle -------------------------------------------------------------------------------
    def start(self) -> NatsBus:
        """Connect, create the stream if missing, start publishing (``BusUnavailable`` if the
        server cannot be reached within ``CONNECT_TIMEOUT_S``)."""
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._main, args=(ready, failure), name="bourse-nats", daemon=True
        )
        self._thread.start()
        if not ready.wait(CONNECT_TIMEOUT_S + 2) or failure:
            self._thread = None
            why = failure[0] if failure else "timed out"
            raise BusUnavailable(f"cannot use NATS at {self.url}: {why}")
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Publish what is still in the outbox (for at most ``timeout`` s), then disconnect."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        self._stopping = True
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._kick)
        thread.join(timeout)
        self._thread = None

    def delete_stream(self) -> None:
        """Remove this bus's stream and its events from the server (tests, ``--reset``)."""

        async def run() -> None:
            nc = await connect(self.url)
            try:
                with contextlib.suppress(NotFoundError):
                    await nc.jetstream().delete_stream(self.stream)
            finally:
                await nc.close()

        # on a thread of its own: callable from inside a running event loop too
        failure: list[BaseException] = []
        worker = threading.Thread(target=lambda: _run_catching(run(), failure), daemon=True)
        worker.start()
        worker.join(CONNECT_TIMEOUT_S + 5)
        if failure:
            raise BusUnavailable(f"cannot delete {self.stream}: {failure[0]}")

    @property
    def connected(self) -> bool:
        """Whether the publishing connection is up (``/readyz``)."""
        nc = self._nc
        return nc is not None and nc.is_connected

    @property
    def backlog(self) -> int:
        """Events in the outbox, not yet published (the metrics' bus lag on the writer)."""
        return len(self._outbox)

    # --- the port --------------------------------------------------------------------------------
    def publish(self, event: Committed) -> None:
        """Queue ``event`` for the bus thread (engine thread; never waits)."""
        loop = self._loop
        if loop is None or self._stopping or len(self._outbox) >= self.max_backlog:
            self._lose(1, "the bus is not running" if loop is None else "the outbox is full")
            return
        self._outbox.append(event)
        if len(self._outbox) == 1:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._kick)

    def subscribe(self, maxsize: int = 10_000, start: int | str = "new") -> NatsSubscription:
        """A subscription on the running loop from ``start``: ``"new"`` (events published from
        now on), ``"last"`` (the newest stored event, then new ones), ``"all"`` or a stream
        sequence number."""
        return NatsSubscription(self, maxsize, start)

    async def last(self) -> tuple[int, Committed] | None:
        """The stream's newest event and its sequence (None when the stream is empty)."""
        nc = await connect(self.url)
        try:
            js = nc.jetstream()
            try:
                msg = await js.get_last_msg(self.stream, self.subject)
            except NotFoundError:
                return None
            return msg.seq or 0, codec.decode(msg.data or b"")
        finally:
            await nc.close()

    # --- the bus thread --------------------------------------------------------------------------
    def _lose(self, n: int, why: str) -> None:
        if not self.lost:
            log.error("NATS bus %s: events lost (%s); followers will reload", self.stream, why)
        self.lost += n

    def _kick(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _main(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._serve(ready, failure))
        except BaseException as exc:  # pragma: no cover - logged, the engine goes on
            if not ready.is_set():
                failure.append(exc)
                ready.set()
            else:
                log.exception("NATS bus thread ended")
        finally:
            self._loop = None
            loop.close()

    async def _serve(self, ready: threading.Event, failure: list[BaseException]) -> None:
        try:
            nc = self._nc = await connect(self.url)
            js = nc.jetstream()
            config = StreamConfig(
                name=self.stream,
                subjects=[self.subject],
                storage=StorageType.FILE,
                max_age=self.max_age_s,
                max_bytes=self.max_bytes,
            )
            try:
                await js.add_stream(config)
            except Exception:  # exists with other limits: keep it as it is
                await js.stream_info(self.stream)
        except BaseException as exc:
            failure.append(exc)
            ready.set()
            return
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        ready.set()
        outbox = self._outbox
        acks: set[asyncio.Future[Any]] = set()
        while True:
            while outbox:
                event = outbox.popleft()
                try:
                    ack = await js.publish_async(
                        self.subject, codec.encode(event), wait_stall=5.0, stream=self.stream
                    )
                except Exception as exc:
                    self._lose(1, str(exc) or type(exc).__name__)
                    continue
                self.published += 1
                acks.add(ack)
                ack.add_done_callback(self._acked(acks))
            if self._stopping:
                break
            self._wake.clear()
            if not outbox:
                await self._wake.wait()
        if acks:
            await asyncio.wait(acks, timeout=5.0)
        with contextlib.suppress(Exception):
            await nc.close()

    def _acked(self, acks: set[asyncio.Future[Any]]) -> Any:
        def done(ack: asyncio.Future[Any]) -> None:
            acks.discard(ack)
            if ack.cancelled() or ack.exception() is not None:
                self._lose(1, repr(ack.exception()) if not ack.cancelled() else "cancelled")

        return done
