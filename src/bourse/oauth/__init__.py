"""The OAuth 2.0 authorization server for OAuth brokers, laid out after the RFCs.

* ``clients``: the client registry (RFC 6749 §2; exact redirect URIs, hashed secrets);
* ``scopes``: ``read``, ``trade``, ``transfer`` and the MEXC permissions they carry;
* ``grants``: authorization code + PKCE S256 (RFC 6749 §4.1, RFC 7636), refresh (RFC 6749 §6);
* ``tokens``: opaque hashed tokens, rotation, reuse detection, families (RFC 9700 §4.14);
* ``consents``: what each user authorised, and revoking it;
* ``server``: authlib's ``AuthorizationServer`` on our storage, RFC 7009/7662/8414/9207;
* ``endpoints``: the Starlette routes of the token, revocation, introspection and metadata
  endpoints (the authorization endpoint is a page: ``bourse.web.consent``);
* ``bearer``: ``Authorization: Bearer`` on the OpenAPI (RFC 6750) and the ``source`` rule
  (``bourse.api.mexc.bearer`` maps its errors to MEXC's).

Storage is ``bourse.store.repositories.oauth`` (the only SQL); web users and sessions are the
``bourse.services.users`` service.

See ``docs/oauth.md``.
"""

from bourse.oauth.bearer import (
    BearerError,
    BearerPrincipal,
    InsufficientScope,
    SourceMismatch,
    authenticate_bearer,
    check_source,
    token_from_header,
)
from bourse.oauth.clients import register_client
from bourse.oauth.server import AuthServer, OAuthConfig

__all__ = [
    "AuthServer",
    "BearerError",
    "BearerPrincipal",
    "InsufficientScope",
    "OAuthConfig",
    "SourceMismatch",
    "authenticate_bearer",
    "check_source",
    "register_client",
    "token_from_header",
]
