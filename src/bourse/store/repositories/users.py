"""The SQL of web users and their sessions (``users`` and ``sessions`` tables).

``UserRepository(db)`` is the only code that reads or writes them; the rules (password policy,
argon2, lockout thresholds, TOTP, session lifetimes) live in ``bourse.services.users``. Session
ids arrive here already digested (``bourse.store.oauth_tables.digest``). Two writes are
conditional so that concurrent log-ins stay correct: ``record_login`` with a TOTP step only
succeeds while the stored step is older (a code is good once), and ``insert_user`` reports a
duplicate e-mail instead of raising. Log-in failures per (e-mail, client IP) are counted by
one atomic upsert each (``record_login_failure``), so concurrent failures are never lost.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, Row, case, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from bourse.store.oauth_tables import login_failures, sessions, users
from bourse.store.repositories.dialect import dialect_insert
from bourse.store.transaction import write

#: a result row; columns are attributes
Record = Row[*tuple[Any, ...]]


class UserRepository:
    """Storage of web users and sessions on one SQLAlchemy engine."""

    def __init__(self, db: Engine) -> None:
        self.db = db

    # --- users ------------------------------------------------------------------------------
    @staticmethod
    def reencrypt_totp(conn: Connection, transform: Callable[[str], str | None]) -> int:
        """Replace every stored TOTP secret by ``transform(stored)`` (None: leave it) inside
        the caller's transaction ``conn`` (``bourse keys rotate-master``); how many.

        As ``ApiKeyRepository.reencrypt_all``: every row read under its row lock (PostgreSQL:
        FOR NO KEY UPDATE), taken in one order (by id) before the first update, so a secret
        changed meanwhile is read as committed and two such transactions never deadlock."""
        done = 0
        q = (
            select(users.c.id, users.c.totp_secret)
            .where(users.c.totp_secret.is_not(None))
            .order_by(users.c.id)
        )
        if conn.dialect.name == "postgresql":
            q = q.with_for_update(key_share=True)
        for uid, stored in conn.execute(q).all():
            new = transform(stored)
            if new is not None:
                conn.execute(update(users).where(users.c.id == uid).values(totp_secret=new))
                done += 1
        return done

    def insert_user(self, values: dict[str, Any]) -> int | None:
        """Insert a user; its id, or ``None`` if the e-mail (or account) is already taken."""
        try:
            with write(self.db) as conn:
                key = conn.execute(insert(users).values(**values)).inserted_primary_key
        except IntegrityError:
            return None
        assert key is not None
        return int(key[0])

    def user(self, user_id: int) -> Record | None:
        with self.db.connect() as conn:
            return conn.execute(select(users).where(users.c.id == user_id)).first()

    def user_by_email(self, email: str) -> Record | None:
        with self.db.connect() as conn:
            return conn.execute(select(users).where(users.c.email == email)).first()

    # --- log-in failures per (e-mail, client IP) --------------------------------------------
    def login_locked_until(self, email: str, ip: str) -> int:
        """Until when (ms) log-ins for ``email`` from ``ip`` are refused; 0 if they are not."""
        f = login_failures.c
        with self.db.connect() as conn:
            until = conn.execute(
                select(f.locked_until).where(f.email == email, f.ip == ip)
            ).scalar()
        return int(until or 0)

    def record_login_failure(
        self, email: str, ip: str, now: int, reset_before: int, lock_for: Callable[[int], int]
    ) -> tuple[int, int]:
        """Count one failure of ``(email, ip)`` atomically (a failure older than
        ``reset_before`` starts the count again) and lock the pair until
        ``now + lock_for(failures)`` (never shortening a lock a concurrent failure set);
        returns ``(failures, locked_until)``."""
        f = login_failures.c
        with write(self.db) as conn:
            stmt = dialect_insert(conn, login_failures).values(
                email=email, ip=ip, failures=1, last_failed=now, locked_until=0
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=["email", "ip"],
                set_={
                    "failures": case((f.last_failed < reset_before, 1), else_=f.failures + 1),
                    "last_failed": now,
                },
            ).returning(login_failures.c.failures)
            failures = int(conn.execute(stmt).scalar_one())
            lock = lock_for(failures)
            until = now + lock if lock > 0 else 0
            locked = conn.execute(
                update(login_failures)
                .where(f.email == email, f.ip == ip)
                .values(locked_until=case((f.locked_until < until, until), else_=f.locked_until))
                .returning(f.locked_until)
            ).scalar_one()
        return failures, int(locked)

    def clear_login_failures(self, email: str, ip: str) -> None:
        """A successful log-in from ``ip``: its failures (and lock) are forgotten."""
        f = login_failures.c
        with write(self.db) as conn:
            conn.execute(delete(login_failures).where(f.email == email, f.ip == ip))

    def prune_login_failures(self, before: int) -> int:
        """Forget failures older than ``before`` whose lock has ended; the rows deleted."""
        f = login_failures.c
        with write(self.db) as conn:
            res = conn.execute(
                delete(login_failures).where(f.last_failed < before, f.locked_until < before)
            )
        return int(res.rowcount)

    def record_login(self, user_id: int, values: dict[str, Any], totp_step: int | None) -> bool:
        """Write a successful log-in; with a TOTP step, only if no newer step was used
        (concurrent log-ins with one code: one wins). ``False`` if the condition failed."""
        q = update(users).where(users.c.id == user_id)
        if totp_step is not None:
            q = q.where(users.c.totp_last_step < totp_step)
        with write(self.db) as conn:
            return conn.execute(q.values(**values)).rowcount == 1

    def set_password(self, user_id: int, password_hash: str) -> None:
        with write(self.db) as conn:
            conn.execute(
                update(users).where(users.c.id == user_id).values(password_hash=password_hash)
            )

    def set_totp(
        self, user_id: int, stored_secret: str | None, last_step: int, *, only_if_off: bool = False
    ) -> bool:
        """Turn TOTP on (a stored secret) or off (``None``); with ``only_if_off``, only while
        it is off (two requests turning it on at once: one wins). Whether the row changed."""
        q = update(users).where(users.c.id == user_id)
        if only_if_off:
            q = q.where(users.c.totp_secret.is_(None))
        with write(self.db) as conn:
            res = conn.execute(q.values(totp_secret=stored_secret, totp_last_step=last_step))
        return int(res.rowcount) == 1

    # --- sessions ---------------------------------------------------------------------------
    def insert_session(self, values: dict[str, Any]) -> None:
        with write(self.db) as conn:
            conn.execute(insert(sessions).values(**values))

    def session_with_user(self, id_hash: str) -> Record | None:
        """The session row joined with its user's row (``users`` columns after the session's)."""
        q = (
            select(sessions, users)
            .select_from(sessions.join(users, users.c.id == sessions.c.user_id))
            .where(sessions.c.id_hash == id_hash)
        )
        with self.db.connect() as conn:
            return conn.execute(q).first()

    def touch_session(self, id_hash: str, now: int) -> None:
        with write(self.db) as conn:
            conn.execute(
                update(sessions).where(sessions.c.id_hash == id_hash).values(last_seen=now)
            )

    def revoke_session(self, id_hash: str, now: int) -> None:
        with write(self.db) as conn:
            conn.execute(
                update(sessions)
                .where(sessions.c.id_hash == id_hash, sessions.c.revoked.is_(None))
                .values(revoked=now)
            )

    def revoke_user_sessions(self, user_id: int, now: int, keep: str | None = None) -> int:
        """End the user's live sessions but ``keep`` (an id hash); how many ended."""
        q = update(sessions).where(sessions.c.user_id == user_id, sessions.c.revoked.is_(None))
        if keep is not None:
            q = q.where(sessions.c.id_hash != keep)
        with write(self.db) as conn:
            return int(conn.execute(q.values(revoked=now)).rowcount)

    def recent_sessions(self, user_id: int, limit: int) -> list[Record]:
        """The user's newest sessions (each is one log-in), newest first."""
        s = sessions.c
        q = (
            select(s.id_hash, s.created, s.last_seen, s.expires, s.revoked, s.user_agent)
            .where(s.user_id == user_id)
            .order_by(s.created.desc())
            .limit(limit)
        )
        with self.db.connect() as conn:
            return list(conn.execute(q).all())
