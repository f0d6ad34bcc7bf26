"""Per-endpoint request budgets, per IP and per account (UID), as MEXC counts them.

Fixed windows: each (bucket, endpoint) gets ``requests`` per ``window_ms``; the next request
over budget is refused with HTTP 429, a ``Retry-After`` header (whole seconds until the window
ends) and MEXC's error body. Public endpoints are counted per IP; keyed endpoints per IP and
per account, independently. State is in-process (one limiter per worker).
"""

from __future__ import annotations

import threading

from bourse.api.mexc.errors import TOO_MANY_REQUESTS, ApiError
from bourse.config import RateLimits
from bourse.engine.clock import now_ms as clock_ms

_PRUNE_AT = 50_000


class RateLimiter:
    def __init__(self, config: RateLimits) -> None:
        self.config = config
        self._windows: dict[tuple[str, str], list[int]] = {}
        self._lock = threading.Lock()

    def budget(self, path: str) -> tuple[int, int]:
        """``(requests, window_ms)`` for ``path``."""
        return self.config.special.get(path) or (self.config.requests, self.config.window_ms)

    def hit(self, bucket: str, path: str, now_ms: int | None = None) -> None:
        """Count one request; raise the 429 ``ApiError`` when over budget."""
        if not self.config.enabled:
            return
        now = now_ms if now_ms is not None else clock_ms()
        limit, window = self.budget(path)
        start = now - now % window
        key = (bucket, path)
        with self._lock:
            w = self._windows.get(key)
            if w is None or w[0] != start:
                if len(self._windows) >= _PRUNE_AT:
                    self._prune(now)
                self._windows[key] = [start, 1]
                return
            if w[1] >= limit:
                retry = max(1, -(-(start + window - now) // 1000))
                raise ApiError(
                    TOO_MANY_REQUESTS,
                    "Too Many Requests",
                    429,
                    {"Retry-After": str(retry)},
                )
            w[1] += 1

    def _prune(self, now: int) -> None:
        longest = max([self.config.window_ms, *(w for _, w in self.config.special.values())])
        stale = [k for k, w in self._windows.items() if w[0] + longest < now]
        for k in stale:
            del self._windows[k]
