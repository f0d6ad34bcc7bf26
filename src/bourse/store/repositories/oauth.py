"""The SQL of the OAuth authorization server: clients, codes, tokens, consents.

``OAuthRepository(db)`` is the only code that reads or writes the ``oauth_*`` tables
(``bourse.store.oauth_tables``). Rows come back as SQLAlchemy ``Row`` objects (attribute access
by column name); ``bourse.oauth`` turns them into its authlib-facing records. The protocol rules
(expiry, scopes, PKCE) stay in ``bourse.oauth``; what must be atomic is atomic here:

* ``exchange_code`` consumes an authorization code with a conditional UPDATE (``used IS NULL``)
  and inserts the token row in the same transaction: of two concurrent exchanges one wins;
* ``rotate_refresh`` consumes a refresh token the same way (``consumed IS NULL AND revoked IS
  NULL`` and not expired) and inserts its successor in that transaction;
* ``set_client_disabled`` and ``revoke_consent`` change the client or consent and revoke the
  tokens (and codes) in one transaction;
* ``insert_client_limited`` counts a broker's clients and inserts under a write lock (SQLite
  ``BEGIN IMMEDIATE``, an advisory lock per broker on PostgreSQL), so concurrent registrations
  never pass the cap; ``change_client`` is a read-modify-write of one client under its row
  lock; ``rotate_client_secret`` moves the current digest to ``previous_secret_hash`` in the
  same UPDATE that stores the new one.

Every write that revokes tokens (``revoke_family``, ``revoke_consent``, disabling a client)
calls ``on_revoke`` after its commit: the listenKeys of the grants it ended stop at once
(``bourse.services.listenkeys``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, Row, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from bourse.store.broker_tables import brokers
from bourse.store.oauth_tables import oauth_clients, oauth_codes, oauth_consents, oauth_tokens
from bourse.store.repositories.freeze import refuse_frozen
from bourse.store.transaction import write

#: a result row; columns are attributes
Record = Row[*tuple[Any, ...]]


class _Lost(Exception):
    """A conditional UPDATE found nothing to consume (rolls the transaction back)."""


class OAuthRepository:
    """Storage of the OAuth server on one SQLAlchemy engine."""

    def __init__(self, db: Engine) -> None:
        self.db = db
        #: told after a commit that revoked tokens (quick, never blocking; any thread)
        self.on_revoke: Callable[[], None] | None = None

    def _revoked(self) -> None:
        if self.on_revoke is not None:
            self.on_revoke()

    # --- clients ----------------------------------------------------------------------------
    def insert_client(self, values: dict[str, Any]) -> None:
        with write(self.db) as conn:
            conn.execute(insert(oauth_clients).values(**values))

    def client(self, client_id: str) -> Record | None:
        with self.db.connect() as conn:
            return conn.execute(
                select(oauth_clients).where(oauth_clients.c.client_id == client_id)
            ).first()

    def clients(self, broker_id: int | None = None) -> list[Record]:
        """Every client (of ``broker_id`` when given), oldest first."""
        q = select(oauth_clients).order_by(oauth_clients.c.created)
        if broker_id is not None:
            q = q.where(oauth_clients.c.broker_id == broker_id)
        with self.db.connect() as conn:
            return list(conn.execute(q))

    def set_client_secret(self, client_id: str, secret_hash: str) -> bool:
        """Replace the client's secret digest; ``False`` if there is no such client."""
        with write(self.db) as conn:
            n = conn.execute(
                update(oauth_clients)
                .where(oauth_clients.c.client_id == client_id)
                .values(secret_hash=secret_hash)
            ).rowcount
        return n == 1

    def insert_client_limited(self, values: dict[str, Any], broker_id: int, limit: int) -> bool:
        """Insert a client of ``broker_id`` unless it already has ``limit`` enabled clients;
        ``False`` (nothing inserted) at the cap."""
        with write(self.db, lock=("oauth_clients", broker_id)) as conn:
            n = conn.execute(
                select(func.count()).where(
                    oauth_clients.c.broker_id == broker_id, oauth_clients.c.disabled.is_(False)
                )
            ).scalar_one()
            if n >= limit:
                return False
            conn.execute(insert(oauth_clients).values(**values))
        return True

    def change_client(self, client_id: str, change: Any) -> Record | None:
        """Read the client under a write lock, ``change(row)`` gives the columns to set (or
        raises, which changes nothing); returns the row after. ``None`` if unknown."""
        with write(self.db) as conn:
            q = select(oauth_clients).where(oauth_clients.c.client_id == client_id)
            if conn.dialect.name == "postgresql":
                q = q.with_for_update()
            row = conn.execute(q).first()
            if row is None:
                return None
            conn.execute(
                update(oauth_clients)
                .where(oauth_clients.c.client_id == client_id)
                .values(**change(row))
            )
            return conn.execute(
                select(oauth_clients).where(oauth_clients.c.client_id == client_id)
            ).first()

    def rotate_client_secret(
        self, client_id: str, secret_hash: str, previous_expires: int | None, now: int
    ) -> bool:
        """The new digest becomes current; the current one stays valid until
        ``previous_expires`` (``None``: it stops now). One UPDATE: SET reads the old row."""
        c = oauth_clients.c
        keep = previous_expires is not None
        with write(self.db) as conn:
            n = conn.execute(
                update(oauth_clients)
                .where(c.client_id == client_id)
                .values(
                    previous_secret_hash=c.secret_hash if keep else None,
                    previous_secret_expires=previous_expires,
                    secret_hash=secret_hash,
                    secret_rotated=now,
                )
            ).rowcount
        return n == 1

    def set_client_redirect_uris(self, client_id: str, redirect_uris: str) -> None:
        with write(self.db) as conn:
            conn.execute(
                update(oauth_clients)
                .where(oauth_clients.c.client_id == client_id)
                .values(redirect_uris=redirect_uris)
            )

    def set_client_disabled(self, client_id: str, disabled: bool, now: int) -> None:
        """Disable (or re-enable) a client; disabling revokes its tokens in the same transaction."""
        with write(self.db) as conn:
            conn.execute(
                update(oauth_clients)
                .where(oauth_clients.c.client_id == client_id)
                .values(disabled=disabled)
            )
            if disabled:
                conn.execute(
                    update(oauth_tokens)
                    .where(oauth_tokens.c.client_id == client_id, oauth_tokens.c.revoked.is_(None))
                    .values(revoked=now)
                )
        if disabled:
            self._revoked()

    # --- authorization codes ----------------------------------------------------------------
    def insert_code(self, values: dict[str, Any]) -> None:
        with write(self.db) as conn:
            conn.execute(insert(oauth_codes).values(**values))

    def code(self, code_hash: str) -> Record | None:
        with self.db.connect() as conn:
            return conn.execute(
                select(oauth_codes).where(oauth_codes.c.code_hash == code_hash)
            ).first()

    def exchange_code(self, code_hash: str, now: int, token: dict[str, Any]) -> bool:
        """Consume the code and store the token row ``token``, atomically.

        ``False`` (nothing stored) when the code was used or expired in the meantime;
        ``AccountFrozen`` (nothing stored, the code left unused) when the token's account is
        frozen (``freeze.refuse_frozen``, in this transaction).
        """
        try:
            with write(self.db) as conn:
                refuse_frozen(conn, int(token["account_id"]))
                won = conn.execute(
                    update(oauth_codes)
                    .where(
                        oauth_codes.c.code_hash == code_hash,
                        oauth_codes.c.used.is_(None),
                        oauth_codes.c.expires > now,
                    )
                    .values(used=now)
                ).rowcount
                if won != 1:
                    raise _Lost
                self._insert_token(conn, token)
        except _Lost:
            return False
        return True

    # --- tokens -----------------------------------------------------------------------------
    @staticmethod
    def _insert_token(conn: Connection, values: dict[str, Any]) -> int:
        key = conn.execute(insert(oauth_tokens).values(**values)).inserted_primary_key
        assert key is not None
        return int(key[0])

    def rotate_refresh(self, old_id: int, now: int, token: dict[str, Any]) -> bool:
        """Consume the refresh token of row ``old_id`` and store its successor, atomically.

        ``False`` (nothing stored) when it was consumed, revoked or expired in the meantime;
        ``AccountFrozen`` (nothing stored or consumed) when the token's account is frozen.
        """
        try:
            with write(self.db) as conn:
                refuse_frozen(conn, int(token["account_id"]))
                won = conn.execute(
                    update(oauth_tokens)
                    .where(
                        oauth_tokens.c.id == old_id,
                        oauth_tokens.c.consumed.is_(None),
                        oauth_tokens.c.revoked.is_(None),
                        oauth_tokens.c.refresh_expires > now,
                        oauth_tokens.c.family_expires > now,
                    )
                    .values(consumed=now)
                ).rowcount
                if won != 1:
                    raise _Lost
                self._insert_token(conn, token)
        except _Lost:
            return False
        return True

    def revoke_family(self, family_id: str, now: int) -> int:
        """Revoke every token of a family; returns how many rows changed."""
        with write(self.db) as conn:
            n = conn.execute(
                update(oauth_tokens)
                .where(oauth_tokens.c.family_id == family_id, oauth_tokens.c.revoked.is_(None))
                .values(revoked=now)
            ).rowcount
        if n:
            self._revoked()
        return int(n)

    def token_by_access(self, access_hash: str) -> Record | None:
        with self.db.connect() as conn:
            return conn.execute(
                select(oauth_tokens).where(oauth_tokens.c.access_hash == access_hash)
            ).first()

    def token_by_refresh(self, refresh_hash: str) -> Record | None:
        with self.db.connect() as conn:
            return conn.execute(
                select(oauth_tokens).where(oauth_tokens.c.refresh_hash == refresh_hash)
            ).first()

    def touch_token(self, token_id: int, now: int, resolution_ms: int) -> None:
        """Set ``last_used`` unless it was set within the last ``resolution_ms``."""
        with write(self.db) as conn:
            conn.execute(
                update(oauth_tokens)
                .where(
                    oauth_tokens.c.id == token_id,
                    or_(
                        oauth_tokens.c.last_used.is_(None),
                        oauth_tokens.c.last_used < now - resolution_ms,
                    ),
                )
                .values(last_used=now)
            )

    def family_rows(self, family_id: str) -> list[Record]:
        """Every row of a family, oldest first (tests and audits)."""
        with self.db.connect() as conn:
            return list(
                conn.execute(
                    select(oauth_tokens)
                    .where(oauth_tokens.c.family_id == family_id)
                    .order_by(oauth_tokens.c.id)
                )
            )

    def bearer(self, access_hash: str) -> Record | None:
        """An access token's row with its client's ``broker_id``/``disabled`` and its broker's
        ``broker_code``/``broker_status`` (``None`` without a broker)."""
        q = (
            select(
                oauth_tokens.c.id,
                oauth_tokens.c.family_id,
                oauth_tokens.c.account_id,
                oauth_tokens.c.user_id,
                oauth_tokens.c.scope,
                oauth_tokens.c.client_id,
                oauth_tokens.c.revoked,
                oauth_tokens.c.access_expires,
                oauth_tokens.c.last_used,
                oauth_clients.c.broker_id,
                oauth_clients.c.disabled,
                brokers.c.code.label("broker_code"),
                brokers.c.status.label("broker_status"),
            )
            .select_from(
                oauth_tokens.join(
                    oauth_clients, oauth_clients.c.client_id == oauth_tokens.c.client_id
                ).outerjoin(brokers, brokers.c.id == oauth_clients.c.broker_id)
            )
            .where(oauth_tokens.c.access_hash == access_hash)
        )
        with self.db.connect() as conn:
            return conn.execute(q).first()

    # --- consents ---------------------------------------------------------------------------
    def upsert_consent(self, user_id: int, client_id: str, scope: str, now: int) -> None:
        """Record (or widen/renew) the user's consent for ``client_id``."""
        for _ in range(2):  # a concurrent insert makes the second pass an update
            with write(self.db) as conn:
                n = conn.execute(
                    update(oauth_consents)
                    .where(
                        oauth_consents.c.user_id == user_id,
                        oauth_consents.c.client_id == client_id,
                    )
                    .values(scope=scope, updated=now, revoked=None)
                ).rowcount
                if n:
                    return
            try:
                with write(self.db) as conn:
                    conn.execute(
                        insert(oauth_consents).values(
                            user_id=user_id,
                            client_id=client_id,
                            scope=scope,
                            created=now,
                            updated=now,
                            revoked=None,
                        )
                    )
                return
            except IntegrityError:
                continue

    def live_consents(self, user_id: int) -> list[Record]:
        """The user's unrevoked consents joined with their client (every ``oauth_clients``
        column) and ``last_used`` (the last bearer use of any of its tokens), newest first."""
        last_used = (
            select(func.max(oauth_tokens.c.last_used))
            .where(
                oauth_tokens.c.user_id == oauth_consents.c.user_id,
                oauth_tokens.c.client_id == oauth_consents.c.client_id,
            )
            .scalar_subquery()
        )
        q = (
            select(oauth_consents, oauth_clients, last_used.label("last_used"))
            .select_from(
                oauth_consents.join(
                    oauth_clients, oauth_clients.c.client_id == oauth_consents.c.client_id
                )
            )
            .where(oauth_consents.c.user_id == user_id, oauth_consents.c.revoked.is_(None))
            .order_by(oauth_consents.c.updated.desc())
        )
        with self.db.connect() as conn:
            return list(conn.execute(q))

    def revoke_consent(self, user_id: int, client_id: str, now: int) -> int:
        """Revoke the consent, expire the unused codes and revoke every token ``client_id``
        holds for ``user_id``, in one transaction; returns how many token rows were revoked."""
        with write(self.db) as conn:
            conn.execute(
                update(oauth_consents)
                .where(
                    oauth_consents.c.user_id == user_id,
                    oauth_consents.c.client_id == client_id,
                    oauth_consents.c.revoked.is_(None),
                )
                .values(revoked=now)
            )
            conn.execute(
                update(oauth_codes)
                .where(
                    oauth_codes.c.user_id == user_id,
                    oauth_codes.c.client_id == client_id,
                    oauth_codes.c.used.is_(None),
                )
                .values(expires=now)
            )
            n = conn.execute(
                update(oauth_tokens)
                .where(
                    oauth_tokens.c.user_id == user_id,
                    oauth_tokens.c.client_id == client_id,
                    oauth_tokens.c.revoked.is_(None),
                )
                .values(revoked=now)
            ).rowcount
        if n:
            self._revoked()
        return int(n)
