"""Faults a sandbox injects on purpose, per endpoint: what a bot must survive.

A ``Fault`` applies to the requests whose path matches its ``pattern`` (shell-style, e.g.
``/api/v3/order`` or ``/api/v3/*``; WebSocket paths too) until it expires:

* ``latency``: the answer comes ``latency_ms`` later;
* ``error``: a share ``rate`` (0..1) of the requests is answered ``{"code": code, "msg": ...}``
  with HTTP ``status`` instead of being served;
* ``maintenance``: every request gets MEXC's maintenance answer (HTTP 503, code 801);
* ``throttle``: every request gets HTTP 429 (code 429) with ``Retry-After: retry_after_s``;
* ``drop_ws``: WebSocket connections are closed (open ones within a second, new ones at once).

Every fault is bounded: it expires ``duration_s`` after it was added. ``FaultTable`` is the
small interface the gateway's middleware (``bourse.sandbox.fault_middleware``) reads and the
operations (``sandbox.fault``, ``sandbox.faults``, ``sandbox.clear``) write; ``MemoryFaults``
keeps it in this process (a table shared by several processes would be another adapter).
"""

from __future__ import annotations

import fnmatch
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

KINDS = ("latency", "error", "maintenance", "throttle", "drop_ws")
#: the longest a fault may last (seconds)
MAX_DURATION_S = 86_400
MAX_FAULTS = 100


@dataclass(frozen=True, slots=True)
class Fault:
    id: int
    pattern: str
    kind: str
    expires: float
    latency_ms: int = 0
    rate: float = 1.0
    code: int = 500
    status: int = 500
    retry_after_s: int = 1
    msg: str = ""

    def matches(self, path: str) -> bool:
        return fnmatch.fnmatchcase(path, self.pattern)

    def as_json(self, now: float) -> dict[str, Any]:
        out = asdict(self)
        del out["expires"]
        out["expires_in_s"] = max(0, round(self.expires - now))
        return out


class FaultTable(Protocol):
    """Where the active faults live (the middleware asks ``active`` on every request)."""

    def add(self, fault: Fault) -> Fault: ...

    def active(self, path: str) -> list[Fault]: ...

    def list(self) -> list[Fault]: ...

    def clear(self, fault_id: int | None = None, pattern: str | None = None) -> int: ...

    def next_id(self) -> int: ...


class MemoryFaults:
    """A ``FaultTable`` in this process's memory."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._ids = 0

    def next_id(self) -> int:
        with self._lock:
            self._ids += 1
            return self._ids

    def _live(self) -> list[Fault]:
        now = self.clock()
        if any(f.expires <= now for f in self._faults):
            self._faults = [f for f in self._faults if f.expires > now]
        return self._faults

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            live = self._live()
            if len(live) >= MAX_FAULTS:
                raise ValueError(f"at most {MAX_FAULTS} faults at a time: clear some first")
            self._faults = [*live, fault]
        return fault

    def active(self, path: str) -> list[Fault]:
        faults = self._faults  # one read of the list: no lock on the hot path
        if not faults:
            return []
        now = self.clock()
        return [f for f in faults if f.expires > now and f.matches(path)]

    def list(self) -> list[Fault]:
        with self._lock:
            return list(self._live())

    def clear(self, fault_id: int | None = None, pattern: str | None = None) -> int:
        """Remove the fault ``fault_id``, or those with ``pattern``, or all; how many went."""
        with self._lock:
            live = self._live()
            keep = [
                f
                for f in live
                if (fault_id is not None and f.id != fault_id)
                or (pattern is not None and f.pattern != pattern)
            ]
            self._faults = keep
            return len(live) - len(keep)


__all__ = ["KINDS", "MAX_DURATION_S", "Fault", "FaultTable", "MemoryFaults"]
