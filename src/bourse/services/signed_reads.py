"""Signatures of signed reads over the time window alone, remembered until they expire.

ccxt signs ``timestamp=..&recvWindow=..`` and nothing else both for a read such as
``GET /api/v3/account`` and for a broker write whose parameters travel in a JSON body outside
the signature (``bourse.api.mexc.auth.BODY_OUTSIDE_SIGNATURE``). Reads never claim their
signature through the engine (a durable commit on every balance read), so without this whoever
saw such a read could spend its signature on one broker write with a body of their choosing.
The gateway remembers the replay key of each such read here until the read's own window ends
(its timestamp plus recvWindow: past that, its signature authenticates nothing), and refuses a
request that claims a signature already seen on a read (``bourse.api.mexc.replay``).

In-process and bounded: at most ``limit`` keys (about 150 bytes each). A flood beyond it
drops the expired keys first, then the oldest, so memory stays bounded whatever arrives; the
cost is that a key dropped early no longer refuses its write (docs/security.md). With a bus,
``on_add`` shares each key with the other gateways (``bus.cache_events``, best effort).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from itertools import islice

from bourse.engine.clock import now_ms

#: the most keys kept: a minute of reads at well over a thousand a second
LIMIT = 100_000


class SignedReads:
    """Replay keys of signed reads (hex digests) -> the last ms their signature is valid."""

    def __init__(self, limit: int = LIMIT, clock: Callable[[], int] = now_ms) -> None:
        self.limit = limit
        self.clock = clock
        self._until: dict[bytes, int] = {}
        self._lock = threading.Lock()  # the bus's thread adds the other gateways' keys
        #: keys dropped before they expired, to stay within ``limit``
        self.dropped = 0
        #: told each key added here (``"<hex digest>:<until>"``), to share it
        self.on_add: Callable[[str], None] | None = None

    def add(self, key: str, until: int, now: int) -> None:
        """Remember ``key`` (a replay key) until ``until`` (ms), and share it."""
        self._add(bytes.fromhex(key), until, now)
        if self.on_add is not None:
            self.on_add(f"{key}:{until}")

    def add_shared(self, text: str) -> None:
        """A key another gateway added (``on_add``'s text); an unreadable one is ignored."""
        key, _, until = text.partition(":")
        try:
            self._add(bytes.fromhex(key), int(until), self.clock())
        except ValueError:
            return

    def seen(self, key: str, now: int) -> bool:
        """Whether ``key`` is the key of a read whose signature is still valid at ``now``."""
        until = self._until.get(bytes.fromhex(key))
        return until is not None and until >= now

    def __len__(self) -> int:
        return len(self._until)

    def _add(self, digest: bytes, until: int, now: int) -> None:
        if until < now:
            return
        with self._lock:
            self._until[digest] = until
            if len(self._until) > self.limit:
                self._prune(now)

    def _prune(self, now: int) -> None:
        """Drop the expired keys, then the oldest until a quarter of the room is free again
        (so the next prune is that many adds away: amortized constant time per key)."""
        kept = {k: v for k, v in self._until.items() if v >= now}
        excess = len(kept) - self.limit * 3 // 4
        if excess > 0:
            for k in list(islice(kept, excess)):
                del kept[k]
            self.dropped += excess
        self._until = kept
