"""The OAuth client registry: one client per approved OAuth broker application.

A client has:

* ``client_id`` (public) and a secret, shown exactly once at registration or rotation and
  stored only as a SHA-256 digest (the secret is 256 random bits, so a slow password hash
  adds nothing but ~150 ms of CPU to every token request); every client is confidential (``client_secret_basic`` or
  ``client_secret_post`` at the token, revocation and introspection endpoints). After a
  rotation the previous secret also works until ``previous_secret_expires`` (a grace period,
  so the app can deploy the new one), never after;
* ``broker_id``: the broker its tokens are attributed to (the ``source`` header must match);
* ``name`` and ``logo_url`` shown on the consent page;
* ``redirect_uris``: compared by EXACT string match (RFC 9700 §2.1; no prefix, no wildcard, no
  fallback to a default). They must be ``https``, or ``http`` on a loopback host for local
  development, and carry no fragment or user info;
* ``scopes`` it may ask for (``bourse.oauth.scopes``); ``transfer`` also needs
  ``allow_transfer``. ``withdraw`` does not exist.

``OAuthClient`` implements authlib's ``ClientMixin`` so the authlib grants and endpoints use it
directly. The rows are read and written by ``bourse.store.repositories.oauth``.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from authlib.oauth2.rfc6749 import ClientMixin, InvalidScopeError

from bourse.engine.clock import now_ms
from bourse.oauth import scopes as sc
from bourse.store.repositories.oauth import OAuthRepository


class _SecretHasher:
    """Digests of high-entropy client secrets: ``sha256$<hex>``, compared in constant time.

    Hashes written by earlier versions (argon2id) still verify.
    """

    _argon2 = PasswordHasher()

    def hash(self, secret: str) -> str:
        return "sha256$" + hashlib.sha256(secret.encode()).hexdigest()

    def verify(self, stored: str, secret: str) -> bool:
        if stored.startswith("sha256$"):
            if secrets.compare_digest(stored, self.hash(secret)):
                return True
            raise VerificationError("client secret does not match")
        return self._argon2.verify(stored, secret)


_hasher = _SecretHasher()


def _verify(stored: str, secret: str) -> bool:
    try:
        return _hasher.verify(stored, secret)
    except (VerificationError, InvalidHashError):
        return False


def secret_hash(secret: str) -> str:
    """The stored digest of a client secret."""
    return _hasher.hash(secret)


AUTH_METHODS = ("client_secret_basic", "client_secret_post")
GRANT_TYPES = ("authorization_code", "refresh_token")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
MAX_REDIRECT_URIS = 10


class ClientError(ValueError):
    """A client registration is invalid."""


class BrokerApplication(Protocol):
    """What ``register_for_broker`` reads of a broker (``bourse.services.brokers``' ``Broker``)."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def logo_url(self) -> str: ...
    @property
    def oauth_scopes(self) -> str: ...


def validate_redirect_uri(uri: str) -> str:
    """Return ``uri`` if it may be registered as a redirect URI, else raise ``ClientError``."""
    if not isinstance(uri, str) or not uri or len(uri) > 512 or uri != uri.strip():
        raise ClientError("a redirect URI must be a non-empty string of at most 512 characters")
    if "*" in uri:
        raise ClientError("wildcards are not allowed in redirect URIs")
    parts = urlsplit(uri)
    if parts.fragment or "#" in uri:
        raise ClientError("a redirect URI must not contain a fragment")
    if parts.username or parts.password:
        raise ClientError("a redirect URI must not contain user info")
    if not parts.hostname:
        raise ClientError("a redirect URI must be absolute")
    if parts.scheme == "https":
        return uri
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return uri
    raise ClientError("a redirect URI must use https (http only on a loopback address)")


def _validate_logo(url: str) -> str:
    if not url:
        return ""
    parts = urlsplit(url)
    ok = parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS)
    if not ok or not parts.hostname or len(url) > 512:
        raise ClientError("the logo URL must be an https URL of at most 512 characters")
    return url


