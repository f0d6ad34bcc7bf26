"""PostgreSQL test databases made ahead and dropped behind, off the test's critical path.

``CREATE DATABASE`` and ``DROP DATABASE`` cost the server a checkpoint-like flush each (about
half a second on a busy machine) but almost no CPU of the test process. ``PgPool`` overlaps
that wait with the tests: a background thread keeps ``AHEAD`` clones of the migrated template
ready, and another drops the databases tests are done with. ``close()`` (end of the session)
drops what is left and waits for every drop.

If the server is unreachable, the error surfaces in the test that asks for a database.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time

from tests.support.databases import create_pg_database, drop_pg_database, pg_template

#: migrated clones kept ready ahead of the tests that will use them
AHEAD = 2
#: seconds a test waits for a clone before failing (the server is stuck or down)
WAIT = 120.0


class PgPool:
    def __init__(self) -> None:
        self._ready: queue.Queue[str] = queue.Queue(maxsize=AHEAD)
        self._drops: queue.Queue[str | None] = queue.Queue()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._maker: threading.Thread | None = None
        self._dropper = threading.Thread(target=self._drop_loop, name="pg-drop", daemon=True)
        self._dropper.start()

    def migrated(self) -> str:
        """The URL of a fresh copy of the migrated template (made ahead when possible)."""
        if self._maker is None:
            pg_template()  # built here, so a failure shows in this test with its own message
            self._maker = threading.Thread(target=self._make_loop, name="pg-make", daemon=True)
            self._maker.start()
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if self._error is not None:
                raise self._error
            try:
                return self._ready.get(timeout=0.2)
            except queue.Empty:
                continue
        raise RuntimeError(f"no PostgreSQL test database within {WAIT:.0f} s")

    def empty(self) -> str:
        """The URL of a new empty database."""
        return create_pg_database()

    def release(self, url: str) -> None:
        """Drop ``url`` in the background (the test is done with it)."""
        self._drops.put(url)

    def close(self) -> None:
        """Stop making clones, drop the unused ones, and wait until every drop is done."""
        self._stop.set()
        if self._maker is not None:
            while self._maker.is_alive():
                self._drain_ready()
                self._maker.join(0.1)
        self._drain_ready()
        self._drops.put(None)
        self._dropper.join()

    def _drain_ready(self) -> None:
        while True:
            try:
                self._drops.put(self._ready.get_nowait())
            except queue.Empty:
                return

    def _make_loop(self) -> None:
        try:
            template = pg_template()
            while not self._stop.is_set():
                url = create_pg_database(template=template)
                while True:
                    try:
                        self._ready.put(url, timeout=0.2)
                        break
                    except queue.Full:
                        if self._stop.is_set():
                            self._drops.put(url)
                            return
        except BaseException as exc:  # pytest.fail raises a BaseException; takers re-raise it
            self._error = exc

    def _drop_loop(self) -> None:
        while (url := self._drops.get()) is not None:
            with contextlib.suppress(BaseException):  # a leaked database fails no test
                drop_pg_database(url)
