"""Universal transfer (SPOT <-> FUTURES of one user): the FUTURES wallet is a ledger account of
its own, opened on first use and mapped in ``account_wallets``; a transfer between two wallets
is the engine's ``Transfer`` between their ledger accounts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bourse.domain.accounts import AccountKind
from bourse.domain.errors import AccountTypeNotSupported, TransferNotFound
from bourse.domain.wallet import Account
from bourse.engine import commands as c
from bourse.services.wallet.base import WalletBase

#: MEXC account types of the universal transfer; SPOT is the account itself
ACCOUNT_TYPES = ("SPOT", "FUTURES")


@dataclass(frozen=True, slots=True)
class TransferView:
    id: int
    from_account: int
    to_account: int
    asset: str
    amount: int
    client_id: str
    time: int
    from_type: str = "SPOT"
    to_type: str = "SPOT"


class Transfers(WalletBase):
    def wallet_account(self, account: int, wallet_type: str, *, create: bool = True) -> int | None:
        """The ledger account of ``account``'s ``wallet_type`` wallet (SPOT: itself)."""
        wallet_type = (wallet_type or "").upper()
        if wallet_type == "SPOT":
            return account
        if wallet_type not in ACCOUNT_TYPES:
            raise AccountTypeNotSupported(f"account type {wallet_type!r} is not supported")
        found = self.repo.wallet_ledger(account, wallet_type)
        if found is not None or not create:
            return found
        with self._wallet_lock:
            found = self.repo.wallet_ledger(account, wallet_type)
            if found is not None:
                return found
            owner = self.engine.read(lambda e: e.wallet.accounts.get(account))
            if owner is None or owner.kind is AccountKind.SYSTEM:
                raise AccountTypeNotSupported(f"account {account} has no {wallet_type} wallet")
            acc: Account = self.engine.execute(
                c.OpenAccount(AccountKind.USER, None, f"{wallet_type.lower()}:{account}")
            )
            self.repo.add_wallet(account, wallet_type, acc.id)
            return acc.id

    def universal_transfer(
        self,
        account: int,
        from_type: str,
        to_type: str,
        asset: str,
        amount: int,
        *,
        client_id: str = "",
        replay: str = "",
    ) -> TransferView:
        """Move ``amount`` units between the account's own wallets (SPOT <-> FUTURES);
        ``replay`` is the signed request's replay key (``engine.replays``)."""
        from_type, to_type = (from_type or "").upper(), (to_type or "").upper()
        if from_type not in ACCOUNT_TYPES or to_type not in ACCOUNT_TYPES:
            raise AccountTypeNotSupported("this account transfer is not supported")
        if from_type == to_type:
            raise AccountTypeNotSupported("fromAccountType and toAccountType must differ")
        code = self.asset(asset).code
        src = self.wallet_account(account, from_type)
        dst = self.wallet_account(account, to_type)
        assert src is not None and dst is not None
        tid = self.engine.execute(
            c.Transfer(
                src, dst, code, amount, client_id=client_id, initiator=account, replay=replay
            )
        )
        found, _ = self.repo.transfers(tran_id=tid)
        if not found:  # pragma: no cover - committed before the ack
            raise TransferNotFound(f"transfer {tid} not found")
        return TransferView(*found[0], from_type=from_type, to_type=to_type)

    def transfers(
        self,
        *,
        from_accounts: Iterable[int] | None = None,
        to_accounts: Iterable[int] | None = None,
        start: int | None = None,
        end: int | None = None,
        client_id: str | None = None,
        page: int = 1,
        size: int = 500,
    ) -> tuple[list[TransferView], int]:
        """Transfers between ledger accounts (any of ``from_accounts`` to any of
        ``to_accounts``), newest first, with the total; the wallet types are resolved through
        ``account_wallets`` (a broker's universal transfer history builds on this)."""
        s, e = self.window(start, end)
        page, size = max(1, page), max(1, min(size, 1000))
        rows, total = self.repo.transfers(
            from_accounts=from_accounts,
            to_accounts=to_accounts,
            start=s,
            end=e,
            client_id=client_id,
            offset=(page - 1) * size,
            limit=size,
        )
        owners = self.wallet_owners({x for r in rows for x in (r[1], r[2])})
        out = [
            TransferView(
                *r,
                from_type=owners.get(r[1], (r[1], "SPOT"))[1],
                to_type=owners.get(r[2], (r[2], "SPOT"))[1],
            )
            for r in rows
        ]
        return out, total

    def wallet_owners(self, ledger_accounts: Iterable[int]) -> dict[int, tuple[int, str]]:
        """For ledger accounts that are someone's non-spot wallet: (owner, wallet type)."""
        return self.repo.wallet_owners(ledger_accounts)

    def transfer_history(
        self,
        account: int,
        from_type: str,
        to_type: str,
        *,
        start: int | None = None,
        end: int | None = None,
        page: int = 1,
        size: int = 10,
    ) -> tuple[list[TransferView], int]:
        """One direction of the account's universal transfers, newest first, and the total."""
        from_type, to_type = (from_type or "").upper(), (to_type or "").upper()
        if from_type not in ACCOUNT_TYPES or to_type not in ACCOUNT_TYPES or from_type == to_type:
            raise AccountTypeNotSupported("this account transfer is not supported")
        src = self.wallet_account(account, from_type, create=False)
        dst = self.wallet_account(account, to_type, create=False)
        if src is None or dst is None:
            return [], 0
        s, e = self.window(start, end, default_days=7)
        page, size = max(1, page), max(1, min(size, 100))
        rows, total = self.repo.transfers(
            from_accounts=[src],
            to_accounts=[dst],
            start=s,
            end=e,
            offset=(page - 1) * size,
            limit=size,
        )
        return [TransferView(*r, from_type=from_type, to_type=to_type) for r in rows], total

    def get_transfer(self, account: int, tran_id: int) -> TransferView:
        """One of the account's universal transfers by id."""
        rows, _ = self.repo.transfers(tran_id=tran_id)
        if not rows:
            raise TransferNotFound(f"transfer {tran_id} does not exist")
        r = rows[0]
        types = {account: "SPOT", **self.repo.wallets_of(account)}
        if r[1] not in types or r[2] not in types:
            raise TransferNotFound(f"transfer {tran_id} does not exist")
        return TransferView(*r, from_type=types[r[1]], to_type=types[r[2]])