@dataclass(slots=True)
class OAuthClient(ClientMixin):
    client_id: str
    secret_hash: str
    broker_id: int | None
    name: str
    logo_url: str
    redirect_uris: tuple[str, ...]
    scopes: str
    allow_transfer: bool
    disabled: bool
    created: int
    previous_secret_hash: str | None = None
    previous_secret_expires: int | None = None
    secret_rotated: int | None = None
    #: the time ``check_client_secret`` compares the grace period with (the server's clock)
    clock: Callable[[], int] = field(default=now_ms, compare=False, repr=False)

    @classmethod
    def from_row(cls, row: Any, clock: Callable[[], int] = now_ms) -> OAuthClient:
        return cls(
            client_id=row.client_id,
            secret_hash=row.secret_hash,
            broker_id=row.broker_id,
            name=row.name,
            logo_url=row.logo_url or "",
            redirect_uris=tuple(u for u in row.redirect_uris.split("\n") if u),
            scopes=row.scopes,
            allow_transfer=bool(row.allow_transfer),
            disabled=bool(row.disabled),
            created=row.created,
            previous_secret_hash=row.previous_secret_hash,
            previous_secret_expires=row.previous_secret_expires,
            secret_rotated=row.secret_rotated,
            clock=clock,
        )

    # --- what the client may do ----------------------------------------------------------------
    @property
    def allowed_scopes(self) -> set[str]:
        return sc.client_may_request(self.scopes, self.allow_transfer)

    # --- authlib ClientMixin ----------------------------------------------------------------
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        # never fall back to a registered URI: the request must name one exactly
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        try:
            return sc.validate(scope, self.allowed_scopes)
        except sc.ScopeError as exc:
            raise InvalidScopeError(str(exc)) from None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # exact string comparison, nothing else (RFC 9700 §2.1)
        return any(secrets.compare_digest(redirect_uri, u) for u in self.redirect_uris)

    def check_client_secret(self, client_secret: str) -> bool:
        if _verify(self.secret_hash, client_secret):
            return True
        # the previous secret, only during its grace period
        prev, until = self.previous_secret_hash, self.previous_secret_expires
        if prev and until is not None and self.clock() < until:
            return _verify(prev, client_secret)
        return False

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in GRANT_TYPES


@dataclass(frozen=True, slots=True)
class Registered:
    """A new client and its secret (the only time the secret is available)."""

    client: OAuthClient
    client_secret: str


def new_secret() -> str:
    return "bcs_" + secrets.token_urlsafe(32)


def register_client(
    repo: OAuthRepository,
    *,
    name: str,
    redirect_uris: list[str] | tuple[str, ...],
    broker_id: int | None = None,
    logo_url: str = "",
    scopes: str = "read trade",
    allow_transfer: bool = False,
    client_id: str | None = None,
    allow_no_redirect_uri: bool = False,
    insert: Callable[[dict[str, Any]], None] | None = None,
) -> Registered:
    """Register a client; returns it with its secret (shown once, stored hashed).

    ``allow_no_redirect_uri``: a client may start without redirect URIs (an OAuth broker's
    client created at approval: ``/oauth/authorize`` refuses it until one is registered).
    ``insert(row)`` stores the row (default: ``repo.insert_client``)."""
    name, uris, words, logo_url = check_registration(
        name=name, redirect_uris=redirect_uris, scopes=scopes, allow_transfer=allow_transfer,
        logo_url=logo_url, allow_no_redirect_uri=allow_no_redirect_uri,
    )  # fmt: skip
    client_id = client_id or "bc_" + secrets.token_hex(12)
    secret = new_secret()
    row: dict[str, Any] = dict(
        client_id=client_id,
        secret_hash=_hasher.hash(secret),
        broker_id=broker_id,
        name=name,
        logo_url=logo_url,
        redirect_uris="\n".join(uris),
        scopes=sc.join(words),
        allow_transfer=bool(allow_transfer),
        disabled=False,
        created=now_ms(),
    )
    (insert or repo.insert_client)(row)
    return Registered(OAuthClient(**{**row, "redirect_uris": tuple(uris)}), secret)


def check_registration(
    *,
    name: str,
    redirect_uris: list[str] | tuple[str, ...],
    scopes: str,
    allow_transfer: bool,
    logo_url: str = "",
    allow_no_redirect_uri: bool = False,
) -> tuple[str, list[str], list[str], str]:
    """A new client's name, redirect URIs, scope words and logo URL as ``register_client``
    stores them, or ``ClientError``."""
    return (
        check_name(name),
        check_redirect_uris(redirect_uris, allow_empty=allow_no_redirect_uri),
        check_scopes(scopes, allow_transfer),
        _validate_logo(logo_url),
    )


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 128:
        raise ClientError("a client needs a name of at most 128 characters")
    return name


