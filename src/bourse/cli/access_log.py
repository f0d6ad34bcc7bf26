"""uvicorn's access log, written by a thread of its own, a batch at a time.

A request costs the event loop a log record and a queue put, never a write to a slow terminal
or pipe; the thread formats the records with ``uvicorn.access``'s own handlers (the same
lines as before) and writes what has queued up in one write and one flush per handler. It
wakes at most every ``PAUSE_S`` under load, not once per request: a wake-up per line was
a GIL hand-over per request between the event loop and this thread (on ``bourse serve`` the
access log cost a signed order ~55 us of CPU, half of it in those hand-overs and per-line
flushes). Lines appear at most ``PAUSE_S`` late; every queued line is written at exit.

The queue is bounded. Under a load the server cannot log as fast as it answers (the writer
shares the GIL, and here the CPU, with the event loop), lines used to pile up without limit: a
hello-world app under wrk ended a 10 s run with over 100,000 unwritten lines (memory growing for
as long as the load lasted, lines seconds late, and seconds of CPU spent after the load on what
the load had caused). Beyond ``MAX_BACKLOG`` queued records the request that logs waits for the
writer to catch up (``BLOCK_S`` at most): the server then answers no faster than it logs. The
wait holds the event loop (uvicorn logs inside ``send``), so it is short and taken once per
stuck stream: a record that still finds the queue full after it (a stream that does not take
writes: a paused terminal, a pipe nobody reads) is dropped and counted, and so is every record
after it until the writer writes again; the writer then says how many were dropped
(``bourse.access``, a warning of the server's own log).

A signed request's ``signature`` is written as ``<redacted>``: whoever reads the log must not
hold a signature its ``recvWindow`` still accepts (on the broker writes that take a body
outside the signature, one seen there could be spent once, docs/security.md).
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
from typing import Any

#: how long the writer lets lines gather after the first one it wakes for
PAUSE_S = 0.02
#: the most records written in one go
MAX_BATCH = 1000
#: the most records queued; a request logging beyond it waits for the writer (see above)
MAX_BACKLOG = 10_000
#: how long a request waits for room in the queue before its record is dropped
BLOCK_S = 0.25
_STOP: Any = object()
log = logging.getLogger("bourse.access")
_NAME = "signature="


def hide_signatures(target: str) -> str:
    """``target`` with the value of every ``signature`` parameter (``signature=`` right after
    ``?`` or ``&``, up to the next ``&``) written as ``<redacted>``. A scan with ``str.find``:
    a third of a regular expression's time, on every signed request's line."""
    out: list[str] = []
    start = 0
    at = target.find(_NAME)
    while at != -1:
        if at and target[at - 1] in "?&":
            value = at + len(_NAME)
            out.append(target[start:value])
            out.append("<redacted>")
            start = target.find("&", value)
            if start == -1:
                return "".join(out)
            at = target.find(_NAME, start)
        else:
            at = target.find(_NAME, at + 1)
    out.append(target[start:])
    return "".join(out)


def redact(record: logging.LogRecord) -> None:
    """Hide the ``signature`` value of ``uvicorn.access``'s request target (its args are
    client, method, target, HTTP version, status)."""
    args = record.args
    if isinstance(args, tuple) and len(args) > 2:
        target = args[2]
        if isinstance(target, str) and _NAME in target:
            record.args = (*args[:2], hide_signatures(target), *args[3:])


def _no_caller(stack_info: bool = False, stacklevel: int = 1) -> tuple[str, int, str, None]:
    """``Logger.findCaller`` for the access log: its lines name no source line, and walking
    the stack for one was ~2 us a request."""
    return "(unknown file)", 0, "(unknown function)", None


class Backlog:
    """The queue between the requests and the writer, bounded (see the module docstring):
    ``put`` waits for room beyond ``limit`` records, ``BLOCK_S`` at most, then drops and
    counts; the writer calls ``room`` after each batch it has written."""

    def __init__(
        self, q: queue.SimpleQueue[Any], limit: int = MAX_BACKLOG, block_s: float = BLOCK_S
    ) -> None:
        self.queue = q
        self.limit = limit
        self.block_s = block_s
        self.dropped = 0
        self._room = threading.Event()
        #: a wait for room timed out and the writer has written nothing since: drop at once
        #: (a stuck stream must not hold every request for ``block_s``)
        self._stuck = False

    def put(self, record: Any) -> None:
        q = self.queue
        if q.qsize() >= self.limit:  # the writer is behind: wait for it
            if not self._stuck:
                self._room.clear()
                if q.qsize() >= self.limit:
                    self._stuck = not self._room.wait(self.block_s)
            if q.qsize() >= self.limit:
                self.dropped += 1  # one writer of this count: the thread that logs
                return
        q.put(record)

    def room(self) -> None:
        """The writer has written a batch: wake a request waiting for room, if there is."""
        self._stuck = False
        if self.queue.qsize() < self.limit:
            self._room.set()

    def take_dropped(self) -> int:
        """Records dropped since the last call (read by the writer)."""
        n, self.dropped = self.dropped, 0  # a drop between the two reads is counted next time
        return n


class _RecordQueueHandler(logging.Handler):
    """Hands the record over as it is (formatting happens in the writer's thread; the
    handlers' filters, which add the request id, run here first). No lock: the queue is
    thread-safe."""

    def __init__(self, backlog: Backlog) -> None:
        super().__init__()
        self.backlog = backlog

    def handle(self, record: logging.LogRecord) -> bool:
        rv = self.filter(record)
        if isinstance(rv, logging.LogRecord):  # Python 3.12+: a filter may replace it
            record = rv
        if rv:
            self.backlog.put(record)
        return bool(rv)

    def emit(self, record: logging.LogRecord) -> None:
        self.handle(record)


class BatchWriter:
    """The writer thread (see the module docstring); ``stop`` writes what is queued and ends
    it."""

    def __init__(
        self,
        q: queue.SimpleQueue[Any],
        handlers: list[logging.Handler],
        backlog: Backlog | None = None,
    ) -> None:
        self.queue = q
        self.handlers = handlers
        self.backlog = backlog if backlog is not None else Backlog(q)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="access-log", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self.queue.put(_STOP)
            self._thread.join(30)
            self._thread = None

    def _run(self) -> None:
        while True:  # until _STOP: each turn blocks for a record, then writes a bounded batch
            batch = [self.queue.get()]
            if batch[0] is not _STOP and self.queue.qsize() < MAX_BATCH:  # behind: no pause
                time.sleep(PAUSE_S)
            for _ in range(MAX_BATCH - 1):
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(r is _STOP for r in batch)
            records = [r for r in batch if r is not _STOP]
            self._write(records)
            dropped = self.backlog.take_dropped()
            if dropped:  # the server's own log (the access lines' format has no room for it)
                log.warning("%d access log lines dropped: the log did not keep up", dropped)
            self.backlog.room()
            if stop:
                return

    def _write(self, records: list[logging.LogRecord]) -> None:
        for r in records:
            redact(r)
        for h in self.handlers:
            todo = [r for r in records if r.levelno >= h.level]
            if not todo:
                continue
            if type(h) is not logging.StreamHandler:  # anything else: its own way, a line each
                for r in todo:
                    h.handle(r)
                continue
            lines = []
            for r in todo:
                try:
                    lines.append(h.format(r) + h.terminator)
                except Exception:
                    h.handleError(r)
            if not lines:
                continue
            with h.lock or threading.RLock():
                try:
                    h.stream.write("".join(lines))
                    h.flush()
                except Exception:
                    h.handleError(todo[-1])


def queue_access_log() -> BatchWriter | None:
    """Route uvicorn's access log through a queue to the writer thread (see the module
    docstring); flushed at exit. Once per process: returns the writer the first time, None
    after."""
    logger = logging.getLogger("uvicorn.access")
    if any(isinstance(h, _RecordQueueHandler) for h in logger.handlers):
        return None
    q: queue.SimpleQueue[Any] = queue.SimpleQueue()
    backlog = Backlog(q)
    writer = BatchWriter(q, list(logger.handlers), backlog)
    handler = _RecordQueueHandler(backlog)
    # filters run where the record is made (the request id is the current request's there)
    for h in logger.handlers:
        for f in h.filters:
            handler.addFilter(f)
    logger.handlers = [handler]
    logger.findCaller = _no_caller  # type: ignore[method-assign]
    writer.start()
    atexit.register(writer.stop)
    return writer
