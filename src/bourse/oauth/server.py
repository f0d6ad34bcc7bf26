"""The authorization server: authlib's ``AuthorizationServer`` bound to our storage.

``OAuthConfig`` is everything the OAuth and web routes need (database, issuer, how to open an
exchange account for a new user, a clock). ``AuthServer`` wires authlib's RFC 6749 grants
(``bourse.oauth.grants``), RFC 7009 revocation, RFC 7662 introspection, RFC 8414 metadata and
RFC 9207 ``iss`` to it. authlib is synchronous, so the Starlette routes
(``bourse.oauth.endpoints``) read the request first and call in here from a worker thread.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from authlib.common.security import generate_token
from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    JsonRequest,
    OAuth2Payload,
    OAuth2Request,
)
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc9207 import IssuerParameter
from sqlalchemy import Engine

from bourse.oauth import clients as cl
from bourse.oauth import grants as gr
from bourse.oauth import scopes as sc
from bourse.oauth import tokens as tk

log = logging.getLogger("bourse.oauth")

DEFAULT_ISSUER = "http://127.0.0.1:8000"


@dataclass
class OAuthConfig:
    """What the OAuth server and the web pages run on.

    * ``db``: the SQLAlchemy engine (schema at head, ``0003_oauth`` included);
    * ``issuer``: the public base URL of this server (``https://...``; ``http`` only on a
      loopback host). It is the RFC 8414 ``issuer`` and the RFC 9207 ``iss``, and every URL
      the server hands out starts with it. It is configured, never taken from the ``Host``
      header;
    * ``open_account``: opens an exchange account for a new web user and returns its id (with
      a platform: ``engine.execute(OpenAccount(AccountKind.USER)).id``);
    * ``fernet``: optional ``cryptography.fernet.Fernet`` encrypting TOTP secrets at rest;
    * ``clock``: milliseconds since the epoch (tests move it to expire codes).
    """

    db: Engine
    issuer: str = DEFAULT_ISSUER
    open_account: Callable[[str], int] | None = None
    fernet: Any = None
    clock: Callable[[], int] = tk.now_ms
    secure_cookies: bool | None = None  # default: the issuer is https
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.issuer = self.issuer.rstrip("/")
        parts = urlsplit(self.issuer)
        loopback = parts.hostname in cl.LOOPBACK_HOSTS
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
            raise ValueError("the OAuth issuer must be an https URL (http only on loopback)")
        if parts.query or parts.fragment:
            raise ValueError("the OAuth issuer has no query or fragment")
        if self.secure_cookies is None:
            self.secure_cookies = parts.scheme == "https"

    @classmethod
    def from_platform(cls, platform, issuer: str | None = None, **kw: Any) -> OAuthConfig:  # type: ignore[no-untyped-def]
        """Build from a ``bourse.services.bundle.Services``.

        The issuer is ``issuer``, else ``platform.config.public_url`` if the config has one,
        else ``BOURSE_PUBLIC_URL``, else ``http://127.0.0.1:8000`` (with a warning).
        """
        from bourse.domain.accounts import AccountKind
        from bourse.engine.commands import OpenAccount

        issuer = (
            issuer
            or getattr(platform.config, "public_url", None)
            or os.environ.get("BOURSE_PUBLIC_URL")
        )
        if not issuer:
            log.warning("no public URL configured; OAuth issuer defaults to %s", DEFAULT_ISSUER)
            issuer = DEFAULT_ISSUER

        def open_account(email: str) -> int:
            return platform.engine.execute(OpenAccount(AccountKind.USER, name=email[:128])).id

        apikeys = getattr(platform, "apikeys", None)
        return cls(
            db=platform.db,
            issuer=issuer,
            open_account=open_account,
            fernet=getattr(apikeys, "fernet", None),
            **kw,
        )

    def url(self, path: str) -> str:
        return self.issuer + path


# --- requests: the parts of a Starlette request authlib reads ---------------------------------
class MultiDict(dict):
    """A ``dict`` of first values that also keeps every value (``getlist``)."""

    def __init__(self, items: list[tuple[str, str]]) -> None:
        super().__init__()
        self.lists: dict[str, list[str]] = defaultdict(list)
        for k, v in items:
            self.lists[k].append(v)
            self.setdefault(k, v)

    def getlist(self, key: str) -> list[str]:
        return list(self.lists.get(key, []))


class _Payload(OAuth2Payload):
    def __init__(self, params: MultiDict) -> None:
        self._params = params

    @property
    def data(self) -> MultiDict:
        return self._params

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._params.lists


class HttpRequest(OAuth2Request):
    """An already-read HTTP request.

    ``params`` are the OAuth parameters (the query string at the authorization endpoint, the
    form body at the token, revocation and introspection endpoints: secrets are never read
    from a URL). ``uri`` is built from the configured issuer, not from the ``Host`` header.
    """

    def __init__(
        self, method: str, uri: str, headers: dict[str, str], params: list[tuple[str, str]]
    ) -> None:
        super().__init__(method=method, uri=uri, headers=headers)
        self._params = MultiDict(params)
        self.payload = _Payload(self._params)

    @property
    def args(self) -> MultiDict:
        return self._params

    @property
    def form(self) -> MultiDict:
        return self._params


@dataclass
class OAuthResponse:
    status: int
    body: Any
    headers: list[tuple[str, str]]

    @property
    def location(self) -> str | None:
        for k, v in self.headers:
            if k.lower() == "location":
                return v
        return None

    @location.setter
    def location(self, value: str) -> None:
        self.headers = [(k, v) for k, v in self.headers if k.lower() != "location"]
        self.headers.append(("Location", value))


# --- the server ------------------------------------------------------------------------------
class Revocation(RevocationEndpoint):
    """RFC 7009. Revoking either token of a grant revokes the whole family."""

    CLIENT_AUTH_METHODS = gr.CLIENT_AUTH_METHODS

    def query_token(self, token_string, token_type_hint):  # type: ignore[no-untyped-def]
        return tk.find(self.server.db, token_string, token_type_hint, self.server.clock())

    def revoke_token(self, token, request):  # type: ignore[no-untyped-def]
        tk.revoke_family(self.server.db, token.family_id, self.server.clock())


class Introspection(IntrospectionEndpoint):
    """RFC 7662. A client may introspect only its own tokens; others look inactive."""

    CLIENT_AUTH_METHODS = gr.CLIENT_AUTH_METHODS

    def query_token(self, token_string, token_type_hint):  # type: ignore[no-untyped-def]
        return tk.find(self.server.db, token_string, token_type_hint, self.server.clock())

    def check_permission(self, token, client, request):  # type: ignore[no-untyped-def]
        return token.check_client(client)

    def introspect_token(self, token):  # type: ignore[no-untyped-def]
        client = cl.get_client(self.server.db, token.client_id)
        if client is None:
            return {"active": False}
        return {
            "active": True,
            "scope": token.scope,
            "client_id": token.client_id,
            "token_type": "Bearer" if token.kind == "access_token" else "refresh_token",
            "exp": token.expires_at_ms // 1000,
            "iat": token.created // 1000,
            "sub": str(token.user_id),
            "iss": self.server.config.issuer,
            "account_id": token.account_id,
            "broker_id": client.broker_id,
            "permissions": sorted(sc.permissions(token.scope)),
        }


class _Issuer(IssuerParameter):
    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def get_issuer(self) -> str:
        return self.issuer


class AuthServer(AuthorizationServer):
    def __init__(self, config: OAuthConfig) -> None:
        super().__init__(scopes_supported=list(sc.SCOPES))
        self.config = config
        self.db = config.db
        self.clock = config.clock
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                access_token_generator=lambda **_: tk.new_access_token(),
                refresh_token_generator=lambda **_: tk.new_refresh_token(),
                expires_generator=lambda client, grant_type: tk.ACCESS_TOKEN_TTL,
            ),
        )
        self.register_grant(gr.AuthorizationCodeGrant, [gr.RequiredS256()])
        self.register_grant(gr.RefreshTokenGrant)
        self.register_endpoint(Revocation)
        self.register_endpoint(Introspection)
        self.register_extension(lambda server: _Issuer(config.issuer)(server))

    # --- authlib hooks ------------------------------------------------------------------------
    def query_client(self, client_id):  # type: ignore[no-untyped-def]
        return cl.get_client(self.db, client_id)

    def save_token(self, token, request):  # type: ignore[no-untyped-def]
        raise RuntimeError("tokens are stored by the grants, atomically")  # pragma: no cover

    def validate_requested_scope(self, scope):  # type: ignore[no-untyped-def]
        # unknown and forbidden scopes are refused by the client's get_allowed_scope, with a
        # message that names the scope
        return None

    def create_oauth2_request(self, request):  # type: ignore[no-untyped-def]
        return request

    def create_json_request(self, request):  # type: ignore[no-untyped-def]
        return JsonRequest(request.method, request.uri, request.headers)

    def handle_response(self, status, body, headers):  # type: ignore[no-untyped-def]
        return OAuthResponse(status, body, list(headers))

    def send_signal(self, name, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None

    # --- helpers -------------------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        """RFC 8414 authorization server metadata."""
        methods = list(gr.CLIENT_AUTH_METHODS)
        return {
            "issuer": self.config.issuer,
            "authorization_endpoint": self.config.url("/oauth/authorize"),
            "token_endpoint": self.config.url("/oauth/token"),
            "revocation_endpoint": self.config.url("/oauth/revoke"),
            "introspection_endpoint": self.config.url("/oauth/introspect"),
            "scopes_supported": list(sc.SCOPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_methods_supported": methods,
            "revocation_endpoint_auth_methods_supported": methods,
            "introspection_endpoint_auth_methods_supported": methods,
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": True,
        }


def new_csrf_token() -> str:
    return generate_token(43)
