"""The operator console's health page: the figures ``/metrics`` serves for this process (the
app hands them over as ``Samples``), picked and put in words, and the engine's commits per
second measured between two looks at the page (htmx refreshes it every few seconds)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

#: this process's metrics as a scrape reads them: ``name`` or ``name{k="v",...}`` -> value
Samples = Callable[[], dict[str, float]]


class Health:
    """Reads ``samples`` and remembers the last look, for the commit rate."""

    def __init__(self, samples: Samples, clock: Callable[[], float] = time.monotonic) -> None:
        self.samples = samples
        self.clock = clock
        self._last: tuple[float, float] | None = None  # (when, batches committed)
        self._lock = threading.Lock()

    def figures(self) -> dict[str, Any]:
        s = self.samples()
        now = self.clock()
        batches = s.get("bourse_engine_batches_total", 0.0)
        with self._lock:
            last, rate = self._last, None
            if last is not None and now - last[0] >= 0.5:
                rate = max(0.0, batches - last[1]) / (now - last[0])
            if last is None or now - last[0] >= 0.5:
                self._last = (now, batches)
        withdrawals = {
            k.split('status="', 1)[1].rstrip('"}'): int(v)
            for k, v in s.items()
            if k.startswith("bourse_withdrawals{")
        }
        ledger_ok = s.get("bourse_ledger_check_ok")
        return {
            "queue_depth": int(s.get("bourse_engine_queue_depth", 0)),
            "batches": int(batches),
            "commits_per_s": None if rate is None else f"{rate:.1f}",
            "ws_connections": int(s.get("bourse_ws_connections", 0)),
            "ws_dropped": int(s.get("bourse_ws_slow_consumers_dropped_total", 0)),
            "store_up": bool(s.get("bourse_store_up", 0)),
            "withdrawals": dict(sorted(withdrawals.items())),
            "ledger_ok": None if ledger_ok is None else bool(ledger_ok),
            "ledger_problems": int(s.get("bourse_ledger_check_problems", 0)),
        }
