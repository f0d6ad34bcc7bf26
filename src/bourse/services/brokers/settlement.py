"""Paying accrued rebates: pending records -> ``PayRebates`` -> settled, crash-safe.

For each (broker, asset) with pending rebates, in this order:

1. **claim** (one transaction): the pending rows move to ``settling`` and get the group's
   ``settlement_key`` (deterministic: derived from the claimed row ids), and a
   ``rebate_settlements`` row records the key, the payee (the broker's rebate account *at
   claim time*), the asset and the amount;
2. **pay**: ``engine PayRebates(key, ((payee, asset, amount),))``, which moves the amount from
   fee revenue to the payee once per key, however often it is sent;
3. **finish** (one transaction): rows and settlement become ``settled``.

A crash after 1 or 2 leaves ``settling`` rows; every run first re-sends ``PayRebates`` for each
``settling`` settlement with its stored key and amount, which pays nothing twice, then
finishes it. A payout the engine refuses (say, fee revenue cannot cover it) marks the group
``failed``; ``retry_failed`` puts those rows back to ``pending``. Groups of brokers that are not
APPROVED are held (left pending) until the broker is approved again.

``RebateScheduler`` runs accrue + settle once a day (UTC, configurable time) on a daemon
thread; ``stop()`` ends it promptly.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from bourse.domain.brokers import RebateStatus, settlement_key
from bourse.domain.errors import DomainError
from bourse.engine import Engine as BourseEngine
from bourse.engine import commands as c
from bourse.engine.clock import Clock, now_ms
from bourse.services.brokers.registry import Registry
from bourse.store.repositories.rebates import RebateRepository

log = logging.getLogger("bourse.services.brokers.settlement")

MAX_RECORDS_PER_PAYOUT = 50_000


@dataclass(slots=True)
class SettlementReport:
    paid: list[dict[str, Any]] = field(
        default_factory=list
    )  # {"key","broker_id","asset","amount","count"}
    recovered: list[str] = field(default_factory=list)  # keys finished from a previous run
    failed: list[dict[str, Any]] = field(default_factory=list)  # {"key", "error"}
    held: list[tuple[int, str]] = field(default_factory=list)  # (broker, asset) not approved
    in_flight: list[str] = field(default_factory=list)  # keys left settling (engine down)


class Settlement:
    def __init__(
        self, db: Engine, engine: BourseEngine, registry: Registry, *, clock: Clock = now_ms
    ) -> None:
        self.db = db
        self.repo = RebateRepository(db)
        self.engine = engine
        self.registry = registry
        self.clock = clock
        self._run_lock = threading.Lock()  # one settlement at a time in this process

    # --- the run -------------------------------------------------------------------------------
    def settle(self, broker_id: int | None = None, max_groups: int = 10_000) -> SettlementReport:
        """Recover in-flight payouts, then pay every pending (broker, asset) group."""
        report = SettlementReport()
        with self._run_lock:
            self._recover(report, broker_id, max_groups)
            groups = self.repo.pending_groups(RebateStatus.PENDING.value, broker_id, max_groups)
            for bid, asset in groups:
                try:
                    broker = self.registry.get(bid)
                except DomainError:
                    report.held.append((bid, asset))
                    continue
                if not broker.approved:
                    report.held.append((bid, asset))
                    continue
                claimed = self._claim(bid, broker.rebate_account_id, asset)
                if claimed is None:
                    continue
                key, payee, amount, count = claimed
                self._pay(report, key, bid, payee, asset, amount, count, recovered=False)
        return report

    def _recover(self, report: SettlementReport, broker_id: int | None, limit: int) -> None:
        for row in self.repo.settlements_in(RebateStatus.SETTLING.value, broker_id, limit):
            self._pay(
                report,
                row.key,
                int(row.broker_id),
                int(row.account_id),
                row.asset,
                int(row.amount),
                int(row.count),
                recovered=True,
            )

    def _claim(self, broker_id: int, payee: int, asset: str) -> tuple[str, int, int, int] | None:
        """Step 1: move the group's pending rows to ``settling`` under one key, atomically.

        The first statement is the claiming UPDATE (under a temporary key), so concurrent
        claims serialize on the rows instead of reading the same ones: each row is claimed by
        exactly one settlement. The key is then derived from the ids actually claimed.
        """
        now = self.clock()

        def settle(ids: list[int], amount: int) -> dict[str, Any]:
            return {
                "key": settlement_key(broker_id, asset, ids),
                "broker_id": broker_id,
                "account_id": payee,
                "asset": asset,
                "amount": amount,
                "count": len(ids),
                "status": RebateStatus.SETTLING.value,
                "error": "",
                "created": now,
                "updated": now,
            }

        claimed = self.repo.claim(
            broker_id,
            asset,
            RebateStatus.PENDING.value,
            RebateStatus.SETTLING.value,
            f"claim:{uuid.uuid4().hex}",
            MAX_RECORDS_PER_PAYOUT,
            settle,
        )
        if claimed is None:
            return None
        return claimed["key"], payee, claimed["amount"], claimed["count"]

    def _pay(
        self,
        report: SettlementReport,
        key: str,
        broker_id: int,
        payee: int,
        asset: str,
        amount: int,
        count: int,
        *,
        recovered: bool,
    ) -> None:
        """Steps 2 and 3 for one claimed settlement."""
        try:
            if amount > 0:
                self.engine.execute(c.PayRebates(key, ((payee, asset, amount),)))
        except DomainError as exc:
            self._finish(key, RebateStatus.FAILED, exc.message or str(exc))
            report.failed.append({"key": key, "error": exc.message or str(exc)})
            return
        except Exception as exc:  # engine down / timeout: outcome unknown, retried next run
            log.warning("rebate payout %s not confirmed: %s", key, exc)
            report.in_flight.append(key)
            return
        self._finish(key, RebateStatus.SETTLED, "")
        if recovered:
            report.recovered.append(key)
        else:
            report.paid.append(
                {
                    "key": key,
                    "broker_id": broker_id,
                    "asset": asset,
                    "amount": amount,
                    "count": count,
                }
            )

    def _finish(self, key: str, status: RebateStatus, error: str) -> None:
        now = self.clock()
        self.repo.finish(
            key,
            RebateStatus.SETTLING.value,
            status.value,
            now if status is RebateStatus.SETTLED else None,
            error[:256],
            now,
        )

    def retry_failed(self, broker_id: int | None = None) -> int:
        """Put failed rows back to ``pending`` (the next run pays them); returns how many."""
        return self.repo.reset(RebateStatus.FAILED.value, RebateStatus.PENDING.value, broker_id)

    def settlements(self, broker_id: int, limit: int = 100) -> list[Any]:
        return self.repo.settlements(broker_id, limit)

    def pending_total(self, broker_id: int, asset: str) -> int:
        return self.repo.pending_total(broker_id, asset, RebateStatus.PENDING.value)


def next_run(now_ms_: int, at: str) -> int:
    """The next UTC time of day ``at`` ("HH:MM") strictly after ``now_ms_`` (ms)."""
    hh, mm = (int(x) for x in at.split(":", 1))
    if not (0 <= hh < 24 and 0 <= mm < 60):
        raise ValueError(f"bad time of day {at!r}")
    now = datetime.fromtimestamp(now_ms_ / 1000, UTC)
    run = now.replace(hour=hh, minute=mm, second=0, microsecond=0)
    if run <= now:
        run += timedelta(days=1)
    return int(run.timestamp() * 1000)


class RebateScheduler:
    """Accrue and settle once a day at ``at`` (UTC "HH:MM"), on a daemon thread.

    ``run_once`` is the on-demand call (also what the thread runs). The thread waits on an
    event, so ``stop`` returns at once; ``max_runs`` bounds it (None: until stopped).
    """

    def __init__(
        self,
        run: Any,  # () -> Any: accrue then settle
        *,
        at: str = "00:05",
        clock: Clock = now_ms,
        max_runs: int | None = None,
    ) -> None:
        next_run(0, at)  # validate
        self.run = run
        self.at = at
        self.clock = clock
        self.max_runs = max_runs
        self.runs = 0
        self.last_error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> RebateScheduler:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="bourse-rebates", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run_once(self) -> Any:
        try:
            return self.run()
        except Exception as exc:  # keep the scheduler alive; the next day retries
            self.last_error = exc
            log.exception("daily rebate run failed")
            return None
        finally:
            self.runs += 1

    def _loop(self) -> None:
        while self.max_runs is None or self.runs < self.max_runs:
            now = self.clock()
            wait_s = max(0.0, (next_run(now, self.at) - now) / 1000)
            if self._stop.wait(wait_s):
                return
            self.run_once()
