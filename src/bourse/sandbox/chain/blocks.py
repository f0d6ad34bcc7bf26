"""What the simulated chain does in one block: include, confirm, credit, sign and broadcast.

* **Deposits**: a block includes every payment in the mempool; once one has its network's
  confirmations it is credited through the engine's ``CreditDeposit`` with
  ``tx_ref = "txid:vout"``, so a re-reported payment, a retried credit or a crash between the
  engine commit and the chain's bookkeeping never credits twice.
* **Withdrawals**: withdrawals the engine holds as ``PENDING`` are signed: a txid is chosen and
  stored *before* the engine is told (``MarkWithdrawalProcessing``), so a crash re-broadcasts
  the same transaction. A later block includes it; after its confirmations the chain says
  either success (``SettleWithdrawal``) or failure (``VoidWithdrawal(failed=True)``, which
  releases the reserve). A ``STUCK`` one is never included, and its funds stay locked for as
  long as the chain says nothing: an unknown outcome is never refunded (broker-anchors C.3).

Each step handles at most ``max_per_block`` deposits and withdrawals.
"""

from __future__ import annotations

import copy
import logging
import random
from dataclasses import dataclass, field
from typing import Any

from bourse.domain.errors import DomainError
from bourse.domain.money import Asset
from bourse.domain.wallet import FINAL_WITHDRAWAL, Withdrawal, WithdrawalStatus
from bourse.engine import Engine
from bourse.engine import commands as c
from bourse.engine.clock import Clock
from bourse.sandbox.chain.addresses import withdrawal_txid
from bourse.sandbox.chain.networks import ChainConfig
from bourse.services.wallet.chain import ChainDeposit
from bourse.store.repositories.chain import ChainRepository

log = logging.getLogger("bourse.sandbox.chain")


@dataclass(slots=True)
class BlockReport:
    """What ``advance`` did (summed over the blocks it mined)."""

    height: int = 0
    credited: int = 0
    broadcast: int = 0
    settled: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def deposit_from_row(row: Any) -> ChainDeposit:
    return ChainDeposit(
        row["id"],
        row["network"],
        row["txid"],
        row["vout"],
        row["coin"],
        row["address"],
        row["memo"],
        row["amount"],
        row["account_id"],
        row["block"],
        row["confirmations"],
        row["required"],
        row["status"],
        bool(row["credited"]),
        row["created"],
        row["updated"],
    )


