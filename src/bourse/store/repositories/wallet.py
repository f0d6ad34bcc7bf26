"""The wallet's tables around the engine's: the withdraw address whitelist and the non-spot
wallets of MEXC's universal transfer (``bourse.store.wallet_tables``), and the wallet's reads
of the engine's withdrawals (remarks included) and transfers (``bourse.store.tables``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine as SAEngine
from sqlalchemy import and_, func, insert, select
from sqlalchemy.exc import IntegrityError

from bourse.domain.wallet import Withdrawal
from bourse.store import tables as t
from bourse.store import wallet_tables as wt
from bourse.store.rows import withdrawal_from_row
from bourse.store.transaction import write

_wl = wt.withdraw_address_whitelist
_aw = wt.account_wallets
_tr = t.transfers

#: (id, from account, to account, asset, amount, client id, time)
TransferRow = tuple[int, int, int, str, int, str, int]


class WalletRepository:
    def __init__(self, db: SAEngine) -> None:
        self.db = db

    # --- withdrawals ---------------------------------------------------------------------------
    def withdrawals(
        self,
        account: int,
        *,
        asset: str | None = None,
        statuses: Iterable[str] | None = None,
        ids: Iterable[int] | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int = 1000,
    ) -> list[Withdrawal]:
        """The account's withdrawals (each with its remark), newest first."""
        w = t.withdrawals
        q = select(w).where(w.c.account_id == account)
        if asset:
            q = q.where(w.c.asset == asset)
        if statuses is not None:
            q = q.where(w.c.status.in_(list(statuses)))
        if ids is not None:
            q = q.where(w.c.id.in_(list(ids)))
        if start is not None:
            q = q.where(w.c.created >= start)
        if end is not None:
            q = q.where(w.c.created <= end)
        q = q.order_by(w.c.created.desc(), w.c.id.desc()).limit(max(1, min(limit, 1000)))
        with write(self.db) as conn:
            rows = conn.execute(q).mappings().all()
        return [withdrawal_from_row(r) for r in rows]

    # --- withdraw address whitelist ------------------------------------------------------------
    def whitelist(self, account: int, coin: str | None = None) -> list[dict[str, Any]]:
        """The account's entries (every column), oldest first."""
        q = select(_wl).where(_wl.c.account_id == account)
        if coin:
            q = q.where(_wl.c.coin == coin)
        with write(self.db) as conn:
            return [dict(r) for r in conn.execute(q.order_by(_wl.c.id)).mappings()]

    def add_whitelist(
        self, account: int, coin: str, network: str, address: str, memo: str, label: str, now: int
    ) -> None:
        try:
            with write(self.db) as conn:
                conn.execute(
                    insert(_wl).values(
                        account_id=account,
                        coin=coin,
                        network=network,
                        address=address,
                        memo=memo,
                        label=label,
                        created=now,
                    )
                )
        except IntegrityError:
            pass  # already there

    def remove_whitelist(self, account: int, coin: str, network: str, address: str) -> int:
        with write(self.db) as conn:
            res = conn.execute(
                _wl.delete().where(
                    _wl.c.account_id == account,
                    _wl.c.coin == coin,
                    _wl.c.network == network,
                    _wl.c.address == address,
                )
            )
            return int(res.rowcount or 0)

    # --- non-spot wallets ----------------------------------------------------------------------
    def wallet_ledger(self, account: int, wallet_type: str) -> int | None:
        """The ledger account of ``account``'s ``wallet_type`` wallet, if opened."""
        key = and_(_aw.c.account_id == account, _aw.c.wallet_type == wallet_type)
        with write(self.db) as conn:
            return conn.execute(select(_aw.c.ledger_account).where(key)).scalar()

    def add_wallet(self, account: int, wallet_type: str, ledger_account: int) -> None:
        with write(self.db) as conn:
            conn.execute(
                insert(_aw).values(
                    account_id=account, wallet_type=wallet_type, ledger_account=ledger_account
                )
            )

    def wallets_of(self, account: int) -> dict[int, str]:
        """ledger account -> wallet type of ``account``'s non-spot wallets."""
        with write(self.db) as conn:
            rows = conn.execute(
                select(_aw.c.ledger_account, _aw.c.wallet_type).where(_aw.c.account_id == account)
            ).all()
        return {r[0]: r[1] for r in rows}

    def wallet_owners(self, ledger_accounts: Iterable[int]) -> dict[int, tuple[int, str]]:
        """For ledger accounts that are someone's non-spot wallet: (owner, wallet type)."""
        wanted = list(ledger_accounts)
        if not wanted:
            return {}
        with write(self.db) as conn:
            rows = conn.execute(
                select(_aw.c.ledger_account, _aw.c.account_id, _aw.c.wallet_type).where(
                    _aw.c.ledger_account.in_(wanted)
                )
            ).all()
        return {r[0]: (r[1], r[2]) for r in rows}

    # --- transfers -----------------------------------------------------------------------------
    def transfers(
        self,
        *,
        tran_id: int | None = None,
        from_accounts: Iterable[int] | None = None,
        to_accounts: Iterable[int] | None = None,
        start: int | None = None,
        end: int | None = None,
        client_id: str | None = None,
        offset: int = 0,
        limit: int = 1,
    ) -> tuple[list[TransferRow], int]:
        """A page of transfers (newest first) and the total that match."""
        cond: list[Any] = []
        if tran_id is not None:
            cond.append(_tr.c.id == tran_id)
        if start is not None:
            cond.append(_tr.c.time >= start)
        if end is not None:
            cond.append(_tr.c.time <= end)
        if from_accounts is not None:
            cond.append(_tr.c.from_account.in_(list(from_accounts)))
        if to_accounts is not None:
            cond.append(_tr.c.to_account.in_(list(to_accounts)))
        if client_id:
            cond.append(_tr.c.client_id == client_id)
        with write(self.db) as conn:
            total = conn.execute(select(func.count()).select_from(_tr).where(*cond)).scalar() or 0
            rows = conn.execute(
                select(
                    _tr.c.id,
                    _tr.c.from_account,
                    _tr.c.to_account,
                    _tr.c.asset,
                    _tr.c.amount,
                    _tr.c.client_id,
                    _tr.c.time,
                )
                .where(*cond)
                .order_by(_tr.c.time.desc(), _tr.c.id.desc())
                .offset(offset)
                .limit(limit)
            ).all()
        return [(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows], int(total)
