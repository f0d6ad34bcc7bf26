"""User referrals: refer codes, invitations at sign-up, and the kickbacks paid on invitees' fees.

The rules (who earns what share of which fee) are in ``bourse.domain.referrals``; this module
stores and pays them. The running server calls ``accrue_pending`` from a follower of the
engine's change feed after every batch with a trade of an invitee (``bus.followers``, ``Referrals.wants``), so a
kickback is paid moments after its fill. ``Referrals.accrue_pending()`` is the whole job, safe to run at any time,
from any number of threads or processes, as often as wanted:

1. **accrue** (one write transaction per chunk of trades after the watermark): each kickback owed on
   the chunk's trades becomes one ``referral_kickbacks`` row (UNIQUE per trade, side and kind;
   inserts ignore conflicts) under the chunk's payout key, and the watermark moves past the
   chunk, in the same transaction. A crash or a concurrent run never counts a trade twice.
2. **pay**: for each payout key with pending rows, the engine's ``PayRebates(key, payouts)``
   (the broker program's payout command) moves the sums from fee revenue to the earners, once
   per key however often it is sent; then the rows become ``paid``. The payouts of a key are
   read back from its rows, so a re-run after a crash between the payout and the update sends
   the same key with the same payouts and pays nothing twice.

A payout the engine refuses (fee revenue cannot cover it) stays pending and is retried by the
next run.
"""

from __future__ import annotations

import logging
import secrets
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bourse.domain import referrals as d
from bourse.domain.errors import DomainError
from bourse.engine import Engine
from bourse.engine import commands as c
from bourse.engine.changes import BatchChanges
from bourse.engine.clock import Clock, now_ms
from bourse.store.repositories.referrals import ReferralRepository

log = logging.getLogger("bourse.services.referrals")

CURSOR = "referrals.trade_id"
#: ``pg_advisory_xact_lock`` key serialising referral accrual chunks across processes
ACCRUE_LOCK_KEY = 0x7265666572
YEAR_MS = 365 * 86_400_000
#: seconds between reloads of the invitee set (invitations made by another process)
INVITEES_RELOAD_S = 60.0
_ALPHABET = string.ascii_letters + string.digits


def random_code() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(8))


@dataclass(slots=True)
class AccrualRun:
    trades: int = 0  # trades read
    kickbacks: int = 0  # rows inserted
    cursor: int = 0  # last trade id accrued
    paid: list[str] = field(default_factory=list)  # payout keys paid (or found already paid)
    failed: list[dict[str, str]] = field(default_factory=list)  # {"key", "error"}


