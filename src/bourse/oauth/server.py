"""The authorization server: authlib's ``AuthorizationServer`` bound to our storage.

``OAuthConfig`` is what the OAuth and web routes share (issuer, clock, cookie security).
``AuthServer(config, repo, throttle)`` wires authlib's RFC 6749 grants (``bourse.oauth.grants``), RFC 7009
revocation, RFC 7662 introspection, RFC 8414 metadata and RFC 9207 ``iss`` to the storage in
``repo`` (``bourse.store.repositories.oauth``). authlib is synchronous, so the Starlette routes
(``bourse.oauth.endpoints``, and ``bourse.web.consent`` for the authorization endpoint) read the
request first and call in here from a worker thread.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    JsonRequest,
    OAuth2Error,
    OAuth2Payload,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc9207 import IssuerParameter

from bourse.engine.clock import Clock, now_ms
from bourse.oauth import clients as cl
from bourse.oauth import consents as cs
from bourse.oauth import grants as gr
from bourse.oauth import scopes as sc
from bourse.oauth import tokens as tk
from bourse.services.throttle import CredentialThrottle
from bourse.store.repositories.oauth import OAuthRepository

log = logging.getLogger("bourse.oauth")

DEFAULT_ISSUER = "http://127.0.0.1:8000"


@dataclass
class OAuthConfig:
    """What the OAuth server and the web pages share.

    * ``issuer``: the public base URL of this server (``https://...``; ``http`` only on a
      loopback host). It is the RFC 8414 ``issuer`` and the RFC 9207 ``iss``, and every URL
      the server hands out starts with it. It is configured, never taken from the ``Host``
      header;
    * ``clock``: milliseconds since the epoch (tests move it to expire codes);
    * ``secure_cookies``: ``Secure`` ``__Host-`` cookies (default: the issuer is https);
    * ``trust_forwarded_for``: the client IP (for the throttles) is the last
      ``X-Forwarded-For`` hop, the one the proxy appended (``Config.trust_forwarded_for``).
    """

    issuer: str = DEFAULT_ISSUER
    clock: Clock = now_ms
    secure_cookies: bool | None = None
    trust_forwarded_for: bool = False

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
    def from_public_url(cls, public_url: str | None, **kw: Any) -> OAuthConfig:
        """The issuer is ``public_url`` (``Config.public_url``), else ``BOURSE_PUBLIC_URL``,
        else ``http://127.0.0.1:8000`` (with a warning)."""
        issuer = public_url or os.environ.get("BOURSE_PUBLIC_URL")
        if not issuer:
            log.warning("no public URL configured; OAuth issuer defaults to %s", DEFAULT_ISSUER)
            issuer = DEFAULT_ISSUER
        return cls(issuer=issuer, **kw)

    def url(self, path: str) -> str:
        return self.issuer + path


# --- requests: the parts of a Starlette request authlib reads ---------------------------------
class MultiDict(dict[str, str]):
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
        self,
        method: str,
        uri: str,
        headers: Mapping[str, str],
        params: list[tuple[str, str]],
        ip: str = "",
    ) -> None:
        super().__init__(method=method, uri=uri, headers=headers)
        self._params = MultiDict(params)
        self.payload = _Payload(self._params)
        self.ip = ip

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

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        return tk.find(self.server.repo, token_string, token_type_hint, self.server.clock())

    def revoke_token(self, token: tk.TokenRecord, request: Any) -> None:
        tk.revoke_family(self.server.repo, token.family_id, self.server.clock())


class Introspection(IntrospectionEndpoint):
    """RFC 7662. A client may introspect only its own tokens; others look inactive."""

    CLIENT_AUTH_METHODS = gr.CLIENT_AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        return tk.find(self.server.repo, token_string, token_type_hint, self.server.clock())

    def check_permission(self, token: tk.TokenRecord, client: Any, request: Any) -> bool:
        return token.check_client(client)

    def introspect_token(self, token: tk.TokenRecord) -> dict[str, Any]:
        client = cl.get_client(self.server.repo, token.client_id)
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


def claimed_client_id(request: Any) -> str:
    """The client id a request says it authenticates as (HTTP Basic, else the form)."""
    client_id, _ = extract_basic_authorization(request.headers)
    return str(client_id or request.form.get("client_id") or "")[:64]


class AuthServer(AuthorizationServer):
    """authlib's server on ``repo``; ``config`` gives the issuer and the clock; ``throttle``
    budgets client authentication per IP and per client id (``Throttled`` leaves
    ``create_token_response``/``create_endpoint_response``: the routes answer 429)."""

    def __init__(
        self,
        config: OAuthConfig,
        repo: OAuthRepository,
        throttle: CredentialThrottle | None = None,
    ) -> None:
        super().__init__(scopes_supported=list(sc.SCOPES))
        self.config = config
        self.repo = repo
        self.clock = config.clock
        self.throttle = throttle or CredentialThrottle()
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
    def query_client(self, client_id: str) -> cl.OAuthClient | None:
        return cl.get_client(self.repo, client_id, clock=self.clock)

    def authenticate_client(self, request: Any, methods: Any, endpoint: str = "token") -> Any:
        # counted before the secret is checked; given back when it is right
        attempt = self.throttle.begin(
            "client", getattr(request, "ip", ""), claimed_client_id(request), self.clock()
        )
        client = super().authenticate_client(request, methods, endpoint)
        self.throttle.succeeded(attempt)
        return client

    def save_token(self, token: Any, request: Any) -> None:
        raise RuntimeError("tokens are stored by the grants, atomically")  # pragma: no cover

    def validate_requested_scope(self, scope: Any) -> None:
        # unknown and forbidden scopes are refused by the client's get_allowed_scope, with a
        # message that names the scope
        return None

    def create_oauth2_request(self, request: Any) -> Any:
        return request

    def create_json_request(self, request: Any) -> Any:
        return JsonRequest(request.method, request.uri, request.headers)

    def handle_response(self, status: int, body: Any, headers: Any) -> OAuthResponse:
        return OAuthResponse(status, body, list(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    # --- the authorization endpoint, for the consent page (bourse.web.consent) ----------------
    def request_uri(self, path: str, query: str) -> str:
        """The URI of a request to ``path``, built on the configured issuer (not ``Host``)."""
        return self.config.issuer + path + ("?" + query if query else "")

    def validate_authorization(self, request: HttpRequest) -> Any:
        """The grant of a valid authorization request (client, redirect URI, scope, PKCE),
        to show on the consent page; raises ``OAuth2Error``."""
        return self.get_consent_grant(request, None)

    def decide(self, request: HttpRequest, owner: gr.Owner, approve: bool) -> OAuthResponse:
        """The user's decision on the consent page: record the consent when approved and
        answer with the redirect to the app (``code`` or ``access_denied``); raises
        ``OAuth2Error`` when the request itself is invalid."""
        grant = self.get_consent_grant(request, owner)
        if approve:
            cs.grant(
                self.repo, owner.user_id, request.client.client_id, request.scope, self.clock()
            )
        resp: OAuthResponse = self.create_authorization_response(
            request, grant_user=owner if approve else None, grant=grant
        )
        return resp

    def error_redirect(self, err: OAuth2Error) -> OAuthResponse | None:
        """The redirect to the app that reports ``err`` (with ``iss``, RFC 9207), or ``None``
        when the client or redirect URI is invalid and must not be redirected to."""
        if not err.redirect_uri:
            return None
        status, _, headers = err()
        resp = OAuthResponse(status, "", list(headers))
        self.execute_hook("after_create_authorization_response", resp)
        return resp

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
