"""The ``internal_transfers`` table: the history rows of MEXC's internal transfer to another
user (the SQL only; the rules are ``bourse.services.wallet.internal``).

A row is written ``WAIT`` before the engine moves the money and turned ``SUCCESS`` (with the
engine's transfer id) once it has; ``settle_stale`` repairs rows a crash left ``WAIT`` from the
engine's own ``transfers`` table, where the request key is the transfer's client id.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine, and_, delete, func, or_, select, update

from bourse.store.internal_transfer_tables import internal_transfers as t
from bourse.store.repositories.dialect import insert_ignore
from bourse.store.tables import transfers as engine_transfers
from bourse.store.transaction import write

WAIT, SUCCESS = "WAIT", "SUCCESS"


@dataclass(frozen=True, slots=True)
class InternalTransferRow:
    transfer_id: int
    from_account: int
    to_account: int
    to_account_type: str
    to_account_text: str
    asset: str
    amount: int
    status: str
    time: int


class InternalTransferRepository:
    def __init__(self, db: Engine) -> None:
        self.db = db

    def begin(self, request_key: str, row: InternalTransferRow) -> None:
        """Record a transfer about to run (``WAIT``); a replayed request key keeps its row."""
        with write(self.db) as conn:
            self._insert(conn, request_key, row, WAIT)

    def succeed(
        self, request_key: str, row: InternalTransferRow, transfer_id: int
    ) -> InternalTransferRow:
        """Mark the row ``SUCCESS`` with the engine's transfer id (re-creating it if a refused
        twin of the same request removed it); the stored row (a replay keeps the first time)."""
        key = and_(t.c.from_account == row.from_account, t.c.request_key == request_key)
        with write(self.db) as conn:
            self._insert(conn, request_key, row, SUCCESS)
            conn.execute(update(t).where(key).values(status=SUCCESS, transfer_id=transfer_id))
            return _row(conn.execute(select(t).where(key)).one())

    def abandon(self, from_account: int, request_key: str) -> None:
        """Forget a ``WAIT`` row whose transfer the engine refused (nothing moved)."""
        with write(self.db) as conn:
            conn.execute(
                delete(t).where(
                    t.c.from_account == from_account,
                    t.c.request_key == request_key,
                    t.c.status == WAIT,
                )
            )

    def settle_stale(self, account: int, before: int) -> int:
        """Settle the account's ``WAIT`` rows older than ``before`` from the engine's
        ``transfers`` (SUCCESS if the engine committed the transfer, else removed); how many."""
        mine = or_(t.c.from_account == account, t.c.to_account == account)
        with write(self.db) as conn:
            stale = conn.execute(
                select(t.c.from_account, t.c.request_key).where(
                    mine, t.c.status == WAIT, t.c.time < before
                )
            ).all()
            for src, key in stale:
                tid = conn.execute(
                    select(engine_transfers.c.id).where(
                        engine_transfers.c.from_account == src,
                        engine_transfers.c.client_id == key,
                    )
                ).scalar()
                where = and_(t.c.from_account == src, t.c.request_key == key, t.c.status == WAIT)
                if tid is None:
                    conn.execute(delete(t).where(where))
                else:
                    conn.execute(update(t).where(where).values(status=SUCCESS, transfer_id=tid))
            return len(stale)

    def history(
        self,
        account: int,
        *,
        start: int,
        end: int,
        transfer_id: int | None = None,
        offset: int = 0,
        limit: int = 10,
    ) -> tuple[list[InternalTransferRow], int]:
        """The account's settled transfers, sent and received, newest first; and the total."""
        cond = and_(
            or_(t.c.from_account == account, t.c.to_account == account),
            t.c.status == SUCCESS,
            t.c.time >= start,
            t.c.time <= end,
        )
        if transfer_id is not None:
            cond = and_(cond, t.c.transfer_id == transfer_id)
        with self.db.connect() as conn:
            total = int(conn.execute(select(func.count()).select_from(t).where(cond)).scalar_one())
            rows = conn.execute(
                select(t)
                .where(cond)
                .order_by(t.c.time.desc(), t.c.transfer_id.desc())
                .offset(offset)
                .limit(limit)
            ).all()
        return [_row(r) for r in rows], total

    @staticmethod
    def _insert(conn: Connection, request_key: str, row: InternalTransferRow, status: str) -> None:
        conn.execute(
            insert_ignore(conn, t).values(
                from_account=row.from_account,
                request_key=request_key,
                transfer_id=None,
                to_account=row.to_account,
                to_account_type=row.to_account_type,
                to_account_text=row.to_account_text,
                asset=row.asset,
                amount=row.amount,
                status=status,
                time=row.time,
            )
        )


def _row(r: object) -> InternalTransferRow:
    m = r._mapping  # type: ignore[attr-defined]
    return InternalTransferRow(
        int(m["transfer_id"] or 0),
        int(m["from_account"]),
        int(m["to_account"]),
        str(m["to_account_type"]),
        str(m["to_account_text"]),
        str(m["asset"]),
        int(m["amount"]),
        str(m["status"]),
        int(m["time"]),
    )
