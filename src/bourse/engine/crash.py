"""Crash-only: what happens when something unexpected escapes the engine thread's loop.

A command's own bug, a failed commit or a store that is down are expected: the engine reloads
its state from the store and fails that command, or that batch (``engine.engine``). What
escapes the loop itself (``engine.pipeline``: a bug in closing, committing or answering a
batch) leaves the engine with no thread to apply commands, while the process around it (HTTP,
the bus) would keep taking orders that then wait for ever. So the engine logs the exception
with its traceback once, refuses commands from then on (``Engine.read_only``: ``/readyz``
says why), answers the commands it had taken as unknown (``EngineUnavailable``: their batch may have
committed), and calls ``Engine.on_crash``; ``bourse serve`` and ``bourse engine`` set it to end the
process non-zero at once (``bourse.cli.crash``), like ``kill -9``: the supervisor restarts
it, and the new process recovers from the store, which holds every acknowledged command
(callers are answered only after their batch committed). The committer thread needs nothing
of this: what its commit raises is the failed commit above.

``RAISE_IN_ENGINE`` is the fault tests inject this with (as ``BOURSE_TEST_CRASH_AFTER_COMMIT``
in ``bus.engine_server`` injects a crash after a commit).
"""

from __future__ import annotations

import os

#: tests only: the engine thread raises ``InjectedFault`` (outside any command) when it closes
#: the batch holding the Nth command it took since the process started
RAISE_IN_ENGINE = "BOURSE_TEST_RAISE_IN_ENGINE"


class InjectedFault(RuntimeError):
    """The fault ``RAISE_IN_ENGINE`` asked for."""


class Fault:
    """Counts the commands whose batches close; raises once the ``at``-th one does."""

    def __init__(self, at: int) -> None:
        self.at = at
        self.seen = 0

    def count(self, commands: int) -> None:
        self.seen += commands
        if self.seen >= self.at:
            raise InjectedFault(f"{RAISE_IN_ENGINE}={self.at}: command {self.seen}")


def fault_from_env() -> Fault | None:
    """The fault the environment asks for (``RAISE_IN_ENGINE``), if any."""
    at = os.environ.get(RAISE_IN_ENGINE, "")
    return Fault(int(at)) if at else None
