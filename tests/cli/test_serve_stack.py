"""The server stack of ``bourse serve``: the listening socket (every accepted connection has
TCP_NODELAY) and the access log (written by a thread of its own, the same lines).

Without it, a response written in two pieces waits for the client's delayed ACK (~40 ms), the
latency issue 16 saw under wrk. Checked on the server side, with getsockopt on connections the
listener accepted (the kernel hands the option down), for IPv4 and, where the host has it, IPv6.
"""

from __future__ import annotations

import io
import logging
import os
import queue
import re
import socket
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bourse.cli.access_log import Backlog, BatchWriter, hide_signatures
from bourse.cli.serve import _bind, queue_access_log


def _has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_accepted_connections_have_tcp_nodelay(host: str) -> None:
    if host == "::1" and not _has_ipv6():
        if os.environ.get("CI"):  # CI's machine has ::1: never skipped there
            pytest.fail("no IPv6 loopback on the CI machine")
        pytest.skip("no IPv6 loopback on this host")
    listener = _bind(host, 0)
    accepted: list[socket.socket] = []
    clients: list[socket.socket] = []
    try:
        assert listener.proto == socket.IPPROTO_TCP  # asyncio sets TCP_NODELAY only then
        port = listener.getsockname()[1]
        listener.settimeout(5)
        for _ in range(3):  # several connections at once: each one inherits the option
            clients.append(socket.create_connection((host, port), timeout=5))
        for _ in clients:
            conn, _addr = listener.accept()
            accepted.append(conn)
        for conn in accepted:
            assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        # a plain listener's connections do not have it: the check above can fail
        with socket.socket(listener.family, socket.SOCK_STREAM) as plain:
            plain.bind((host, 0))
            plain.listen(1)
            plain.settimeout(5)
            with socket.create_connection((host, plain.getsockname()[1]), timeout=5):
                conn, _addr = plain.accept()
                with conn:
                    assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
    finally:
        for s in accepted + clients:
            s.close()
        listener.close()


def test_the_access_log_is_written_by_a_thread_of_its_own() -> None:
    logger = logging.getLogger("uvicorn.access")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    lines: list[tuple[str, str]] = []
    written = threading.Semaphore(0)

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append((self.format(record), threading.current_thread().name))
            written.release()

    logger.handlers = [Capture()]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    listener = queue_access_log()
    try:
        assert listener is not None
        assert queue_access_log() is None  # once per process: no second queue in front
        senders = [
            threading.Thread(
                target=logger.info, args=('%s - "%s %s"', f"127.0.0.1:{n}", "GET", "/api/v3/ping")
            )
            for n in range(8)
        ]
        for th in senders:
            th.start()
        for th in senders:
            th.join(10)
        for _ in senders:
            assert written.acquire(timeout=10)
        assert sorted(text for text, _ in lines) == sorted(
            f'127.0.0.1:{n} - "GET /api/v3/ping"' for n in range(8)
        )
        writers = {name for _, name in lines}
        assert threading.current_thread().name not in writers
        assert not writers & {th.name for th in senders}
    finally:
        listener and listener.stop()
        logger.handlers, _level, logger.propagate = saved
        logger.setLevel(_level)


def test_the_access_log_writer_keeps_order_and_levels_and_writes_all_at_stop() -> None:
    out, quiet = io.StringIO(), io.StringIO()
    loud = logging.StreamHandler(out)
    loud.setFormatter(logging.Formatter("%(message)s"))
    errors_only = logging.StreamHandler(quiet)
    errors_only.setLevel(logging.ERROR)
    q: queue.SimpleQueue[object] = queue.SimpleQueue()
    writer = BatchWriter(q, [loud, errors_only])
    writer.start()
    for n in range(2500):  # more than a batch
        q.put(logging.makeLogRecord({"msg": f"line {n}", "levelno": logging.INFO}))
    writer.stop()  # returns once every queued line is written
    assert out.getvalue().splitlines() == [f"line {n}" for n in range(2500)]
    assert quiet.getvalue() == ""


