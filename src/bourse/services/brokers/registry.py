"""The broker registry: applications, review (approve / reject / suspend) and rebate rates.

A broker is identified by an integer **broker id** (``brokers.id``), which is what orders and
trades carry (``orders.broker_id``, ``trades.buyer_broker``/``seller_broker``) and what the
``source`` header names (the decimal id, or the broker's optional ``code``). One main account
applies at most once; rebates go to ``rebate_account_id``, which may differ (MEXC's
"rebate-receiving UID").

Rates are kept as history (``broker_rate_history``): the rate in force at a time is the latest
row with ``effective_from`` at or before it. Rates cannot be back-dated, so a rebate already
accrued is always reproducible from the history. Suspension appends a 0 ppm row (a suspended
broker earns nothing on trades after it) and cancels rates scheduled for later; reinstatement
appends the rate in force just before the suspension (later changes must be scheduled again).
"""

from __future__ import annotations

import builtins
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine

from bourse.domain.brokers import (
    BrokerNotFound,
    BrokerStateError,
    BrokerStatus,
    BrokerType,
    check_may_apply,
    check_rate,
    rate_at,
    transition,
)
from bourse.domain.errors import InvalidParameter
from bourse.domain.wallet import Account
from bourse.engine.clock import Clock, now_ms
from bourse.store.repositories.brokers import BrokerRepository

#: rate given at first approval when none was set (30% of the fee, like Binance's low tier)
DEFAULT_RATE_PPM = 300_000
SUSPENDED_NOTE = "suspended"
_CACHE_TTL_S = 2.0
_CODE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


@dataclass(frozen=True, slots=True)
class Broker:
    id: int
    account_id: int
    rebate_account_id: int
    type: BrokerType
    status: BrokerStatus
    name: str
    code: str | None
    logo_url: str
    callback_url: str
    note: str
    reason: str
    created: int
    updated: int
    #: the OAuth scopes this broker's clients may hold (an OAUTH broker; set at approval)
    oauth_scopes: str = "read trade"

    @property
    def approved(self) -> bool:
        return self.status is BrokerStatus.APPROVED


@dataclass(frozen=True, slots=True)
class RateChange:
    rate_ppm: int
    effective_from: int
    set_at: int
    note: str


def _broker(row: Any) -> Broker:
    return Broker(
        id=int(row.id),
        account_id=int(row.account_id),
        rebate_account_id=int(row.rebate_account_id),
        type=BrokerType(row.type),
        status=BrokerStatus(row.status),
        name=row.name,
        code=row.code,
        logo_url=row.logo_url or "",
        callback_url=row.callback_url or "",
        note=row.note or "",
        reason=row.reason or "",
        created=int(row.created),
        updated=int(row.updated),
        oauth_scopes=row.oauth_scopes or "",
    )