def check_redirect_uris(
    redirect_uris: list[str] | tuple[str, ...], *, allow_empty: bool = False
) -> list[str]:
    """Valid, distinct, at most ``MAX_REDIRECT_URIS`` (at least one unless ``allow_empty``)."""
    uris = [validate_redirect_uri(u) for u in redirect_uris]
    low = 0 if allow_empty else 1
    if len(uris) < low or len(uris) > MAX_REDIRECT_URIS or len(set(uris)) != len(uris):
        raise ClientError(f"a client needs {low} to {MAX_REDIRECT_URIS} distinct redirect URIs")
    return uris


def check_scopes(scopes: str, allow_transfer: bool) -> list[str]:
    """The scope words of a client: known, ``transfer`` only with ``allow_transfer``, one at
    least."""
    words = sc.parse(scopes)
    for w in words:
        if w not in sc.SCOPES:
            raise ClientError(f"unknown scope {w!r}")
    if "transfer" in words and not allow_transfer:
        raise ClientError("the transfer scope needs allow_transfer")
    if not words:
        raise ClientError("a client needs at least one scope")
    return words


def get_client(
    repo: OAuthRepository,
    client_id: str | None,
    *,
    include_disabled: bool = False,
    clock: Callable[[], int] = now_ms,
) -> OAuthClient | None:
    """The client ``client_id`` (``None`` if unknown or disabled); ``clock`` decides whether a
    previous secret is still in its grace period."""
    if not client_id or len(client_id) > 64:
        return None
    row = repo.client(client_id)
    if row is None or (row.disabled and not include_disabled):
        return None
    return OAuthClient.from_row(row, clock)


def list_clients(repo: OAuthRepository, broker_id: int | None = None) -> list[OAuthClient]:
    return [OAuthClient.from_row(r) for r in repo.clients(broker_id)]


def rotate_secret(
    repo: OAuthRepository, client_id: str, *, grace_ms: int = 0, now: int | None = None
) -> str:
    """Replace the client's secret; returns the new one (shown once). The old one keeps
    working for ``grace_ms`` (0: it stops at once, as for a leaked secret)."""
    if grace_ms < 0:
        raise ClientError("the grace period cannot be negative")
    secret = new_secret()
    now = now_ms() if now is None else now
    expires = now + grace_ms if grace_ms else None
    if not repo.rotate_client_secret(client_id, _hasher.hash(secret), expires, now):
        raise ClientError("unknown client")
    return secret


def set_redirect_uris(repo: OAuthRepository, client_id: str, redirect_uris: list[str]) -> None:
    uris = check_redirect_uris(redirect_uris)
    repo.set_client_redirect_uris(client_id, "\n".join(uris))


def set_disabled(repo: OAuthRepository, client_id: str, disabled: bool = True) -> None:
    """Disable (or re-enable) a client. Disabling revokes every token it holds."""
    repo.set_client_disabled(client_id, disabled, now_ms())


def register_for_broker(
    repo: OAuthRepository,
    broker: BrokerApplication,
    *,
    redirect_uris: list[str] | tuple[str, ...] = (),
) -> Registered | None:
    """The OAuth client of a newly approved OAUTH broker.

    ``broker`` is a ``bourse.services.brokers.registry.Broker`` (``id``, ``name``, ``logo_url``,
    ``oauth_scopes``: what it is approved for, which the client gets). Redirect URIs are only
    the ``redirect_uris`` given here, explicitly: the application's callback URL is NOT one
    (it was, silently; RFC 9700 asks for registered, exact URIs). Without any, the client
    exists but ``/oauth/authorize`` refuses it until the broker registers a redirect URI
    (``bourse.oauth.management``). Returns the client and its secret, to show the broker
    once; ``None`` if the broker already has a client (approval after a suspension keeps the
    existing client and its secret).
    """
    if list_clients(repo, broker_id=int(broker.id)):
        return None
    words = sc.parse(broker.oauth_scopes or "read")
    return register_client(
        repo,
        name=broker.name,
        redirect_uris=list(redirect_uris),
        broker_id=int(broker.id),
        logo_url=broker.logo_url or "",
        scopes=sc.join(words),
        allow_transfer="transfer" in words,
        allow_no_redirect_uri=True,
    )
