"""Access and refresh tokens: issuing, rotating with reuse detection, revoking, looking up.

* **Opaque and hashed.** Tokens are 256-bit random strings (``bat_...`` access, ``brt_...``
  refresh, prefixes that secret scanners can match); only their SHA-256 digests are stored.
* **Lifetimes.** Access tokens live ``ACCESS_TOKEN_TTL`` (1 hour). A refresh token lives
  ``REFRESH_TOKEN_TTL`` (30 days) from its issue, which is an inactivity limit since every refresh
  issues a new one, and never beyond its family's absolute limit ``FAMILY_MAX_AGE`` (90 days from
  the user's consent), after which the user must authorise the app again.
* **Families.** The tokens that descend from one authorization code form a family
  (``family_id``). Every refresh consumes the presented refresh token with a conditional UPDATE
  (``... WHERE consumed IS NULL AND revoked IS NULL``) in the same transaction that inserts its
  successor, so of two concurrent refreshes exactly one succeeds. Presenting a refresh token that
  is already consumed (a replay, or the loser of such a race) revokes the whole family
  (RFC 9700 §4.14.2): whoever holds the newest tokens, thief or app, loses them.
* **Revocation** (user revokes the app, RFC 7009, code replay, client disabled) sets ``revoked``
  on rows; ``bearer.authenticate_bearer`` reads the database on every request, so it takes effect
  on the next one.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from authlib.oauth2.rfc6749 import TokenMixin
from sqlalchemy import Connection, Engine, and_, insert, or_, select, update

from bourse.store.oauth_tables import oauth_tokens

ACCESS_TOKEN_TTL = 3600  # seconds
REFRESH_TOKEN_TTL = 30 * 24 * 3600
FAMILY_MAX_AGE = 90 * 24 * 3600
#: ``last_used`` is written at most this often per token (keeps the hot path read-mostly)
LAST_USED_RESOLUTION_MS = 5_000

ACCESS_PREFIX = "bat_"
REFRESH_PREFIX = "brt_"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def digest(value: str) -> str:
    """The stored form of a code, token or session id."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def new_access_token() -> str:
    return ACCESS_PREFIX + secrets.token_urlsafe(32)


def new_refresh_token() -> str:
    return REFRESH_PREFIX + secrets.token_urlsafe(32)


def new_family_id() -> str:
    return secrets.token_hex(16)


