"""The broker program: registry, key bindings, attribution, rebate accrual and settlement.

``Brokers`` bundles them over one database and one engine; ``brokers_of(platform)`` gives the
platform's instance (created on first use). See ``docs/brokers.md``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine as SAEngine

from bourse.services.brokers._util import Clock, now_ms
from bourse.services.brokers.attribution import Attributor
from bourse.services.brokers.bindings import Bindings
from bourse.services.brokers.rebates import AccrualResult, accrue
from bourse.services.brokers.registry import DEFAULT_RATE_PPM, Broker, Registry
from bourse.services.brokers.seed import seed_api_broker
from bourse.services.brokers.settlement import RebateScheduler, Settlement, SettlementReport


@dataclass(slots=True)
class Brokers:
    db: SAEngine
    engine: Any  # bourse.engine.Engine
    registry: Registry
    bindings: Bindings
    attributor: Attributor
    settlement: Settlement
    clock: Clock
    scheduler: RebateScheduler | None = None

    @classmethod
    def create(
        cls,
        db: SAEngine,
        engine: Any,
        *,
        clock: Clock = now_ms,
        default_rate_ppm: int = DEFAULT_RATE_PPM,
    ) -> Brokers:
        registry = Registry(db, clock=clock, default_rate_ppm=default_rate_ppm)
        bindings = Bindings(db, registry, clock=clock)
        return cls(
            db,
            engine,
            registry,
            bindings,
            Attributor(db, registry, bindings, clock=clock),
            Settlement(db, engine, registry, clock=clock),
            clock,
        )

    def accrue(self) -> AccrualResult:
        return accrue(self.db, clock=self.clock)

    def accrue_and_settle(self) -> tuple[AccrualResult, SettlementReport]:
        """The daily job, also callable on demand."""
        return self.accrue(), self.settlement.settle()

    def start_scheduler(self, at: str = "00:05") -> RebateScheduler:
        """Run ``accrue_and_settle`` daily at ``at`` UTC; ``close`` stops it."""
        if self.scheduler is None:
            self.scheduler = RebateScheduler(self.accrue_and_settle, at=at, clock=self.clock)
            self.scheduler.start()
        return self.scheduler

    def close(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None


def brokers_of(platform: Any) -> Brokers:
    """The ``Brokers`` of a ``bourse.services.bundle.Services`` (``platform.brokers`` if it has one)."""
    existing = getattr(platform, "brokers", None)
    if isinstance(existing, Brokers):
        return existing
    made = Brokers.create(platform.db, platform.engine)
    with contextlib.suppress(AttributeError):  # a slotted platform: not cached
        platform.brokers = made
    return made


__all__ = [
    "AccrualResult",
    "Broker",
    "Brokers",
    "Bindings",
    "Attributor",
    "Registry",
    "RebateScheduler",
    "Settlement",
    "SettlementReport",
    "brokers_of",
    "seed_api_broker",
]
