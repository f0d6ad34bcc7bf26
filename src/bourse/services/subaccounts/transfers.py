"""Universal transfers inside a tenant: master <-> sub and sub <-> sub through the engine's
``Transfer``, with the master as the idempotency namespace of ``clientTranId``; SPOT and
FUTURES wallets (FUTURES of a sub-account only once futures are enabled)."""

from __future__ import annotations

from typing import Any

from bourse.domain.errors import TransferNotAllowed
from bourse.engine import Engine
from bourse.engine import commands as c
from bourse.services.subaccounts.directory import SubAccountDirectory
from bourse.services.subaccounts.errors import SubAccountFrozen
from bourse.services.subaccounts.rules import ACCOUNT_TYPES, Tenant
from bourse.services.wallet import WalletService


class SubAccountTransfers:
    def __init__(
        self, directory: SubAccountDirectory, wallet: WalletService, engine: Engine
    ) -> None:
        self.directory = directory
        self.wallet = wallet
        self.engine = engine

    def _side(self, tenant: Tenant, name: str | None, wallet_type: str) -> tuple[int, int]:
        """(owner account, ledger account) for a transfer side; no name is the master."""
        wallet_type = (wallet_type or "").upper()
        if wallet_type not in ACCOUNT_TYPES:
            raise TransferNotAllowed(f"account type {wallet_type!r} is not supported")
        if name:
            sub = self.directory.get(tenant, name)
            if sub.frozen:
                raise SubAccountFrozen(f"sub account {sub.name!r} is frozen")
            if wallet_type == "FUTURES" and not sub.futures:
                raise TransferNotAllowed(f"futures are not enabled for {sub.name!r}")
            owner = sub.account_id
        else:
            owner = tenant.master
        ledger = self.wallet.wallet_account(owner, wallet_type)
        assert ledger is not None  # created on demand
        return owner, ledger

    def transfer(
        self,
        tenant: Tenant,
        from_name: str | None,
        to_name: str | None,
        from_type: str,
        to_type: str,
        asset: str,
        amount: int,
        client_id: str = "",
        *,
        replay: str = "",
    ) -> int:
        """Move ``amount`` units master <-> sub or sub <-> sub; returns the transfer id. A retry
        with the same ``client_id`` (in the master's namespace) moves nothing twice; without
        one, the signed request's ``replay`` key is accepted once (``engine.replays``)."""
        _, src = self._side(tenant, from_name, from_type)
        _, dst = self._side(tenant, to_name, to_type)
        if src == dst:
            raise TransferNotAllowed("cannot transfer to the same account")
        code = self.wallet.asset(asset).code
        tid: int = self.engine.execute(
            c.Transfer(
                src,
                dst,
                code,
                amount,
                client_id=client_id,
                initiator=tenant.master,
                replay=replay,
            )
        )
        return tid

    def _ledgers(self, tenant: Tenant, name: str | None, wallet_type: str) -> list[int]:
        """Ledger accounts matched by a history side (``*``: master and every sub-account)."""
        wallet_type = (wallet_type or "").upper()
        if wallet_type not in ACCOUNT_TYPES:
            raise TransferNotAllowed(f"account type {wallet_type!r} is not supported")
        if name == "*":
            owners = [tenant.master] + [s.account_id for s in self.directory.all(tenant)]
        elif name:
            owners = [self.directory.get(tenant, name).account_id]
        else:
            owners = [tenant.master]
        out = []
        for o in owners:
            ledger = self.wallet.wallet_account(o, wallet_type, create=False)
            if ledger is not None:
                out.append(ledger)
        return out

    def history(
        self,
        tenant: Tenant,
        from_name: str | None,
        to_name: str | None,
        from_type: str,
        to_type: str,
        *,
        start: int | None = None,
        end: int | None = None,
        page: int = 1,
        limit: int = 500,
        client_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Transfers between the two sides, newest first, as dicts with owner names."""
        src = self._ledgers(tenant, from_name, from_type)
        dst = self._ledgers(tenant, to_name, to_type)
        if not src or not dst:
            return []
        wallet = self.wallet
        rows, _ = wallet.transfers(
            from_accounts=src,
            to_accounts=dst,
            start=start,
            end=end,
            client_id=client_id,
            page=page,
            size=max(1, min(limit, 500)),
        )
        owners = wallet.wallet_owners({x for r in rows for x in (r.from_account, r.to_account)})
        names = self.directory.names(tenant)
        out = []
        for r in rows:
            f_owner = owners.get(r.from_account, (r.from_account, "SPOT"))[0]
            t_owner = owners.get(r.to_account, (r.to_account, "SPOT"))[0]
            out.append({"view": r, "from": names.get(f_owner, ""), "to": names.get(t_owner, "")})
        return out
