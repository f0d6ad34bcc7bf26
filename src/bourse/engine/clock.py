"""The wall clock every part of Bourse reads: milliseconds since the Unix epoch.

The domain never reads it (rules take ``now`` as an argument); the engine and everything above
it take a ``Clock`` so tests can pass a fake one.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], int]


def now_ms() -> int:
    """Milliseconds since the epoch (UTC)."""
    return time.time_ns() // 1_000_000
