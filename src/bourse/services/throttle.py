"""Fixed-window counters, and the throttle in front of every credential check.

``FixedWindows`` is the one counter primitive: ``count(key, window_ms, now)`` adds to the
count of ``key`` in the window holding ``now`` and returns that count and the milliseconds
until the window ends. The MEXC request budgets (``bourse.api.mexc.ratelimit``) and the
credential throttle below are both built on it. State is in-process, one per worker.

``CredentialThrottle`` (limits in ``bourse.config.AuthLimits``) guards the checks that cost
something or guess something: the log-in and sign-up pages, client authentication at
``/oauth/token``, ``/oauth/revoke`` and ``/oauth/introspect``, and sub-account fund passwords
(``bourse.services.subaccounts.funds``). Before a check, ``begin`` counts the attempt per
client IP and per account (the e-mail, client id or sub-account, known or not, so
the answer never tells which exist) and raises ``Throttled`` (with the seconds to wait) once
either is over its limit; the expensive check then does not run. A check that succeeds is
given back (``succeeded``), so the budgets count failures (and attempts in flight, which keeps
a burst of concurrent guesses inside the budget too).

``FailureWindow`` counts failed operator credentials per client address (a sliding window):
the operator API (``/admin/v1``), the operator console's sign-in and ``/metrics`` share one.
It refuses wrong credentials from a noisy address, never the right one.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from bourse.config import AuthLimits

_PRUNE_AT = 50_000
#: failed operator credentials per address allowed within ``FAILURE_WINDOW_S``
MAX_FAILURES = 5
FAILURE_WINDOW_S = 60.0
#: addresses ``FailureWindow`` remembers at most (the least recently failed is forgotten)
MAX_FAILURE_SOURCES = 10_000


def seconds(ms: int) -> int:
    """Whole seconds (at least 1) covering ``ms``: a ``Retry-After`` value."""
    return max(1, -(-ms // 1000))


def client_ip(forwarded_for: Sequence[str] | None, peer: str | None, trust_forwarded: bool) -> str:
    """The client's IP: with a trusted proxy, the last hop of the request's ``X-Forwarded-For``
    headers (``forwarded_for``, in order), the address the proxy itself saw and appended; else
    the TCP peer. Hops before it are what the client sent (a proxy appends to the header it
    got), so the first one is whatever a client chose."""
    if trust_forwarded and forwarded_for:
        last = ", ".join(forwarded_for).rsplit(",", 1)[-1].strip()
        if last:
            return last
    return peer or ""


class _Peer(Protocol):
    @property
    def host(self) -> str: ...


class _Headers(Protocol):
    def getlist(self, key: str) -> list[str]: ...


class _Request(Protocol):
    """What ``request_ip`` reads of a request (a Starlette ``Request``)."""

    @property
    def client(self) -> _Peer | None: ...

    @property
    def headers(self) -> _Headers: ...


def request_ip(request: _Request, trust_forwarded: bool) -> str:
    """``client_ip`` of a web request: its ``X-Forwarded-For`` headers and its TCP peer."""
    peer = request.client.host if request.client else None
    return client_ip(request.headers.getlist("x-forwarded-for"), peer, trust_forwarded)


class FixedWindows:
    """Counters per key in fixed windows (``[now - now % window, + window)``); thread-safe."""

    def __init__(self) -> None:
        self._windows: dict[str, list[int]] = {}  # key -> [window start, window length, count]
        self._lock = threading.Lock()

    def count(self, key: str, window_ms: int, now: int, add: int = 1) -> tuple[int, int]:
        """Add ``add`` (may be 0 to look, or -1 to give one back) to ``key``'s count in the
        window holding ``now``; returns ``(count, ms until the window ends)``."""
        start = now - now % window_ms
        with self._lock:
            w = self._windows.get(key)
            if w is None or w[0] != start:
                if add <= 0:
                    return 0, start + window_ms - now
                if len(self._windows) >= _PRUNE_AT:
                    self._prune(now)
                w = self._windows[key] = [start, window_ms, 0]
            w[2] = max(0, w[2] + add)
            return w[2], start + window_ms - now

    def _prune(self, now: int) -> None:
        stale = [k for k, (start, length, _) in self._windows.items() if start + length <= now]
        for k in stale:
            del self._windows[k]


class Throttled(Exception):
    """Too many attempts: answer 429 with ``Retry-After: retry_after`` (seconds)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many attempts; retry after {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Attempt:
    """A counted credential check (``CredentialThrottle.begin``)."""

    keys: tuple[tuple[str, int], ...]  # (counter key, window) counted for this attempt
    now: int


class CredentialThrottle:
    """Per-IP and per-account budgets of credential checks (see the module docstring)."""

    def __init__(self, limits: AuthLimits | None = None) -> None:
        self.limits = limits or AuthLimits()
        self.windows = FixedWindows()

    def begin(self, kind: str, ip: str, account: str, now: int) -> Attempt:
        """Count one check of ``kind`` (``login``, ``client``, ``fund``) from ``ip`` for
        ``account``; raises ``Throttled`` (nothing counted) when the IP or the account is over
        budget."""
        lim = self.limits
        if not lim.enabled:
            return Attempt((), now)
        budgets = [(f"{kind}:ip:{ip}", *lim.per_ip)]
        if account:
            budgets.append((f"{kind}:account:{account.lower()}", *lim.per_account))
        counted: list[tuple[str, int]] = []
        for key, limit, window in budgets:
            n, left = self.windows.count(key, window, now)
            counted.append((key, window))
            if n > limit:
                for k, w in counted:
                    self.windows.count(k, w, now, -1)
                raise Throttled(seconds(left))
        return Attempt(tuple(counted), now)

    def succeeded(self, attempt: Attempt) -> None:
        """The check passed: give the attempt back (budgets count failures)."""
        for key, window in attempt.keys:
            self.windows.count(key, window, attempt.now, -1)

    def signup(self, ip: str, now: int) -> None:
        """Count one sign-up from ``ip``; raises ``Throttled`` over ``AuthLimits.signups``."""
        if not self.limits.enabled:
            return
        limit, window = self.limits.signups
        n, left = self.windows.count(f"signup:ip:{ip}", window, now)
        if n > limit:
            raise Throttled(seconds(left))


class FailureWindow:
    """Failed credential checks per client address in a sliding window: ``limit`` failures
    within ``window_s`` and the address is ``blocked`` until the oldest leaves the window.
    The operator API, the operator console's sign-in and ``/metrics`` share one (the same
    credential).

    It slows guessing from one address; it never locks the credential's holder out: callers
    check the credential first (in constant time) and consult ``blocked`` only for a wrong one
    (``bourse.operations.http``). At most ``max_sources`` addresses are remembered; past that
    the one whose last failure is oldest is forgotten (never everyone's count at once), and an
    address whose failures all left the window is forgotten at the next failure."""

    def __init__(
        self,
        limit: int = MAX_FAILURES,
        window_s: float = FAILURE_WINDOW_S,
        max_sources: int = MAX_FAILURE_SOURCES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_sources = max_sources
        self.clock = clock
        #: address -> its latest ``limit`` failure times, least recently failed address first
        self._fails: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def blocked(self, source: str) -> bool:
        """Whether ``source`` has ``limit`` failures within the window (remembers nothing)."""
        with self._lock:
            q = self._fails.get(source)
            return q is not None and len(q) >= self.limit and q[0] > self.clock() - self.window_s

    def failed(self, source: str) -> None:
        """Count one failure of ``source``."""
        with self._lock:
            now = self.clock()
            q = self._fails.pop(source, None)
            if q is None:
                q = deque(maxlen=self.limit)
            q.append(now)
            self._fails[source] = q  # the most recently failed address goes last
            horizon = now - self.window_s
            while self._fails:
                oldest = next(iter(self._fails.values()))
                if len(self._fails) <= self.max_sources and oldest[-1] > horizon:
                    break
                self._fails.popitem(last=False)

    def tracked(self) -> int:
        """How many addresses it remembers (no ``__len__``: an empty window stays truthy)."""
        return len(self._fails)
