"""The chain's bookkeeping in the database: deposit addresses, the deposits and withdrawal
broadcasts the chain has seen, and its block height (``bourse.store.wallet_tables``).

Rows come back as plain mappings (column names of the tables) or tuples; the chain adapter turns
them into its values. Each method is one short transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine as SAEngine
from sqlalchemy import Table, insert, select, update
from sqlalchemy.exc import IntegrityError

from bourse.store import wallet_tables as wt
from bourse.store.transaction import write

_a = wt.deposit_addresses
_d = wt.chain_deposits
_w = wt.chain_withdrawals
_s = wt.chain_state

#: the ``chain_withdrawals`` columns a reader of the chain's view gets
_W_VIEW = (
    _w.c.withdrawal_id,
    _w.c.network,
    _w.c.coin,
    _w.c.txid,
    _w.c.block,
    _w.c.confirmations,
    _w.c.required,
    _w.c.status,
)


class ChainRepository:
    def __init__(self, db: SAEngine) -> None:
        self.db = db

    # --- block height --------------------------------------------------------------------------
    def height(self) -> int:
        with write(self.db) as conn:
            h = conn.execute(select(_s.c.value).where(_s.c.key == "height")).scalar()
        return int(h or 0)

    @staticmethod
    def _save_height(conn: Any, height: int) -> None:
        res = conn.execute(update(_s).where(_s.c.key == "height").values(value=height))
        if not res.rowcount:
            conn.execute(insert(_s).values(key="height", value=height))

    def save_height(self, height: int) -> None:
        with write(self.db) as conn:
            self._save_height(conn, height)

    def mine(self, height: int, now: int) -> None:
        """Block ``height``: it includes every deposit in the mempool and every broadcast
        transaction that is not stuck."""
        with write(self.db) as conn:
            self._save_height(conn, height)
            conn.execute(
                update(_d)
                .where(_d.c.block.is_(None))
                .values(block=height, confirmations=1, updated=now)
            )
            conn.execute(
                update(_w)
                .where(_w.c.block.is_(None), _w.c.status == "BROADCAST", _w.c.outcome != "STUCK")
                .values(block=height, confirmations=1, updated=now)
            )

    def waiting(self) -> bool:
        """Whether anything waits for a block: a deposit to confirm, a transaction to include
        or confirm (not a stuck one), or a signed one to announce."""
        with write(self.db) as conn:
            if conn.execute(select(_d.c.id).where(_d.c.status == "PENDING").limit(1)).first():
                return True
            return (
                conn.execute(
                    select(_w.c.withdrawal_id)
                    .where(
                        (_w.c.status == "SIGNED")
                        | (
                            (_w.c.status == "BROADCAST")
                            & ((_w.c.outcome != "STUCK") | _w.c.block.is_not(None))
                        )
                    )
                    .limit(1)
                ).first()
                is not None
            )

    def _matured(
        self, table: Table, status: str, order_by: Any, height: int, now: int, limit: int
    ) -> list[Any]:
        """Count confirmations of ``table``'s mined rows in ``status`` at ``height``; return
        (at most ``limit`` of) those that now have the confirmations they need."""
        col = table.c
        with write(self.db) as conn:
            conn.execute(
                update(table)
                .where(col.status == status, col.block.is_not(None))
                .values(confirmations=height - col.block + 1, updated=now)
            )
            ready = (
                select(table)
                .where(
                    col.status == status,
                    col.block.is_not(None),
                    col.confirmations >= col.required,
                )
                .order_by(order_by)
                .limit(limit)
            )
            return list(conn.execute(ready).mappings().all())

    # --- deposit addresses ---------------------------------------------------------------------
    def address(self, account: int, coin: str, network: str) -> tuple[str, str] | None:
        """(address, memo) of ``account`` for ``coin`` on ``network``, if created."""
        with write(self.db) as conn:
            row = conn.execute(
                select(_a.c.address, _a.c.memo).where(
                    _a.c.account_id == account, _a.c.coin == coin, _a.c.network == network
                )
            ).first()
        return (row[0], row[1]) if row is not None else None

    def add_address(
        self, account: int, coin: str, network: str, address: str, memo: str, now: int
    ) -> bool:
        """Store an address; ``False`` if the account has one already or the (address, memo)
        is taken."""
        try:
            with write(self.db) as conn:
                conn.execute(
                    insert(_a).values(
                        account_id=account,
                        coin=coin,
                        network=network,
                        address=address,
                        memo=memo,
                        created=now,
                    )
                )
        except IntegrityError:
            return False
        return True

    def addresses(self, account: int, coin: str) -> list[tuple[str, str, str]]:
        """(network, address, memo) of the account's addresses for ``coin``."""
        with write(self.db) as conn:
            rows = conn.execute(
                select(_a.c.network, _a.c.address, _a.c.memo).where(
                    _a.c.account_id == account, _a.c.coin == coin
                )
            ).all()
        return [(r[0], r[1], r[2]) for r in rows]

    def owner(self, network: str, coin: str, address: str, memo: str) -> int | None:
        with write(self.db) as conn:
            return conn.execute(
                select(_a.c.account_id).where(
                    _a.c.network == network,
                    _a.c.coin == coin,
                    _a.c.address == address,
                    _a.c.memo == memo,
                )
            ).scalar()

    # --- deposits ------------------------------------------------------------------------------
    def add_deposit(self, **values: Any) -> None:
        """Record a payment; one already recorded (same network, txid, vout) is left as is."""
        try:
            with write(self.db) as conn:
                conn.execute(insert(_d).values(**values))
        except IntegrityError:
            pass

    def deposit(self, network: str, txid: str, vout: int) -> Any | None:
        with write(self.db) as conn:
            return (
                conn.execute(
                    select(_d).where(_d.c.network == network, _d.c.txid == txid, _d.c.vout == vout)
                )
                .mappings()
                .first()
            )

    def deposits(
        self,
        accounts: Iterable[int],
        *,
        coin: str | None = None,
        network: str | None = None,
        statuses: Iterable[str] | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int = 1000,
    ) -> list[Any]:
        """Deposits to these accounts, newest first."""
        q = select(_d).where(_d.c.account_id.in_(list(accounts)))
        if coin:
            q = q.where(_d.c.coin == coin)
        if network:
            q = q.where(_d.c.network == network)
        if statuses is not None:
            q = q.where(_d.c.status.in_(list(statuses)))
        if start is not None:
            q = q.where(_d.c.created >= start)
        if end is not None:
            q = q.where(_d.c.created <= end)
        q = q.order_by(_d.c.created.desc(), _d.c.id.desc()).limit(max(1, min(limit, 1000)))
        with write(self.db) as conn:
            return list(conn.execute(q).mappings().all())

    def matured_deposits(self, height: int, now: int, limit: int) -> list[Any]:
        """Pending deposits that have their confirmations at ``height``, oldest first."""
        return self._matured(_d, "PENDING", _d.c.id, height, now, limit)

    def credited(self, deposit_id: int, confirmations: int, now: int) -> None:
        with write(self.db) as conn:
            conn.execute(
                update(_d)
                .where(_d.c.id == deposit_id)
                .values(status="SUCCESS", credited=True, confirmations=confirmations, updated=now)
            )

    # --- withdrawals ---------------------------------------------------------------------------
    def withdrawals(self, ids: Iterable[int]) -> list[Any]:
        """The chain's rows for these withdrawal ids (``_W_VIEW`` columns)."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        out: list[Any] = []
        with write(self.db) as conn:
            for i in range(0, len(wanted), 500):
                chunk = wanted[i : i + 500]
                q = select(*_W_VIEW).where(_w.c.withdrawal_id.in_(chunk))
                out.extend(conn.execute(q).mappings())
        return out

    def withdrawal(self, withdrawal_id: int) -> tuple[str, str] | None:
        """(txid, status) of a withdrawal the chain has signed."""
        with write(self.db) as conn:
            row = conn.execute(
                select(_w.c.txid, _w.c.status).where(_w.c.withdrawal_id == withdrawal_id)
            ).first()
        return (row[0], row[1]) if row is not None else None

    def add_signed(self, **values: Any) -> bool:
        """Record a signed transaction; ``False`` if the withdrawal already has one."""
        try:
            with write(self.db) as conn:
                conn.execute(insert(_w).values(status="SIGNED", **values))
        except IntegrityError:
            return False
        return True

    def signed(self, limit: int) -> list[tuple[int, str]]:
        """(withdrawal id, txid) of transactions signed but not yet announced to the engine."""
        with write(self.db) as conn:
            rows = conn.execute(
                select(_w.c.withdrawal_id, _w.c.txid)
                .where(_w.c.status == "SIGNED")
                .order_by(_w.c.withdrawal_id)
                .limit(limit)
            ).all()
        return [(r[0], r[1]) for r in rows]

    def announced(self, withdrawal_id: int, status: str, now: int) -> None:
        """A signed transaction is now ``status`` (BROADCAST, or final if the engine was)."""
        with write(self.db) as conn:
            conn.execute(
                update(_w)
                .where(_w.c.withdrawal_id == withdrawal_id, _w.c.status == "SIGNED")
                .values(status=status, updated=now)
            )

    def matured_withdrawals(self, height: int, now: int, limit: int) -> list[Any]:
        """Broadcast transactions that have their confirmations at ``height``."""
        return self._matured(_w, "BROADCAST", _w.c.withdrawal_id, height, now, limit)

    def finished(self, withdrawal_id: int, status: str, confirmations: int, now: int) -> None:
        with write(self.db) as conn:
            conn.execute(
                update(_w)
                .where(_w.c.withdrawal_id == withdrawal_id)
                .values(status=status, confirmations=confirmations, updated=now)
            )

    def unstick(self, withdrawal_id: int, now: int) -> bool:
        """Let a stuck transaction through (it will confirm); ``False`` if it was not stuck."""
        with write(self.db) as conn:
            res = conn.execute(
                update(_w)
                .where(_w.c.withdrawal_id == withdrawal_id, _w.c.outcome == "STUCK")
                .values(outcome="OK", updated=now)
            )
            return bool(res.rowcount)
