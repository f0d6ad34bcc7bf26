"""Bearer tokens on the MEXC OpenAPI: the adapter the request pipeline calls.

``bourse.oauth.bearer`` holds the protocol (RFC 6750: is the token valid, what may it do, does
the ``source`` header match); this module maps its outcomes to MEXC errors.

``bearer_key(platform, authorization, source, permission, now)`` authenticates an
``Authorization: Bearer <token>`` header and returns an ``ApiKey``-shaped value the handlers
already understand (``account_id``, ``permissions``, no IP or symbol limits), plus the
``BearerPrincipal``. Errors are MEXC ``ApiError``\\ s:

* no/unknown/expired/revoked token: ``10072`` (HTTP 401), like an invalid API key;
* the token's scopes lack the endpoint's permission: ``700007`` (HTTP 403, RFC 6750's
  ``insufficient_scope``; an API key lacking a permission gets MEXC's 401);
* a ``source`` header naming another broker than the token's: ``700007`` (HTTP 403) with a
  message that says so.

A bearer request needs no ``signature``/``timestamp`` (the token is the credential); they
are ignored if sent. See ``docs/oauth.md`` for how ``bourse.api.mexc.routes`` calls this.
"""

from __future__ import annotations

from typing import Protocol

from bourse.api.mexc import errors as e
from bourse.api.mexc.errors import ApiError
from bourse.oauth.bearer import (
    BearerError,
    BearerPrincipal,
    InsufficientScope,
    SourceMismatch,
    authenticate_bearer,
    check_source,
    token_from_header,
)
from bourse.services.apikeys import ApiKey
from bourse.store.repositories.oauth import OAuthRepository

KEY_PREFIX = "oauth:"


class HasOAuthStore(Protocol):
    """What ``bearer_key`` reads of the platform (``bourse.services.bundle.Services``)."""

    @property
    def oauth(self) -> OAuthRepository: ...


def is_bearer(authorization: str | None) -> bool:
    return token_from_header(authorization) is not None


def bearer_key(
    platform: HasOAuthStore,
    authorization: str | None,
    source: str | None,
    permission: str | None,
    now: int,
) -> tuple[ApiKey, BearerPrincipal]:
    """The key-shaped credential of a bearer request; raises ``ApiError``."""
    try:
        principal = authenticate_bearer(platform.oauth, token_from_header(authorization), now=now)
    except BearerError as exc:
        raise ApiError(
            e.INVALID_KEY,
            f"Invalid access token: {exc.description}",
            401,
            {"WWW-Authenticate": exc.www_authenticate},
        ) from None
    if permission is not None and permission not in principal.permissions:
        raise ApiError(
            e.NO_PERMISSION,
            "No permission to access the endpoint.",
            403,  # RFC 6750 3.1: insufficient_scope is 403 (an HMAC key's is MEXC's 401)
            {"WWW-Authenticate": InsufficientScope(permission).www_authenticate},
        )
    try:
        check_source(principal, source)
    except SourceMismatch as exc:
        raise ApiError(e.NO_PERMISSION, str(exc), 403) from None
    key = ApiKey(
        api_key=KEY_PREFIX + principal.client_id,
        account_id=principal.account_id,
        secret="",
        label=principal.client_id,
        permissions=principal.permissions,
        ip_whitelist=(),
        symbols=(),
        created=0,
        expires=None,
        revoked=False,
    )
    return key, principal
