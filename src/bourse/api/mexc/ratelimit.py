"""Per-endpoint request budgets, per IP and per account (UID), as MEXC counts them.

Fixed windows (``bourse.services.throttle.FixedWindows``, the counter the credential throttle
uses too): each (bucket, endpoint) gets ``requests`` per ``window_ms``; the next request
over budget is refused with HTTP 429, a ``Retry-After`` header (whole seconds until the window
ends) and MEXC's error body. An endpoint is a method and a path: ``GET /api/v3/openOrders``
(a read) and ``DELETE /api/v3/openOrders`` (a cancel) have a budget each. Public endpoints are
counted per IP, signed ones per account (UID), and requests that fail authentication per IP (so
guessing credentials is throttled too).

The ban (HTTP 418 with ``Retry-After`` until ``ban_ms`` ends) falls on whoever kept sending
after its 429s (``RateLimits.ban_after`` refusals in one window): the ``sender`` of ``hit``,
for a signed request its credential (the API key, or the OAuth grant), not the account. The
account's budget is shared by its keys, as MEXC counts it, but a read-only key that floods it
bans itself only: the owner's trading key is refused at most with the 429s of the shared
budget of that endpoint, never banned. State is in-process (one limiter per worker).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from bourse.api.mexc.errors import TOO_MANY_REQUESTS, ApiError
from bourse.config import RateLimits
from bourse.engine.clock import now_ms as clock_ms
from bourse.services.throttle import FixedWindows, seconds

#: MEXC answers a banned client with HTTP 418 and this code
BANNED = 418
_MAX_BANNED = 50_000  # bans kept before the expired ones are dropped


class RateLimiter:
    def __init__(self, config: RateLimits, on_refusal: Callable[[int], None] | None = None) -> None:
        self.config = config
        #: called with the HTTP status (429, or 418 while banned) of every refusal (the metrics)
        self.on_refusal = on_refusal
        self._windows = FixedWindows()
        self._banned: dict[str, int] = {}
        self._lock = threading.Lock()

    def budget(self, path: str) -> tuple[int, int]:
        """``(requests, window_ms)`` for ``path``."""
        return self.config.special.get(path) or (self.config.requests, self.config.window_ms)

    def hit(
        self,
        bucket: str,
        path: str,
        now_ms: int | None = None,
        *,
        method: str = "",
        sender: str | None = None,
    ) -> None:
        """Count one request to ``method path`` in ``bucket``; raise the 429 ``ApiError`` when
        over budget, the 418 while ``sender`` (default: ``bucket``) is banned."""
        if not self.config.enabled:
            return
        now = now_ms if now_ms is not None else clock_ms()
        sender = bucket if sender is None else sender
        if self._banned:
            with self._lock:
                until = self._banned.get(sender)
                if until is not None and now >= until:
                    del self._banned[sender]
                elif until is not None:
                    self._refused(BANNED)
                    raise ApiError(
                        BANNED, "IP banned", 418, {"Retry-After": str(seconds(until - now))}
                    )
        limit, window = self.budget(path)
        n, left = self._windows.count(f"{bucket} {method} {path}", window, now)
        if n > limit:
            ban_after = self.config.ban_after
            # the sender's own refusals: another key's 429s on the same budget do not count
            refused, _ = self._windows.count(f"refused {sender} {method} {path}", window, now)
            if ban_after and refused > ban_after:
                with self._lock:
                    if len(self._banned) >= _MAX_BANNED:
                        self._banned = {b: t for b, t in self._banned.items() if t > now}
                    self._banned[sender] = now + self.config.ban_ms
            self._refused(429)
            raise ApiError(
                TOO_MANY_REQUESTS, "Too Many Requests", 429, {"Retry-After": str(seconds(left))}
            )

    def _refused(self, status: int) -> None:
        if self.on_refusal is not None:
            self.on_refusal(status)
