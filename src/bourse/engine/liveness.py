"""Whether the engine thread still serves: a probe through its own queue, never per command.

A thread that only watches the engine (the heartbeat of ``bus.engine_server``, on another
loop) cannot tell an idle engine thread from a stuck one: both apply nothing. So the watcher
asks ``Liveness.responsive(within)`` at its own pace (every ``bus.heartbeat.INTERVAL_S``), and
each call puts a ``Probe`` on the engine's command queue when the last one was answered. The
engine thread (``engine.pipeline``) answers a probe only where it could answer a command taken
in its place: at once if nothing of its is committing (after taking the engine's lock, which a
command would need), else once the batch being committed is (its commit went through or failed
and the state was rebuilt). A thread stuck in a handler, in a commit, in a listener, or waiting
for a lock a reader never gives back leaves the probe unanswered.

The engine counts as stuck once a probe has waited ``within`` seconds and no batch was
acknowledged meanwhile: an engine working through a backlog (the probe queued behind thousands
of commands) commits batch after batch, and is busy, not stuck. A single commit slower than
``within`` counts as stuck for its duration (choose ``within`` well above a slow commit).
Nothing is added to the order path: one probe per call, answered on the engine thread once per
batch boundary at most.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


class Probe:
    """Put on the engine's queue; ``answer``ed by the engine thread (``engine.pipeline``)."""

    __slots__ = ("sent", "answered")

    def __init__(self, sent: float) -> None:
        self.sent = sent
        self.answered = False

    def answer(self) -> None:
        self.answered = True


class Liveness:
    """``responsive(within)``: the engine thread answered its probe, or is committing batches
    (from any thread: the heartbeat's loop and ``/readyz`` both ask)."""

    def __init__(self, put: Callable[[Any], None], batches: Callable[[], int]) -> None:
        self._put = put
        self._batches = batches
        self._probe: Probe | None = None
        self._seen = -1
        self._moved = float("-inf")
        self._lock = threading.Lock()

    def responsive(self, within: float) -> bool:
        """False once a probe waited ``within`` seconds with no batch acknowledged meanwhile
        (sends the next probe when the last one was answered)."""
        with self._lock:
            now = time.monotonic()
            batches = self._batches()
            if batches != self._seen:
                self._seen, self._moved = batches, now
            probe = self._probe
            if probe is None or probe.answered:
                probe = self._probe = Probe(now)
                self._put(probe)
            return now - probe.sent < within or now - self._moved < within
