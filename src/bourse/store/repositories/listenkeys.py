"""The ``listen_keys`` table: listenKeys of the user-data streams (the SQL only; the rules are
``bourse.services.listenkeys``)."""

from __future__ import annotations

from sqlalchemy import Engine, delete, func, insert, select, update

from bourse.store.stream_tables import listen_keys as t
from bourse.store.transaction import write


class ListenKeyRepository:
    def __init__(self, db: Engine) -> None:
        self.db = db

    def add(self, key: str, account: int, created: int, expires: int) -> None:
        with write(self.db) as conn:
            conn.execute(
                insert(t).values(
                    listen_key=key, account_id=account, created=created, expires=expires
                )
            )

    def count_valid(self, account: int, now: int) -> int:
        with self.db.connect() as conn:
            q = select(func.count()).select_from(t)
            return int(
                conn.execute(q.where(t.c.account_id == account, t.c.expires > now)).scalar_one()
            )

    def valid_keys(self, account: int, now: int) -> list[str]:
        """The account's keys still valid at ``now``, oldest first."""
        with self.db.connect() as conn:
            rows = conn.execute(
                select(t.c.listen_key)
                .where(t.c.account_id == account, t.c.expires > now)
                .order_by(t.c.created, t.c.listen_key)
            )
            return [r[0] for r in rows]

    def extend(self, account: int, key: str, now: int, expires: int) -> bool:
        """Move a still-valid key's expiry to ``expires``; False if there is no such key."""
        with write(self.db) as conn:
            res = conn.execute(
                update(t)
                .where(t.c.listen_key == key, t.c.account_id == account, t.c.expires > now)
                .values(expires=expires)
            )
            return bool(res.rowcount)

    def remove(self, account: int, key: str) -> bool:
        with write(self.db) as conn:
            res = conn.execute(delete(t).where(t.c.listen_key == key, t.c.account_id == account))
            return bool(res.rowcount)

    def account_of(self, key: str, now: int) -> int | None:
        """The account a key valid at ``now`` belongs to."""
        with self.db.connect() as conn:
            row = conn.execute(
                select(t.c.account_id).where(t.c.listen_key == key, t.c.expires > now)
            ).first()
            return int(row[0]) if row else None

    def purge_expired(self, now: int) -> int:
        with write(self.db) as conn:
            return int(conn.execute(delete(t).where(t.c.expires <= now)).rowcount)