class Referrals:
    """Refer codes, invitations and kickbacks over one database and one engine."""

    def __init__(
        self,
        repo: ReferralRepository,
        engine: Engine,
        *,
        inviter_ppm: int = d.DEFAULT_INVITER_PPM,
        invitee_ppm: int = d.DEFAULT_INVITEE_PPM,
        clock: Clock = now_ms,
        new_code: Callable[[], str] = random_code,
    ) -> None:
        self.repo = repo
        self.engine = engine
        self.inviter_ppm, self.invitee_ppm = d.check_rates(inviter_ppm, invitee_ppm)
        self.clock = clock
        self.new_code = new_code
        self._lock = threading.Lock()  # one accrual at a time in this process
        #: the accounts that have an inviter (None until loaded): ``wants`` reads it on the
        #: engine thread, so it is swapped whole, never changed in place
        self._invitees: frozenset[int] | None = None
        self._loaded_at = 0.0

    # --- codes and invitations -------------------------------------------------------------
    def refer_code(self, account: int, *, attempts: int = 16) -> str:
        """``account``'s refer code, made on first use (a concurrent first use gets the same)."""
        for _ in range(attempts):
            code = self.repo.code_of(account)
            if code is not None:
                return code
            self.repo.insert_code(account, self.new_code(), self.clock())
        raise RuntimeError("could not allocate a refer code")

    def inviter_of_code(self, code: str) -> int:
        """The account whose refer code is ``code``, or ``UnknownReferCode``."""
        code = d.check_refer_code(code)
        inviter = self.repo.account_by_code(code)
        if inviter is None:
            raise d.UnknownReferCode("Refer code does not exist.")
        return inviter

    def invite(self, invitee: int, code: str) -> int:
        """Record that ``invitee`` signed up with ``code``; returns the inviter. Made once."""
        inviter = self.inviter_of_code(code)
        if inviter == invitee:
            raise d.SelfReferral("You cannot use your own refer code.")
        if not self.repo.invite(invitee, inviter, code.strip(), self.clock()):
            raise d.AlreadyInvited("This account already has an inviter.")
        if self._invitees is not None:
            self._invitees = self._invitees | {invitee}
        return inviter

    def wants(self, changes: BatchChanges) -> bool:
        """Whether a committed batch holds a trade of an invitee (the change-feed follower's
        ``wants``; runs on the engine thread, so it only looks at the batch and a set). Before
        the set is loaded every batch with trades is wanted; the follower's idle tick picks up
        invitations recorded by another process."""
        invitees = self._invitees
        if invitees is None:
            return bool(changes.trades)
        return any(
            t.buyer_account in invitees or t.seller_account in invitees for t in changes.trades
        )

    def invitation(self, invitee: int) -> Any:
        return self.repo.invitation(invitee)

    # --- the job ---------------------------------------------------------------------------
    def accrue_pending(
        self, *, chunk: int = 2000, max_chunks: int = 10_000, max_payouts: int = 10_000
    ) -> AccrualRun:
        """Accrue every trade not yet seen, then pay every pending payout key (see module)."""
        with self._lock:
            now = time.monotonic()
            if self._invitees is None or now - self._loaded_at > INVITEES_RELOAD_S:
                self._invitees = frozenset(self.repo.invitee_ids())
                self._loaded_at = now
            run = AccrualRun()
            self._accrue(run, chunk, max_chunks)
            self._pay(run, max_payouts)
            return run

    def _accrue(self, run: AccrualRun, chunk: int, max_chunks: int) -> None:
        repo = self.repo
        with repo.db.connect() as conn:  # nothing to do: do not take the write lock for it
            run.cursor = repo.cursor(conn, CURSOR)
            if not repo.trades_after(conn, run.cursor, 1):
                return
        for _ in range(max_chunks):
            with repo.begin_write() as conn:
                repo.lock_accrual(conn, ACCRUE_LOCK_KEY)
                cursor = repo.cursor(conn, CURSOR)
                rows = repo.trades_after(conn, cursor, chunk)
                if not rows:
                    run.cursor = cursor
                    return
                accounts = {int(r.buyer_account) for r in rows} | {
                    int(r.seller_account) for r in rows
                }
                invitations = {
                    int(i.invitee_account): d.Invitation(int(i.inviter_account), int(i.invited_at))
                    for i in repo.invitations(conn, accounts)
                }
                key = d.payout_key(int(rows[0].id), int(rows[-1].id))
                now = self.clock()
                values = [
                    {
                        "trade_id": k.trade_id,
                        "side": k.side,
                        "kind": k.kind.value,
                        "earner_account": k.earner,
                        "invitee_account": k.invitee,
                        "symbol": k.symbol,
                        "asset": k.asset,
                        "fee": k.fee,
                        "amount": k.amount,
                        "rate_ppm": k.rate_ppm,
                        "usdt": k.value,
                        "trade_time": k.time,
                        "payout_key": key,
                        "status": d.KickbackStatus.PENDING.value,
                        "paid_at": None,
                        "created": now,
                    }
                    for r in rows
                    if invitations
                    for k in d.kickbacks(
                        r, r.base, r.quote, invitations, self.inviter_ppm, self.invitee_ppm
                    )
                ]
                if values:
                    run.kickbacks += repo.insert_kickbacks(conn, values)
                run.cursor = int(rows[-1].id)
                repo.set_cursor(conn, CURSOR, run.cursor)
                run.trades += len(rows)
            if len(rows) < chunk:
                return

    def _pay(self, run: AccrualRun, max_payouts: int) -> None:
        for key in self.repo.pending_keys(max_payouts):
            payouts = tuple(self.repo.payouts(key))
            try:
                self.engine.execute(c.PayRebates(key, payouts))
            except DomainError as exc:
                log.warning("referral payout %s refused: %s", key, exc)
                run.failed.append({"key": key, "error": exc.message or str(exc)})
                continue
            self.repo.mark_paid(key, self.clock())
            run.paid.append(key)

    # --- read models -----------------------------------------------------------------------
    def window(self, start: int | None, end: int | None, span: int = YEAR_MS) -> tuple[int, int]:
        """MEXC's default window: the last ``span`` (a year) when neither end is given."""
        if start is None and end is None:
            end = self.clock()
            return end - span, end
        return (0 if start is None else start), (self.clock() if end is None else end)

    def invitees(
        self,
        inviter: int,
        start: int | None,
        end: int | None,
        page: int,
        page_size: int,
        **filters: Any,
    ) -> tuple[int, list[Any]]:
        return self.repo.invitees(inviter, start, end, page, page_size, **filters)

    def records(
        self,
        earner: int,
        kind: d.Kind,
        start: int | None,
        end: int | None,
        page: int,
        page_size: int,
    ) -> tuple[int, list[Any]]:
        return self.repo.records(earner, kind.value, start, end, page, page_size)

    # --- affiliate read models (``api/mexc/affiliate.py``) ----------------------------------
    def invitee_page(
        self, inviter: int, start: int | None, end: int | None, page: int, size: int, **kw: Any
    ) -> tuple[int, list[Any]]:
        return self.repo.invitee_page(inviter, start, end, page, size, **kw)

    def activity(
        self, accounts: list[int], start: int | None, end: int | None
    ) -> dict[int, dict[str, Any]]:
        return self.repo.activity(accounts, d.VALUE_ASSET, start, end)

    def commission_rows(
        self, earner: int, start: int, end: int, limit: int, code: str | None = None
    ) -> list[Any]:
        return self.repo.commission_rows(earner, start, end, limit, code=code)

    def payouts_to(
        self, earner: int, start: int, end: int, page: int, size: int
    ) -> tuple[int, list[Any]]:
        return self.repo.payouts_to(earner, start, end, page, size)

    def sub_affiliates(
        self, inviter: int, page: int, size: int, code: str | None = None
    ) -> tuple[int, list[Any]]:
        return self.repo.sub_affiliates(inviter, page, size, code=code)

    def invitees_of(self, affiliates: list[int]) -> dict[int, list[int]]:
        return self.repo.invitees_of(affiliates)