def test_the_access_log_hides_signatures() -> None:
    """A signed request's line keeps every parameter but the signature's value (a log reader
    must not hold a signature still inside its recvWindow)."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(message)s"))
    q: queue.SimpleQueue[object] = queue.SimpleQueue()
    writer = BatchWriter(q, [handler])
    writer.start()
    sig = "ab" * 32
    targets = [
        f"/api/v3/order?symbol=BTCUSDT&timestamp=1&signature={sig}",
        f"/api/v3/account?signature={sig}&timestamp=1",
        "/api/v3/ping",
        "/api/v3/depth?symbol=BTCUSDT&mysignature=kept",
    ]
    for t in targets:
        q.put(
            logging.makeLogRecord(
                {
                    "msg": '%s - "%s %s HTTP/%s" %d',
                    "args": ("127.0.0.1:1", "POST", t, "1.1", 200),
                    "levelno": logging.INFO,
                }
            )
        )
    writer.stop()
    assert out.getvalue().splitlines() == [
        '127.0.0.1:1 - "POST /api/v3/order?symbol=BTCUSDT&timestamp=1&signature=<redacted> '
        'HTTP/1.1" 200',
        '127.0.0.1:1 - "POST /api/v3/account?signature=<redacted>&timestamp=1 HTTP/1.1" 200',
        '127.0.0.1:1 - "POST /api/v3/ping HTTP/1.1" 200',
        '127.0.0.1:1 - "POST /api/v3/depth?symbol=BTCUSDT&mysignature=kept HTTP/1.1" 200',
    ]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["signature=", "?", "&", "=", "a", "sig", "x=1"]), max_size=12))
def test_hiding_signatures_is_the_patterns_meaning(parts: list[str]) -> None:
    """``hide_signatures`` answers as the pattern ``([?&]signature=)[^&]*`` substituted. (The
    look-behind pattern it replaces wrote ``<redacted>`` twice for a value that itself ends
    in ``?signature=``: ``re.sub`` also takes the empty match right after a non-empty one.)"""
    target = "/p" + "".join(parts)
    assert hide_signatures(target) == re.sub(r"([?&]signature=)[^&]*", r"\1<redacted>", target)


class _Gate(io.StringIO):
    """A stream whose writes wait until ``open`` is set (a paused terminal)."""

    def __init__(self) -> None:
        super().__init__()
        self.open = threading.Event()

    def write(self, s: str) -> int:
        assert self.open.wait(30)
        return super().write(s)


def _gated_writer(
    limit: int, block_s: float
) -> tuple[_Gate, queue.SimpleQueue[object], Backlog, BatchWriter]:
    """A started writer of ``message`` lines to a ``_Gate``, its queue bounded at ``limit``."""
    gate = _Gate()
    handler = logging.StreamHandler(gate)
    handler.setFormatter(logging.Formatter("%(message)s"))
    q: queue.SimpleQueue[object] = queue.SimpleQueue()
    backlog = Backlog(q, limit=limit, block_s=block_s)
    writer = BatchWriter(q, [handler], backlog)
    writer.start()
    return gate, q, backlog, writer


def _line(n: int) -> logging.LogRecord:
    return logging.makeLogRecord({"msg": f"line {n}", "levelno": logging.INFO})


def test_the_access_log_queue_is_bounded_and_loses_nothing_that_can_be_written() -> None:
    """A writer slower than the requests: the queue never holds more than its limit (the
    request waits for room instead), and every line is written, in order."""
    gate, q, backlog, writer = _gated_writer(limit=50, block_s=5.0)
    deepest = 0
    opener = threading.Timer(0.2, gate.open.set)  # the stream takes writes a moment later
    opener.start()
    for n in range(2000):
        backlog.put(_line(n))
        deepest = max(deepest, q.qsize())
    writer.stop()
    opener.join()
    assert deepest <= 50
    assert backlog.dropped == 0
    assert gate.getvalue().splitlines() == [f"line {n}" for n in range(2000)]


def test_a_stuck_access_log_drops_lines_and_says_how_many(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A stream that takes no writes: the first request over the limit waits ``block_s``,
    the next ones drop at once (a stuck terminal must not hold every request); once the
    stream takes writes again the queued lines are written and the drops counted in a
    warning of the server's own log."""
    gate, q, backlog, writer = _gated_writer(limit=20, block_s=0.2)
    started = time.monotonic()
    for n in range(500):
        backlog.put(_line(n))
    took = time.monotonic() - started
    assert 0.2 <= took < 2.0  # one wait of block_s, not one per dropped line
    assert backlog.dropped > 400
    with caplog.at_level(logging.WARNING, logger="bourse.access"):
        gate.open.set()
        writer.stop()
    written = gate.getvalue().splitlines()
    # the queue's 20 and what the writer held when the stream stopped it, the first in order
    assert 20 <= len(written) <= 41
    assert written == [f"line {n}" for n in range(len(written))]
    assert len(written) + int(caplog.records[0].args[0]) == 500  # type: ignore[index]
    assert "access log lines dropped" in caplog.text
