"""The SQL of the operator console's sessions (``bourse.store.operator_tables``); the rules
(lifetimes, the cookie) are ``bourse.web.operator_session``'s."""

from __future__ import annotations

from sqlalchemy import delete, insert, or_, select, update

from bourse.store.operator_tables import operator_sessions as t
from bourse.store.repositories.base import Repository
from bourse.store.transaction import write


class OperatorSessionRepository(Repository):
    def insert(self, id_hash: str, csrf: str, now: int) -> None:
        with write(self.db) as conn:
            conn.execute(insert(t).values(id_hash=id_hash, csrf=csrf, created=now, last_seen=now))

    def touch(self, id_hash: str, now: int, idle_since: int, born_since: int) -> str | None:
        """The CSRF token of the session, its ``last_seen`` set to ``now``, if it was used
        after ``idle_since`` and began after ``born_since``; else ``None``."""
        live = (t.c.id_hash == id_hash) & (t.c.last_seen > idle_since) & (t.c.created > born_since)
        with write(self.db) as conn:
            csrf = conn.execute(select(t.c.csrf).where(live)).scalar_one_or_none()
            if csrf is not None:
                conn.execute(update(t).where(t.c.id_hash == id_hash).values(last_seen=now))
        return csrf

    def delete(self, id_hash: str) -> None:
        with write(self.db) as conn:
            conn.execute(delete(t).where(t.c.id_hash == id_hash))

    def prune(self, idle_since: int, born_since: int) -> int:
        """Delete the sessions idle since ``idle_since`` or begun before ``born_since``."""
        gone = or_(t.c.last_seen <= idle_since, t.c.created <= born_since)
        with write(self.db) as conn:
            return int(conn.execute(delete(t).where(gone)).rowcount or 0)