class BlockProducer:
    """Mines blocks for a ``SimulatedChain`` (which owns the height and the lock)."""

    def __init__(
        self,
        engine: Engine,
        repo: ChainRepository,
        config: ChainConfig,
        secret: bytes,
        *,
        failure_rate: float,
        stuck_rate: float,
        seed: int | None,
        max_per_block: int,
        command_timeout: float,
        clock: Clock,
    ) -> None:
        self.engine = engine
        self.repo = repo
        self.config = config
        self.secret = secret
        self.failure_rate = failure_rate
        self.stuck_rate = stuck_rate
        self.max_per_block = max_per_block
        self.command_timeout = command_timeout
        self.clock = clock
        self._rng = random.Random(seed)

    def process(self, height: int, report: BlockReport) -> None:
        """Block ``height`` was mined: credit and settle what it confirms, then sign and
        broadcast what waits."""
        self._confirm_deposits(height, report)
        self._confirm_withdrawals(height, report)
        self._recover_signed(report)
        self._broadcast(report)

    def busy(self) -> bool:
        """Whether anything waits for a block (or a withdrawal for its broadcast)."""
        if self.repo.waiting():
            return True

        def pending(e: Engine) -> bool:
            return any(x.status is WithdrawalStatus.PENDING for x in e.wallet.withdrawals.values())

        return bool(self.engine.read(pending))

    def _execute(self, command: c.Command) -> Any:
        return self.engine.execute(command, timeout=self.command_timeout)

    def _confirm_deposits(self, height: int, report: BlockReport) -> None:
        now = self.clock()
        for row in self.repo.matured_deposits(height, now, self.max_per_block):
            dep = deposit_from_row(row)
            assert dep.account is not None
            try:
                self._execute(c.CreditDeposit(dep.account, dep.coin, dep.amount, dep.tx_ref))
            except DomainError as exc:  # e.g. the asset was removed: stays pending, logged
                report.errors.append(f"deposit {dep.tx_ref}: {exc}")
                log.warning("deposit %s not credited: %s", dep.tx_ref, exc)
                continue
            except Exception as exc:  # engine unavailable: the next block retries
                report.errors.append(f"deposit {dep.tx_ref}: {exc}")
                log.warning("deposit %s not credited yet: %s", dep.tx_ref, exc)
                continue
            # credited now or already before (CreditDeposit is idempotent by tx_ref)
            self.repo.credited(dep.id, dep.confirmations, now)
            report.credited += 1

    def _confirm_withdrawals(self, height: int, report: BlockReport) -> None:
        now = self.clock()
        for row in self.repo.matured_withdrawals(height, now, self.max_per_block):
            wid, txid = row["withdrawal_id"], row["txid"]
            ok = row["outcome"] == "OK"
            command: c.Command = (
                c.SettleWithdrawal(wid, txid) if ok else c.VoidWithdrawal(wid, failed=True)
            )
            final: str | None
            try:
                self._execute(command)
                final = "CONFIRMED" if ok else "FAILED"
            except DomainError as exc:
                final = self._final_status(wid)  # already told before a crash?
                if final is None:
                    report.errors.append(f"withdrawal {wid}: {exc}")
                    log.warning("withdrawal %d not finalised: %s", wid, exc)
                    continue
            except Exception as exc:
                report.errors.append(f"withdrawal {wid}: {exc}")
                log.warning("withdrawal %d not finalised yet: %s", wid, exc)
                continue
            self.repo.finished(wid, final, row["confirmations"], now)
            if final == "CONFIRMED":
                report.settled += 1
            else:
                report.failed += 1

    def _final_status(self, wid: int) -> str | None:
        """The chain status matching the engine's final state of ``wid``, if it is final."""
        stored: Withdrawal | None = self.engine.store.get_withdrawal(wid)
        if stored is None or stored.status not in FINAL_WITHDRAWAL:
            return None
        return {
            WithdrawalStatus.SUCCESS: "CONFIRMED",
            WithdrawalStatus.FAILED: "FAILED",
        }.get(stored.status, "ABORTED")

    def _asset(self, code: str) -> Asset | None:
        return self.engine.read(lambda e: e.wallet.assets.get(code))

    def _open_withdrawal(self, wid: int) -> Withdrawal | None:
        return self.engine.read(lambda e: copy.copy(e.wallet.withdrawals.get(wid)))

    def _recover_signed(self, report: BlockReport) -> None:
        """Rows signed but not acknowledged as broadcast (a crash, or a cancel that won)."""
        for wid, txid in self.repo.signed(self.max_per_block):
            self._tell_broadcast(wid, txid, report)

    def _outcome(self) -> str:
        r = self._rng.random()
        if r < self.failure_rate:
            return "FAIL"
        return "STUCK" if r < self.failure_rate + self.stuck_rate else "OK"

    def _broadcast(self, report: BlockReport) -> None:
        limit = self.max_per_block

        def pending(e: Engine) -> list[Withdrawal]:
            out = []
            for wd in e.wallet.withdrawals.values():
                if wd.status is WithdrawalStatus.PENDING:
                    out.append(copy.copy(wd))
            out.sort(key=lambda x: x.id)
            return out[:limit]

        for wd in self.engine.read(pending):
            known = self.repo.withdrawal(wd.id)
            if known is not None:
                if known[1] == "SIGNED":
                    self._tell_broadcast(wd.id, known[0], report)
                continue
            asset = self._asset(wd.asset)
            net = self.config.by_id(asset, wd.network) if asset is not None else None
            txid = withdrawal_txid(self.secret, wd.id, net.style if net is not None else "plain")
            now = self.clock()
            signed = self.repo.add_signed(
                withdrawal_id=wd.id,
                network=wd.network,
                coin=wd.asset,
                txid=txid,
                block=None,
                confirmations=0,
                required=net.confirmations if net is not None else 1,
                outcome=self._outcome(),
                created=now,
                updated=now,
            )
            if signed:
                self._tell_broadcast(wd.id, txid, report)

    def _tell_broadcast(self, wid: int, txid: str, report: BlockReport) -> None:
        """Tell the engine a signed transaction is out; record what the engine says."""
        status: str | None
        try:
            self._execute(c.MarkWithdrawalProcessing(wid, txid))
            status = "BROADCAST"
            report.broadcast += 1
        except DomainError:
            cur = self._open_withdrawal(wid)
            if cur is not None and cur.status is WithdrawalStatus.PROCESSING and cur.txid == txid:
                status = "BROADCAST"  # told before a crash
            elif cur is not None:
                status = None  # back in review? leave it signed, try again later
            else:
                final = self._final_status(wid)
                # cancelled before the broadcast reached the engine: nothing went out
                status = "ABORTED" if final in (None, "ABORTED") else final
        except Exception as exc:
            report.errors.append(f"withdrawal {wid}: {exc}")
            log.warning("withdrawal %d broadcast not acknowledged yet: %s", wid, exc)
            return
        if status is None:
            return
        self.repo.announced(wid, status, self.clock())
