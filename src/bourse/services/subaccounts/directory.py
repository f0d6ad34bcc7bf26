"""``SubAccountDirectory``: finding tenants and their sub-accounts.

A name resolves only inside its tenant: another tenant's sub-account is "does not exist".
``SubAccounts`` (``accounts.py``) extends it with the operations that change things; the key,
transfer and funds services take the directory to resolve names.
"""

from __future__ import annotations

from typing import Any

from bourse.domain.accounts import AccountKind
from bourse.domain.brokers import BrokerStatus, BrokerType
from bourse.domain.errors import InvalidParameter
from bourse.domain.fees import RATE_DENOM
from bourse.engine import Engine
from bourse.services.brokers.registry import Registry
from bourse.services.subaccounts.errors import (
    BrokerNotActive,
    NotABroker,
    SubAccountNameEmpty,
    SubAccountNotFound,
    SubAccountOnly,
)
from bourse.services.subaccounts.rules import (
    BROKER_QUOTA,
    MAX_MARKUP_PPM,
    NORMAL_QUOTA,
    SubAccount,
    Tenant,
)
from bourse.store.repositories.subaccounts import SubAccountRepository


class SubAccountDirectory:
    """Tenants and sub-account records (reads only, plus the operator's quota override)."""

    def __init__(self, repo: SubAccountRepository, engine: Engine, registry: Registry) -> None:
        self.repo = repo
        self.engine = engine
        self.registry = registry

    # --- tenants -------------------------------------------------------------------------------
    def _limits(self, master: int, broker: bool) -> tuple[int, int]:
        found = self.repo.limits(master)
        if found is not None:
            return found
        return (BROKER_QUOTA if broker else NORMAL_QUOTA), MAX_MARKUP_PPM

    def tenant_for_broker(self, account_id: int) -> Tenant:
        """The tenant of the broker whose main account is ``account_id`` (broker API)."""
        broker = self.registry.by_account(account_id)
        if broker is None:
            raise NotABroker("No authority")
        if broker.type is not BrokerType.INDEPENDENT or broker.status is not BrokerStatus.APPROVED:
            raise BrokerNotActive(
                f"broker {broker.id} is not an approved independent broker ({broker.status})"
            )
        quota, markup = self._limits(account_id, True)
        return Tenant(account_id, broker.id, quota, markup)

    def tenant_for_master(self, account_id: int) -> Tenant:
        """The tenant of any user or broker master account (MEXC's normal sub-account API);
        an approved independent broker gets its broker quota."""
        acc = self.engine.read(lambda e: e.wallet.accounts.get(account_id))
        if acc is None or acc.kind not in (AccountKind.USER, AccountKind.BROKER_MASTER):
            raise SubAccountOnly("a sub-account cannot have sub-accounts")
        broker = self.registry.by_account(account_id)
        if broker is not None and broker.type is BrokerType.INDEPENDENT:
            # an independent broker's sub-accounts are its broker's, suspended or not
            return self.tenant_for_broker(account_id)
        quota, markup = self._limits(account_id, False)
        return Tenant(account_id, None, quota, markup)

    def set_quota(
        self, master: int, max_subaccounts: int, max_markup_ppm: int = MAX_MARKUP_PPM
    ) -> None:
        """Operator: override a master account's sub-account quota and markup cap."""
        if not 0 <= max_subaccounts <= 1_000_000 or not 0 <= max_markup_ppm <= RATE_DENOM:
            raise InvalidParameter("quota or markup cap out of range")
        self.repo.set_limits(master, max_subaccounts, max_markup_ppm)

    # --- reading -------------------------------------------------------------------------------
    def frozen(self, ids: list[int]) -> dict[int, bool]:
        """account id -> frozen, from the engine (ids it does not know are left out)."""

        def look(e: Any) -> dict[int, bool]:
            return {i: bool(e.wallet.accounts[i].frozen) for i in ids if i in e.wallet.accounts}

        found: dict[int, bool] = self.engine.read(look)
        return found

    def _rows_to_subs(self, rows: list[Any]) -> list[SubAccount]:
        frozen = self.frozen([int(r.account_id) for r in rows])
        return [
            SubAccount(
                int(r.account_id),
                int(r.master_account_id),
                None if r.broker_id is None else int(r.broker_id),
                r.name,
                r.note,
                bool(r.futures),
                int(r.maker_markup),
                int(r.taker_markup),
                r.password_hash is not None,
                int(r.created),
                frozen.get(int(r.account_id), False),
            )
            for r in rows
        ]

    def get(self, tenant: Tenant, name: str | None) -> SubAccount:
        """The tenant's sub-account called ``name`` (140001 for any other name)."""
        name = (name or "").strip()
        if not name:
            raise SubAccountNameEmpty()
        row = self.repo.by_name(tenant.master, name)
        if row is None:
            raise SubAccountNotFound(f"sub account {name[:40]!r} does not exist")
        return self._rows_to_subs([row])[0]

    def by_account(self, account_id: int) -> SubAccount | None:
        """The sub-account record of ``account_id`` (None if it is not a sub-account)."""
        row = self.repo.by_account(account_id)
        return None if row is None else self._rows_to_subs([row])[0]

    def count(self, tenant: Tenant) -> int:
        return self.repo.count(tenant.master)

    def all(self, tenant: Tenant) -> list[SubAccount]:
        return self._rows_to_subs(self.repo.of_master(tenant.master, limit=BROKER_QUOTA * 10))

    def names(self, tenant: Tenant) -> dict[int, str]:
        """account id -> sub-account name, for the tenant's master and sub-accounts (the
        master's name is the empty string)."""
        out = self.repo.names(tenant.master)
        out[tenant.master] = ""
        return out

    def master_rates(self, tenant: Tenant) -> tuple[int, int]:
        rates: tuple[int, int] = self.engine.read(lambda e: e.exchange.fees.rates(tenant.master))
        return rates

    def rates(self, tenant: Tenant, sub: SubAccount) -> tuple[int, int]:
        """The (maker, taker) ppm a sub-account pays: the master's plus its markup."""
        m, t = self.master_rates(tenant)
        return min(m + sub.maker_markup, RATE_DENOM), min(t + sub.taker_markup, RATE_DENOM)

    def list(
        self,
        tenant: Tenant,
        *,
        name: str | None = None,
        frozen: bool | None = None,
        page: int = 1,
        limit: int = 10,
    ) -> list[SubAccount]:
        """The tenant's sub-accounts, oldest first, one page (``frozen`` filters after paging
        of the id-ordered list would skip rows, so it filters first)."""
        name = name.strip() if name else None  # "  " filters on "", as it always did
        page, limit = max(1, page), max(1, min(limit, 200))
        if frozen is None:
            rows = self.repo.of_master(
                tenant.master, name=name, offset=(page - 1) * limit, limit=limit
            )
            return self._rows_to_subs(rows)
        rows = self.repo.of_master(tenant.master, name=name, limit=BROKER_QUOTA * 10)
        subs = [x for x in self._rows_to_subs(rows) if x.frozen is frozen]
        return subs[(page - 1) * limit : page * limit]
