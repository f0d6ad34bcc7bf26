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

The SQL (and the transactions that make rotation atomic) is in
``bourse.store.repositories.oauth``; this module holds the rules and the row values.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749 import TokenMixin

from bourse.store.oauth_tables import digest
from bourse.store.repositories.oauth import OAuthRepository

ACCESS_TOKEN_TTL = 3600  # seconds
REFRESH_TOKEN_TTL = 30 * 24 * 3600
FAMILY_MAX_AGE = 90 * 24 * 3600
#: ``last_used`` is written at most this often per token (keeps the hot path read-mostly)
LAST_USED_RESOLUTION_MS = 5_000

ACCESS_PREFIX = "bat_"
REFRESH_PREFIX = "brt_"

__all__ = ["digest"]  # re-exported: the stored form of codes and tokens


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
    def from_row(cls, row: Any, kind: str, now: int) -> TokenRecord:
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
    def check_client(self, client: Any) -> bool:
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


def token_row(
    token: dict[str, Any],
    *,
    family_id: str,
    parent_id: int | None,
    client_id: str,
    user_id: int,
    account_id: int,
    scope: str,
    now: int,
    family_expires: int,
) -> dict[str, Any]:
    """The ``oauth_tokens`` row that stores a token response (``access_token`` and
    ``refresh_token``): digests and expiry times."""
    refresh = token.get("refresh_token")
    return dict(
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


def rotate(
    repo: OAuthRepository, old: TokenRecord, token: dict[str, Any], scope: str, now: int
) -> bool:
    """Consume ``old``'s refresh token and store its successor ``token``, atomically.

    Returns ``False`` (and stores nothing) when ``old`` was consumed, revoked or expired in the
    meantime: the caller must then treat it as a replay.
    """
    row = token_row(
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
    return repo.rotate_refresh(old.id, now, row)


def revoke_family(repo: OAuthRepository, family_id: str, now: int) -> int:
    """Revoke every token of a family; returns how many rows changed."""
    return repo.revoke_family(family_id, now)


def find(repo: OAuthRepository, value: str, kind: str | None, now: int) -> TokenRecord | None:
    """The row holding ``value`` as an access token or a refresh token.

    ``kind`` is a hint (``access_token``/``refresh_token``); both are searched either way, as
    RFC 7009 §2.1 and RFC 7662 §2.1 ask.
    """
    if not value or len(value) > 256:
        return None
    h = digest(value)
    order = ["refresh_token", "access_token"] if kind == "refresh_token" else None
    order = order or ["access_token", "refresh_token"]
    for k in order:
        row = repo.token_by_access(h) if k == "access_token" else repo.token_by_refresh(h)
        if row is not None:
            return TokenRecord.from_row(row, k, now)
    return None


def touch(repo: OAuthRepository, token_id: int, now: int) -> None:
    """Record that an access token was used (at most every ``LAST_USED_RESOLUTION_MS``)."""
    repo.touch_token(token_id, now, LAST_USED_RESOLUTION_MS)


def family_rows(repo: OAuthRepository, family_id: str) -> list[Any]:
    """Every row of a family, oldest first (tests and audits)."""
    return repo.family_rows(family_id)
