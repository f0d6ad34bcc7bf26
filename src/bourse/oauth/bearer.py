"""Using an access token on the OpenAPI: ``Authorization: Bearer <token>`` (RFC 6750).

``authenticate_bearer(repo, token)`` returns the ``BearerPrincipal`` the token acts
for, or raises ``BearerError``. It reads the database on every call (no cache), so a revoked
token, a revoked app or a disabled client is refused on the very next request.

``check_source(principal, source_header)`` enforces MEXC's OAuth-broker rule: orders carry the
broker id in the ``source`` header. A token is always attributed to its client's broker; a
``source`` that names another broker is refused (``SourceMismatch``) rather than silently
re-attributed, so one broker cannot collect another's rebates.
"""

from __future__ import annotations

from dataclasses import dataclass

from bourse.engine.clock import now_ms
from bourse.oauth import scopes as sc
from bourse.oauth import tokens as tk
from bourse.store.repositories.oauth import OAuthRepository

#: the longest ``source`` header compared (as ``bourse.domain.brokers.clean_source`` stores it)
MAX_SOURCE = 64


class BearerError(Exception):
    """The bearer token is missing, unknown, expired or revoked (RFC 6750 §3.1)."""

    status_code = 401

    def __init__(self, description: str, error: str = "invalid_token") -> None:
        super().__init__(description)
        self.error = error
        self.description = description

    @property
    def www_authenticate(self) -> str:
        desc = self.description.replace('"', "'")
        return f'Bearer realm="bourse", error="{self.error}", error_description="{desc}"'


class InsufficientScope(BearerError):
    """The token is valid but its scopes do not carry the permission the endpoint needs."""

    status_code = 403

    def __init__(self, permission: str) -> None:
        super().__init__(
            f"this token's scopes do not grant {permission}", error="insufficient_scope"
        )
        self.permission = permission


class SourceMismatch(Exception):
    """The ``source`` header names a broker other than the token's client's broker."""

    def __init__(self, source: str, broker_id: int | None) -> None:
        expected = "no broker" if broker_id is None else f"broker {broker_id}"
        super().__init__(
            f"the source header {source!r} does not match this token, which belongs to {expected}"
        )
        self.source = source
        self.broker_id = broker_id


@dataclass(frozen=True, slots=True)
class BearerPrincipal:
    account_id: int
    scopes: frozenset[str]
    permissions: frozenset[str]
    client_id: str
    broker_id: int | None
    user_id: int
    token_id: int
    #: the broker's optional ``source`` alias (``brokers.code``)
    broker_code: str | None = None
    #: the grant the token belongs to: its token family (``tokens``), which refreshes keep
    family_id: str = ""

    def has(self, permission: str) -> bool:
        return permission in self.permissions

    def require(self, permission: str) -> None:
        if permission not in self.permissions:
            raise InsufficientScope(permission)


def token_from_header(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else ``None``."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    value = value.strip()
    return value or None


def authenticate_bearer(
    repo: OAuthRepository, token: str | None, *, now: int | None = None
) -> BearerPrincipal:
    """The principal an access token acts for; raises ``BearerError``. Records last use."""
    if not token:
        raise BearerError("missing bearer token")
    if not token.startswith(tk.ACCESS_PREFIX) or len(token) > 256:
        raise BearerError("not an access token")
    now = now_ms() if now is None else now
    row = repo.bearer(tk.digest(token))
    if row is None:
        raise BearerError("unknown access token")
    if row.revoked is not None:
        raise BearerError("the access token was revoked")
    if row.disabled:
        raise BearerError("the app this token was issued to is disabled")
    if row.broker_status is not None and row.broker_status != "APPROVED":
        raise BearerError("the broker of the app this token was issued to is not approved")
    if now >= row.access_expires:
        raise BearerError("the access token has expired")
    if row.last_used is None or row.last_used < now - tk.LAST_USED_RESOLUTION_MS:
        tk.touch(repo, row.id, now)  # a write at most every few seconds per token
    scopes = frozenset(sc.parse(row.scope))
    return BearerPrincipal(
        account_id=row.account_id,
        scopes=scopes,
        permissions=sc.permissions(row.scope),
        client_id=row.client_id,
        broker_id=row.broker_id,
        user_id=row.user_id,
        token_id=row.id,
        broker_code=row.broker_code,
        family_id=row.family_id,
    )


def check_source(principal: BearerPrincipal, source_header: str | None) -> int | None:
    """The broker id to attribute a request to; ``SourceMismatch`` if ``source`` disagrees.

    ``source`` may name the broker by decimal id or by its code, as everywhere else. A missing or
    empty ``source`` is accepted and attributed to the token's broker (the token already proves
    which app is calling); a ``source`` naming any other broker, or any broker at all for a
    client that has none, is refused.
    """
    source = (source_header or "").strip()[:MAX_SOURCE]
    if not source:
        return principal.broker_id
    if principal.broker_id is None:
        raise SourceMismatch(source, None)
    if source == str(principal.broker_id):
        return principal.broker_id
    if principal.broker_code and source == principal.broker_code:
        return principal.broker_id
    raise SourceMismatch(source, principal.broker_id)