@dataclass(slots=True)
class TokenRecord(TokenMixin):
    """One ``oauth_tokens`` row, as found by its access token or its refresh token (``kind``)."""

    id: int
    family_id: str
    parent_id: int | None
    client_id: str
    user_id: int
    account_id: int
    scope: str
    created: int
    access_expires: int
    refresh_expires: int
    family_expires: int
    consumed: int | None
    revoked: int | None
    last_used: int | None
    kind: str  # "access_token" | "refresh_token"
    now: int

    @classmethod
    def from_row(cls, row, kind: str, now: int) -> TokenRecord:  # type: ignore[no-untyped-def]
        return cls(
            id=row.id,
            family_id=row.family_id,
            parent_id=row.parent_id,
            client_id=row.client_id,
            user_id=row.user_id,
            account_id=row.account_id,
            scope=row.scope,
            created=row.created,
            access_expires=row.access_expires,
            refresh_expires=row.refresh_expires,
            family_expires=row.family_expires,
            consumed=row.consumed,
            revoked=row.revoked,
            last_used=row.last_used,
            kind=kind,
            now=now,
        )

    @property
    def expires_at_ms(self) -> int:
        if self.kind == "access_token":
            return self.access_expires
        return min(self.refresh_expires, self.family_expires)

    # --- authlib TokenMixin -------------------------------------------------------------------
    def check_client(self, client) -> bool:  # type: ignore[no-untyped-def]
        return secrets.compare_digest(self.client_id, client.get_client_id())

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return max(0, (self.expires_at_ms - self.created) // 1000)

    def is_expired(self) -> bool:
        if self.kind == "refresh_token" and self.consumed is not None:
            return True
        return self.now >= self.expires_at_ms

    def is_revoked(self) -> bool:
        return self.revoked is not None


def issue(
    conn: Connection,
    token: dict,
    *,
    family_id: str,
    parent_id: int | None,
    client_id: str,
    user_id: int,
    account_id: int,
    scope: str,
    now: int,
    family_expires: int,
) -> int:
    """Store a token response (``access_token`` and ``refresh_token``) inside ``conn``'s
    transaction; returns the row id."""
    refresh = token.get("refresh_token")
    row = dict(
        family_id=family_id,
        parent_id=parent_id,
        client_id=client_id,
        user_id=user_id,
        account_id=account_id,
        scope=scope,
        access_hash=digest(token["access_token"]),
        refresh_hash=digest(refresh) if refresh else None,
        created=now,
        access_expires=now + int(token.get("expires_in") or ACCESS_TOKEN_TTL) * 1000,
        refresh_expires=min(now + REFRESH_TOKEN_TTL * 1000, family_expires),
        family_expires=family_expires,
    )
    return int(conn.execute(insert(oauth_tokens).values(**row)).inserted_primary_key[0])


class _Lost(Exception):
    """The refresh token was not there to consume (rolls the transaction back)."""


def rotate(db: Engine, old: TokenRecord, token: dict, scope: str, now: int) -> bool:
    """Consume ``old``'s refresh token and store its successor ``token``, atomically.

    Returns ``False`` (and stores nothing) when ``old`` was consumed, revoked or expired in the
    meantime: the caller must then treat it as a replay.
    """
    try:
        with db.begin() as conn:
            won = conn.execute(
                update(oauth_tokens)
                .where(
                    oauth_tokens.c.id == old.id,
                    oauth_tokens.c.consumed.is_(None),
                    oauth_tokens.c.revoked.is_(None),
                    oauth_tokens.c.refresh_expires > now,
                    oauth_tokens.c.family_expires > now,
                )
                .values(consumed=now)
            ).rowcount
            if won != 1:
                raise _Lost
            issue(
                conn,
                token,
                family_id=old.family_id,
                parent_id=old.id,
                client_id=old.client_id,
                user_id=old.user_id,
                account_id=old.account_id,
                scope=scope,
                now=now,
                family_expires=old.family_expires,
            )
    except _Lost:
        return False
    return True


def revoke_family(db_or_conn: Engine | Connection, family_id: str, now: int) -> int:
    """Revoke every token of a family; returns how many rows changed."""
    stmt = (
        update(oauth_tokens)
        .where(oauth_tokens.c.family_id == family_id, oauth_tokens.c.revoked.is_(None))
        .values(revoked=now)
    )
    if isinstance(db_or_conn, Engine):
        with db_or_conn.begin() as conn:
            return conn.execute(stmt).rowcount
    return db_or_conn.execute(stmt).rowcount


def revoke_user_client(conn: Connection, user_id: int, client_id: str, now: int) -> int:
    """Revoke every token ``client_id`` holds for ``user_id`` (the user revoked the app)."""
    return conn.execute(
        update(oauth_tokens)
        .where(
            oauth_tokens.c.user_id == user_id,
            oauth_tokens.c.client_id == client_id,
            oauth_tokens.c.revoked.is_(None),
        )
        .values(revoked=now)
    ).rowcount


def find(db: Engine, value: str, kind: str | None, now: int) -> TokenRecord | None:
    """The row holding ``value`` as an access token or a refresh token.

    ``kind`` is a hint (``access_token``/``refresh_token``); both are searched either way, as
    RFC 7009 §2.1 and RFC 7662 §2.1 ask.
    """
    if not value or len(value) > 256:
        return None
    h = digest(value)
    order = ["refresh_token", "access_token"] if kind == "refresh_token" else None
    order = order or ["access_token", "refresh_token"]
    with db.connect() as conn:
        for k in order:
            col = oauth_tokens.c.access_hash if k == "access_token" else oauth_tokens.c.refresh_hash
            row = conn.execute(select(oauth_tokens).where(col == h)).first()
            if row is not None:
                return TokenRecord.from_row(row, k, now)
    return None


def touch(db: Engine, token_id: int, now: int) -> None:
    """Record that an access token was used (at most every ``LAST_USED_RESOLUTION_MS``)."""
    with db.begin() as conn:
        conn.execute(
            update(oauth_tokens)
            .where(
                oauth_tokens.c.id == token_id,
                or_(
                    oauth_tokens.c.last_used.is_(None),
                    oauth_tokens.c.last_used < now - LAST_USED_RESOLUTION_MS,
                ),
            )
            .values(last_used=now)
        )


def family_rows(db: Engine, family_id: str) -> list:
    """Every row of a family, oldest first (tests and audits)."""
    with db.connect() as conn:
        return list(
            conn.execute(
                select(oauth_tokens)
                .where(oauth_tokens.c.family_id == family_id)
                .order_by(oauth_tokens.c.id)
            )
        )


def live_access_filter(now: int):  # type: ignore[no-untyped-def]
    """SQL condition: the row's access token is usable at ``now``."""
    return and_(oauth_tokens.c.revoked.is_(None), oauth_tokens.c.access_expires > now)
