"""``SubAccounts``: the sub-account service. Creating sub-accounts, freezing them, enabling
futures, their fee markup, and the attribution hook, over the ``SubAccountDirectory`` it
extends; the key, transfer and funds operations hang off it as ``keys``, ``transfers`` and
``funds`` (see the package docstring)."""

from __future__ import annotations

import threading

from sqlalchemy import Engine as SAEngine

from bourse.domain.accounts import SUB_ACCOUNT_PREFIX, AccountKind
from bourse.engine import Engine
from bourse.engine import commands as c
from bourse.engine.clock import Clock, now_ms
from bourse.services.apikeys import ApiKeys
from bourse.services.brokers.bindings import Bindings
from bourse.services.brokers.registry import Registry
from bourse.services.subaccounts.directory import SubAccountDirectory
from bourse.services.subaccounts.errors import (
    MarginNotSupported,
    SubAccountExists,
    SubAccountFrozen,
    SubAccountOnly,
    SubAccountQuotaExceeded,
)
from bourse.services.subaccounts.funds import SubAccountFunds
from bourse.services.subaccounts.keys import SubAccountKeys
from bourse.services.subaccounts.once_tokens import OnceTokens
from bourse.services.subaccounts.rules import (
    SubAccount,
    Tenant,
    check_markup,
    check_name,
    check_note,
    hash_password,
)
from bourse.services.subaccounts.transfers import SubAccountTransfers
from bourse.services.throttle import CredentialThrottle
from bourse.services.wallet import WalletService
from bourse.store.repositories.once_tokens import OnceTokenRepository
from bourse.store.repositories.subaccounts import SubAccountRepository


class SubAccounts(SubAccountDirectory):
    """The sub-account service of one platform (built once by ``bourse.bootstrap``)."""

    def __init__(
        self,
        db: SAEngine,
        engine: Engine,
        apikeys: ApiKeys,
        wallet: WalletService,
        registry: Registry,
        bindings: Bindings,
        *,
        clock: Clock = now_ms,
        throttle: CredentialThrottle | None = None,
    ) -> None:
        super().__init__(SubAccountRepository(db), engine, registry)
        self.clock = clock
        self._create_lock = threading.Lock()
        self._sub_broker: dict[int, int | None] = {}
        self.keys = SubAccountKeys(self, apikeys, bindings, clock=clock)
        self.transfers = SubAccountTransfers(self, wallet, engine)
        self.funds = SubAccountFunds(self, wallet, self.repo, throttle=throttle, clock=clock)
        self.once_tokens = OnceTokens(OnceTokenRepository(db), self, engine, clock=clock)

    # --- creating ------------------------------------------------------------------------------
    def create(
        self, tenant: Tenant, name: str | None, note: str | None, password: str | None = None
    ) -> SubAccount:
        """Open a sub-account under the tenant's master account."""
        name = check_name(name)
        note = check_note(note)
        pw_hash = hash_password(password) if password else None
        with self._create_lock:  # one creation at a time: the quota and name checks hold
            if self.repo.name_taken(tenant.master, name):
                raise SubAccountExists(f"sub-account {name!r} already exists")
            if self.count(tenant) >= tenant.quota:
                raise SubAccountQuotaExceeded(
                    f"at most {tenant.quota} sub-accounts per master account"
                )
            master = self.engine.read(lambda e: e.wallet.accounts.get(tenant.master))
            if master is None:
                raise SubAccountOnly("the master account does not exist")
            if master.frozen:
                raise SubAccountFrozen("the master account is frozen")
            acc = self.engine.execute(
                c.OpenAccount(AccountKind.BROKER_SUB, tenant.master, SUB_ACCOUNT_PREFIX + name)
            )
            now = self.clock()
            if not self.repo.insert(
                acc.id, tenant.master, tenant.broker_id, name, note, pw_hash, now
            ):  # another process took the name: the bare account is unused
                raise SubAccountExists(f"sub-account {name!r} already exists")
        sub = self.get(tenant, name)
        self._apply_fees(tenant, sub)
        return sub

    # --- status, futures, fees -----------------------------------------------------------------
    def set_frozen(self, tenant: Tenant, name: str, frozen: bool) -> SubAccount:
        """Freeze (open orders are cancelled) or unfreeze a sub-account; not by a frozen
        master (``AccountFrozen``, decided by the engine)."""
        sub = self.get(tenant, name)
        self.engine.execute(c.SetAccountFrozen(sub.account_id, frozen, tenant.master))
        return self.get(tenant, name)

    def enable_futures(self, tenant: Tenant, name: str) -> SubAccount:
        sub = self.get(tenant, name)
        self.repo.set_futures(sub.account_id)
        return self.get(tenant, name)

    def enable_margin(self, tenant: Tenant, name: str | None) -> SubAccount:
        """MEXC's removed ``sub-account/margin``: the sub-account must exist, and then the
        answer is always no (Bourse has no margin trading)."""
        self.get(tenant, name)
        raise MarginNotSupported("margin trading is not supported on this exchange")

    def set_markup(self, tenant: Tenant, name: str, maker_ppm: int, taker_ppm: int) -> SubAccount:
        """Set a sub-account's fee markup (ppm on each side, within the tenant's cap)."""
        check_markup(tenant, maker_ppm, taker_ppm)
        sub = self.get(tenant, name)
        self.repo.set_markup(sub.account_id, maker_ppm, taker_ppm)
        sub = self.get(tenant, name)
        self._apply_fees(tenant, sub)
        return sub

    def _apply_fees(self, tenant: Tenant, sub: SubAccount) -> tuple[int, int]:
        maker, taker = self.rates(tenant, sub)
        self.engine.execute(c.SetFees(sub.account_id, maker, taker))
        return maker, taker

    def refresh_fees(self, tenant: Tenant, max_rows: int = 100_000) -> int:
        """Re-apply master rates + markup to every sub-account (after the master's rates
        changed); returns how many were updated."""
        rows = self.repo.of_master(tenant.master, limit=max_rows, ordered=False)
        subs = self._rows_to_subs(rows)
        for sub in subs:
            self._apply_fees(tenant, sub)
        return len(subs)

    # --- attribution ---------------------------------------------------------------------------
    def cached_broker_of(self, account_id: int) -> tuple[bool, int | None]:
        """``(True, broker_of(account_id))`` when no SQL is needed to answer (any account but
        a sub-account not seen yet), else ``(False, None)``: for the event loop."""
        if account_id in self._sub_broker:
            return True, self._sub_broker[account_id]
        acc = self.engine.wallet.accounts.get(account_id)
        if acc is None or acc.kind is not AccountKind.BROKER_SUB:
            return True, None
        return False, None

    def broker_of(self, account_id: int) -> int | None:
        """The independent broker a sub-account belongs to (None for any other account).

        What the trading layer's attribution hook asks on every order: a non-sub account is
        answered from the engine's account table, a sub-account from a cache (a sub-account
        never changes broker)."""
        if account_id in self._sub_broker:
            return self._sub_broker[account_id]
        # lock-free: a dict lookup is atomic and an account's kind never changes (this is on
        # every order's path, so it must not wait for the engine's batch lock)
        acc = self.engine.wallet.accounts.get(account_id)
        if acc is None or acc.kind is not AccountKind.BROKER_SUB:
            return None
        result = self.repo.broker_id(account_id)
        if len(self._sub_broker) > 1_000_000:
            self._sub_broker.clear()
        self._sub_broker[account_id] = result
        return result
