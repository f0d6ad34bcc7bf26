"""``Brokers``: the broker program's parts over one database and one engine, and its daily
settlement job (rebates accrue live: see ``rebates``)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine as SAEngine

from bourse.engine import Engine
from bourse.engine.clock import Clock, now_ms
from bourse.services.brokers.attribution import Attributor
from bourse.services.brokers.bindings import Bindings
from bourse.services.brokers.rebates import AccrualResult, accrue
from bourse.services.brokers.registry import DEFAULT_RATE_PPM, Registry
from bourse.services.brokers.settlement import RebateScheduler, Settlement, SettlementReport


@dataclass(slots=True)
class Brokers:
    db: SAEngine
    engine: Engine
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
        engine: Engine,
        *,
        clock: Clock = now_ms,
        default_rate_ppm: int = DEFAULT_RATE_PPM,
    ) -> Brokers:
        registry = Registry(
            db,
            clock=clock,
            default_rate_ppm=default_rate_ppm,
            accounts=lambda account_id: engine.wallet.accounts.get(account_id),
        )
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

    def settle(
        self, broker_id: int | None = None, *, retry_failed: bool = False
    ) -> SettlementReport:
        """Pay what is due now: optionally put failed rebates back to pending, accrue whatever
        the live follower has not yet (so nothing committed before this call waits a day),
        then settle (``Settlement.settle``: each payout once, however often this runs).

        The scheduled job and ``bourse brokers settle`` both call this."""
        if retry_failed:
            self.settlement.retry_failed(broker_id)
        self.accrue()
        return self.settlement.settle(broker_id)

    def start_scheduler(self, at: str = "00:05") -> RebateScheduler:
        """Run ``settle`` daily at ``at`` UTC; ``close`` stops it."""
        if self.scheduler is None:
            self.scheduler = RebateScheduler(self.settle, at=at, clock=self.clock)
            self.scheduler.start()
        return self.scheduler

    def close(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None
