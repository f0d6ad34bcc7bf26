"""Per-endpoint request budgets, per IP and per account (UID), as MEXC counts them.

Fixed windows: each (bucket, endpoint) gets ``requests`` per ``window_ms``; the next request
over budget is refused with HTTP 429, a ``Retry-After`` header (whole seconds until the window
ends) and MEXC's error body. Public endpoints are counted per IP, signed ones per account (UID),
and requests that fail authentication per IP (so guessing credentials is throttled too). A
bucket that keeps going after its 429s (``RateLimits.ban_after`` refusals in one window) is
banned: HTTP 418 with ``Retry-After`` until the ban (``ban_ms``) ends. State is in-process (one
limiter per worker).
"""

from __future__ import annotations

import threading

from bourse.api.mexc.errors import TOO_MANY_REQUESTS, ApiError
from bourse.config import RateLimits
from bourse.engine.clock import now_ms as clock_ms

_PRUNE_AT = 50_000
#: MEXC answers a banned client with HTTP 418 and this code
BANNED = 418


def _seconds(ms: int) -> int:
    """Whole seconds (at least 1) covering ``ms``."""
    return max(1, -(-ms // 1000))


class RateLimiter:
    def __init__(self, config: RateLimits) -> None:
        self.config = config
        self._windows: dict[tuple[str, str], list[int]] = {}
        self._banned: dict[str, int] = {}
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
            until = self._banned.get(bucket)
            if until is not None:
                if now < until:
                    raise ApiError(
                        BANNED, "IP banned", 418, {"Retry-After": str(_seconds(until - now))}
                    )
                del self._banned[bucket]
            w = self._windows.get(key)
            if w is None or w[0] != start:
                if len(self._windows) >= _PRUNE_AT:
                    self._prune(now)
                self._windows[key] = [start, 1]
                return
            w[1] += 1
            if w[1] > limit:
                ban_after = self.config.ban_after
                if ban_after and w[1] - limit > ban_after:
                    self._banned[bucket] = now + self.config.ban_ms
                raise ApiError(
                    TOO_MANY_REQUESTS,
                    "Too Many Requests",
                    429,
                    {"Retry-After": str(_seconds(start + window - now))},
                )

    def _prune(self, now: int) -> None:
        self._banned = {b: until for b, until in self._banned.items() if until > now}
        longest = max([self.config.window_ms, *(w for _, w in self.config.special.values())])
        stale = [k for k, w in self._windows.items() if w[0] + longest < now]
        for k in stale:
            del self._windows[k]
