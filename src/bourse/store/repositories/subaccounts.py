"""The SQL of the sub-account service (``bourse.services.subaccounts``): the ``subaccounts``
rows (name, note, futures flag, fee markup, fund password hash) and the per-master quota
overrides (``subaccount_quotas``). Rows come back as SQLAlchemy rows with the table's columns.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from bourse.store import subaccount_tables as st
from bourse.store.repositories.dialect import upsert
from bourse.store.transaction import write

_s = st.subaccounts.c
_q = st.subaccount_quotas.c


class SubAccountRepository:
    """Sub-account records over one database."""

    def __init__(self, db: Engine) -> None:
        self.db = db

    # --- quotas ----------------------------------------------------------------------------------
    def limits(self, master: int) -> tuple[int, int] | None:
        """The operator's (max sub-accounts, max markup ppm) for ``master``, if set."""
        with self.db.connect() as conn:
            row = conn.execute(
                select(_q.max_subaccounts, _q.max_markup_ppm).where(_q.master_account_id == master)
            ).first()
        return None if row is None else (int(row[0]), int(row[1]))

    def set_limits(self, master: int, max_subaccounts: int, max_markup_ppm: int) -> None:
        with write(self.db) as conn:
            upsert(
                conn,
                st.subaccount_quotas,
                ["master_account_id"],
                {
                    "master_account_id": master,
                    "max_subaccounts": max_subaccounts,
                    "max_markup_ppm": max_markup_ppm,
                },
            )

    # --- reading ---------------------------------------------------------------------------------
    def by_name(self, master: int, name: str) -> Any | None:
        with self.db.connect() as conn:
            return conn.execute(
                select(st.subaccounts).where(_s.master_account_id == master, _s.name == name)
            ).first()

    def name_taken(self, master: int, name: str) -> bool:
        with self.db.connect() as conn:
            return (
                conn.execute(
                    select(_s.account_id).where(_s.master_account_id == master, _s.name == name)
                ).first()
                is not None
            )

    def by_account(self, account_id: int) -> Any | None:
        with self.db.connect() as conn:
            return conn.execute(select(st.subaccounts).where(_s.account_id == account_id)).first()

    def count(self, master: int) -> int:
        with self.db.connect() as conn:
            n = conn.execute(
                select(func.count()).where(_s.master_account_id == master)
            ).scalar_one()
        return int(n)

    def of_master(
        self,
        master: int,
        *,
        name: str | None = None,
        offset: int = 0,
        limit: int | None = None,
        ordered: bool = True,
    ) -> list[Any]:
        """The master's sub-account rows (oldest first unless ``ordered`` is False)."""
        q = select(st.subaccounts).where(_s.master_account_id == master)
        if name is not None:
            q = q.where(_s.name == name)
        if ordered:
            q = q.order_by(_s.created, _s.account_id)
        if offset:
            q = q.offset(offset)
        if limit is not None:
            q = q.limit(limit)
        with self.db.connect() as conn:
            return list(conn.execute(q).all())

    def names(self, master: int) -> dict[int, str]:
        """account id -> name of the master's sub-accounts."""
        with self.db.connect() as conn:
            rows = conn.execute(
                select(_s.account_id, _s.name).where(_s.master_account_id == master)
            ).all()
        return {int(r[0]): r[1] for r in rows}

    def password_hash(self, account_id: int) -> str | None:
        with self.db.connect() as conn:
            stored = conn.execute(
                select(_s.password_hash).where(_s.account_id == account_id)
            ).scalar()
        return None if stored is None else str(stored)

    def broker_id(self, account_id: int) -> int | None:
        with self.db.connect() as conn:
            bid = conn.execute(select(_s.broker_id).where(_s.account_id == account_id)).scalar()
        return None if bid is None else int(bid)

    # --- writing ---------------------------------------------------------------------------------
    def insert(
        self,
        account_id: int,
        master: int,
        broker_id: int | None,
        name: str,
        note: str,
        password_hash: str | None,
        created: int,
    ) -> bool:
        """Record a new sub-account; False if the (master, name) pair is already taken."""
        try:
            with write(self.db) as conn:
                conn.execute(
                    insert(st.subaccounts).values(
                        account_id=account_id,
                        master_account_id=master,
                        broker_id=broker_id,
                        name=name,
                        note=note,
                        futures=False,
                        maker_markup=0,
                        taker_markup=0,
                        password_hash=password_hash,
                        created=created,
                    )
                )
        except IntegrityError:
            return False
        return True

    def set_futures(self, account_id: int) -> None:
        with write(self.db) as conn:
            conn.execute(
                update(st.subaccounts).where(_s.account_id == account_id).values(futures=True)
            )

    def set_markup(self, account_id: int, maker_ppm: int, taker_ppm: int) -> None:
        with write(self.db) as conn:
            conn.execute(
                update(st.subaccounts)
                .where(_s.account_id == account_id)
                .values(maker_markup=maker_ppm, taker_markup=taker_ppm)
            )