class Registry:
    """Brokers and their rates over the database (``bourse.store.broker_tables``)."""

    def __init__(
        self,
        db: Engine,
        *,
        clock: Clock = now_ms,
        default_rate_ppm: int = DEFAULT_RATE_PPM,
        accounts: Callable[[int], Account | None] | None = None,
    ) -> None:
        self.db = db
        self.repo = BrokerRepository(db)
        #: the exchange account of an id (the engine's), to refuse sub-accounts that apply
        self.accounts = accounts
        self.clock = clock
        self.default_rate_ppm = check_rate(default_rate_ppm)
        self._lock = threading.Lock()
        self._cache: tuple[float, dict[int, Broker], dict[str, int]] | None = None
        #: told after every broker write of this process (``bus.cache_events``: the other
        #: processes drop their cached brokers too, so a suspension holds everywhere at once)
        self.on_forget: Callable[[str], None] | None = None
        #: told after a suspension's commit (quick, never blocking): it ends the broker's OAuth
        #: grants, so their listenKeys' open streams must look again (``services.listenkeys``)
        self.on_suspend: Callable[[], None] | None = None

    # --- reading -------------------------------------------------------------------------------
    def get(self, broker_id: int) -> Broker:
        row = self.repo.get(broker_id)
        if row is None:
            raise BrokerNotFound(f"broker {broker_id} does not exist")
        return _broker(row)

    def by_account(self, account_id: int) -> Broker | None:
        """The broker whose main account is ``account_id`` (None if it never applied)."""
        row = self.repo.by_account(account_id)
        return _broker(row) if row is not None else None

    def list(self, status: BrokerStatus | None = None) -> builtins.list[Broker]:
        return [_broker(r) for r in self.repo.all(None if status is None else status.value)]

    def cached(self) -> tuple[dict[int, Broker], dict[str, int]]:
        """(id -> broker, code -> id), refreshed every couple of seconds and on our writes.

        This is the attribution path of every order, so it must not hit the database each time.
        """
        mono = time.monotonic()
        snap = self._cache
        if snap is not None and snap[0] > mono:
            return snap[1], snap[2]
        by_id = {b.id: b for b in self.list()}
        by_code = {b.code: b.id for b in by_id.values() if b.code}
        with self._lock:
            self._cache = (mono + _CACHE_TTL_S, by_id, by_code)
        return by_id, by_code

    def cached_snapshot(self) -> tuple[dict[int, Broker], dict[str, int]] | None:
        """``cached()`` if it is fresh, else None (never reads the database)."""
        snap = self._cache
        if snap is not None and snap[0] > time.monotonic():
            return snap[1], snap[2]
        return None

    def invalidate(self) -> None:
        """Drop the cached brokers after a write here, in every process."""
        self.forget()
        if self.on_forget is not None:
            self.on_forget("")

    def forget(self, _key: str = "") -> None:
        """Drop the cached brokers (this process or another one changed a broker)."""
        with self._lock:
            self._cache = None

    def by_source(self, source: str) -> Broker | None:
        """The broker a ``source`` header names: its decimal id or its code."""
        if not source:
            return None
        by_id, by_code = self.cached()
        if source.isdigit() and len(source) <= 18:
            hit = by_id.get(int(source))
            if hit is not None:
                return hit
        bid = by_code.get(source)
        return by_id.get(bid) if bid is not None else None

    def rate_history(self, broker_id: int) -> builtins.list[RateChange]:
        rows = self.repo.rate_rows(broker_id)
        return [
            RateChange(int(r.rate_ppm), int(r.effective_from), int(r.set_at), r.note) for r in rows
        ]

    def rate_at(self, broker_id: int, when: int | None = None) -> int:
        """The rate (ppm) in force at ``when`` (default: now)."""
        when = self.clock() if when is None else when
        return rate_at(((r.effective_from, r.rate_ppm) for r in self.rate_history(broker_id)), when)

    # --- writing -------------------------------------------------------------------------------
    def apply(
        self,
        account_id: int,
        broker_type: BrokerType | str,
        name: str,
        *,
        rebate_account_id: int | None = None,
        code: str | None = None,
        logo_url: str = "",
        callback_url: str = "",
        note: str = "",
    ) -> Broker:
        """Apply to become a broker; the application starts PENDING. A sub-account cannot."""
        account = self.accounts(account_id) if self.accounts is not None else None
        if account is not None:
            check_may_apply(account.kind, account.parent)
        try:
            btype = BrokerType(str(broker_type).upper())
        except ValueError:
            raise InvalidParameter("brokerType must be API, INDEPENDENT or OAUTH") from None
        name = (name or "").strip()
        if not name or len(name) > 128:
            raise InvalidParameter("broker name must be 1 to 128 characters")
        if code is not None:
            code = code.strip() or None
        if code is not None and (len(code) > 64 or code.isdigit() or not set(code) <= _CODE_CHARS):
            raise InvalidParameter("broker code: up to 64 letters, digits, _-. and not all digits")
        if btype is BrokerType.OAUTH and not callback_url:
            raise InvalidParameter("an OAuth broker needs a callback URL")
        for text, what in ((logo_url, "logo URL"), (callback_url, "callback URL")):
            if len(text) > 512:
                raise InvalidParameter(f"{what} is too long")
        rebate_to = account_id if rebate_account_id is None else rebate_account_id
        now = self.clock()
        self.repo.insert_application(
            {
                "account_id": account_id,
                "rebate_account_id": rebate_to,
                "type": btype.value,
                "status": BrokerStatus.PENDING.value,
                "name": name,
                "code": code,
                "logo_url": logo_url,
                "callback_url": callback_url,
                "note": note[:2000],
                "reason": "",
                "created": now,
                "updated": now,
            }
        )
        self.invalidate()
        broker = self.by_account(account_id)
        assert broker is not None
        return broker

    def _move(self, broker_id: int, action: str, reason: str = "") -> tuple[Broker, Broker]:
        """Apply a status transition; returns (before, after)."""
        before = self.get(broker_id)
        target = transition(before.status, action)
        now = self.clock()
        with self.repo.begin() as conn:
            if not self.repo.move_status(
                conn, broker_id, before.status.value, target.value, reason[:256], now
            ):
                raise BrokerStateError("the broker changed concurrently; try again")
            self._after_move(conn, before, target, now)
        self.invalidate()
        if target is BrokerStatus.SUSPENDED and self.on_suspend is not None:
            self.on_suspend()
        return before, self.get(broker_id)

    def _after_move(self, conn: Connection, before: Broker, target: BrokerStatus, now: int) -> None:
        rows = self.repo.rate_rows(before.id, conn)
        history = [(int(r.effective_from), int(r.rate_ppm)) for r in rows]
        if target is BrokerStatus.SUSPENDED:
            # 0 from now on, and cancel rates scheduled for later (a later row wins a tie)
            for eff in sorted({e for e, _ in history if e > now} | {now}):
                self._insert_rate(conn, before.id, 0, eff, now, SUSPENDED_NOTE)
        elif target is BrokerStatus.APPROVED:
            if before.status is BrokerStatus.SUSPENDED:
                # the rate in force before the suspension row(s)
                earlier = [
                    (e, r)
                    for (e, r), row in zip(history, rows, strict=True)
                    if row.note != SUSPENDED_NOTE
                ]
                restore = rate_at(earlier, now)
                # from now on, including over the 0 rows that cancelled scheduled changes
                for eff in sorted({e for e, _ in history if e > now} | {now}):
                    self._insert_rate(conn, before.id, restore, eff, now, "reinstated")
            elif not history:
                self._insert_rate(conn, before.id, self.default_rate_ppm, now, now, "approved")

    def _insert_rate(
        self, conn: Connection, broker_id: int, rate: int, eff: int, now: int, note: str
    ) -> None:
        self.repo.insert_rate(conn, broker_id, rate, eff, now, note[:128])

    def approve(self, broker_id: int) -> Broker:
        """PENDING or SUSPENDED -> APPROVED (first approval gets the default rate if none set)."""
        return self._move(broker_id, "approve")[1]

    def reject(self, broker_id: int, reason: str = "") -> Broker:
        return self._move(broker_id, "reject", reason)[1]

    def suspend(self, broker_id: int, reason: str = "") -> Broker:
        """APPROVED -> SUSPENDED: its keys and ``source`` stop earning at once."""
        return self._move(broker_id, "suspend", reason)[1]

    def set_rate(
        self, broker_id: int, rate_ppm: int, effective_from: int | None = None, note: str = ""
    ) -> RateChange:
        """Set the rebate rate from ``effective_from`` (default: now; never in the past)."""
        check_rate(rate_ppm)
        broker = self.get(broker_id)
        if broker.status not in (BrokerStatus.PENDING, BrokerStatus.APPROVED):
            raise BrokerStateError(f"cannot set the rate of a broker that is {broker.status}")
        now = self.clock()
        eff = now if effective_from is None else effective_from
        if eff < now:
            raise InvalidParameter("a rebate rate cannot take effect in the past")
        with self.repo.begin() as conn:
            self._insert_rate(conn, broker_id, rate_ppm, eff, now, note or "set")
        return RateChange(rate_ppm, eff, now, note or "set")

    def set_oauth_scopes(self, broker_id: int, scopes: str) -> Broker:
        """Record the OAuth scopes the broker's clients may hold (``bourse.oauth.management``
        validates the words and narrows the clients)."""
        self.get(broker_id)
        self.repo.set_oauth_scopes(broker_id, scopes, self.clock())
        self.invalidate()
        return self.get(broker_id)

    def set_rebate_account(self, broker_id: int, account_id: int) -> Broker:
        """Send future payouts to another account (pending payouts keep their payee)."""
        self.get(broker_id)
        self.repo.set_rebate_account(broker_id, account_id, self.clock())
        self.invalidate()
        return self.get(broker_id)
