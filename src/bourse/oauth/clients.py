"""The OAuth client registry: one client per approved OAuth broker application.

A client has:

* ``client_id`` (public) and a secret, shown exactly once at registration or rotation and
  stored only as a SHA-256 digest (the secret is 256 random bits, so a slow password hash
  adds nothing but ~150 ms of CPU to every token request); every client is confidential (``client_secret_basic`` or
  ``client_secret_post`` at the token, revocation and introspection endpoints);
* ``broker_id``: the broker its tokens are attributed to (the ``source`` header must match);
* ``name`` and ``logo_url`` shown on the consent page;
* ``redirect_uris``: compared by EXACT string match (RFC 9700 §2.1; no prefix, no wildcard, no
  fallback to a default). They must be ``https``, or ``http`` on a loopback host for local
  development, and carry no fragment or user info;
* ``scopes`` it may ask for (``bourse.oauth.scopes``); ``transfer`` also needs
  ``allow_transfer``. ``withdraw`` does not exist.

``OAuthClient`` implements authlib's ``ClientMixin`` so the authlib grants and endpoints use it
directly.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from authlib.oauth2.rfc6749 import ClientMixin, InvalidScopeError
from sqlalchemy import Engine, insert, select, update

from bourse.oauth import scopes as sc
from bourse.store.oauth_tables import oauth_clients, oauth_tokens


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

AUTH_METHODS = ("client_secret_basic", "client_secret_post")
GRANT_TYPES = ("authorization_code", "refresh_token")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
MAX_REDIRECT_URIS = 10


class ClientError(ValueError):
    """A client registration is invalid."""


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


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

    @classmethod
    def from_row(cls, row) -> OAuthClient:  # type: ignore[no-untyped-def]
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
        try:
            return _hasher.verify(self.secret_hash, client_secret)
        except (VerificationError, InvalidHashError):
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
    db: Engine,
    *,
    name: str,
    redirect_uris: list[str] | tuple[str, ...],
    broker_id: int | None = None,
    logo_url: str = "",
    scopes: str = "read trade",
    allow_transfer: bool = False,
    client_id: str | None = None,
) -> Registered:
    """Register a client; returns it with its secret (shown once, stored hashed)."""
    name = (name or "").strip()
    if not name or len(name) > 128:
        raise ClientError("a client needs a name of at most 128 characters")
    uris = [validate_redirect_uri(u) for u in redirect_uris]
    if not uris or len(uris) > MAX_REDIRECT_URIS or len(set(uris)) != len(uris):
        raise ClientError(f"a client needs 1 to {MAX_REDIRECT_URIS} distinct redirect URIs")
    words = sc.parse(scopes)
    for w in words:
        if w not in sc.SCOPES:
            raise ClientError(f"unknown scope {w!r}")
    if "transfer" in words and not allow_transfer:
        raise ClientError("the transfer scope needs allow_transfer")
    if not words:
        raise ClientError("a client needs at least one scope")
    client_id = client_id or "bc_" + secrets.token_hex(12)
    secret = new_secret()
    row = dict(
        client_id=client_id,
        secret_hash=_hasher.hash(secret),
        broker_id=broker_id,
        name=name,
        logo_url=_validate_logo(logo_url),
        redirect_uris="\n".join(uris),
        scopes=sc.join(words),
        allow_transfer=bool(allow_transfer),
        disabled=False,
        created=_now_ms(),
    )
    with db.begin() as conn:
        conn.execute(insert(oauth_clients).values(**row))
    return Registered(OAuthClient(**{**row, "redirect_uris": tuple(uris)}), secret)


def get_client(db: Engine, client_id: str | None, *, include_disabled: bool = False):
    """The client ``client_id`` (``None`` if unknown or disabled)."""
    if not client_id or len(client_id) > 64:
        return None
    with db.connect() as conn:
        row = conn.execute(
            select(oauth_clients).where(oauth_clients.c.client_id == client_id)
        ).first()
    if row is None or (row.disabled and not include_disabled):
        return None
    return OAuthClient.from_row(row)


def list_clients(db: Engine, broker_id: int | None = None) -> list[OAuthClient]:
    q = select(oauth_clients).order_by(oauth_clients.c.created)
    if broker_id is not None:
        q = q.where(oauth_clients.c.broker_id == broker_id)
    with db.connect() as conn:
        return [OAuthClient.from_row(r) for r in conn.execute(q)]


def rotate_secret(db: Engine, client_id: str) -> str:
    """Replace the client's secret; returns the new one (shown once)."""
    secret = new_secret()
    with db.begin() as conn:
        n = conn.execute(
            update(oauth_clients)
            .where(oauth_clients.c.client_id == client_id)
            .values(secret_hash=_hasher.hash(secret))
        ).rowcount
    if n != 1:
        raise ClientError("unknown client")
    return secret


def set_redirect_uris(db: Engine, client_id: str, redirect_uris: list[str]) -> None:
    uris = [validate_redirect_uri(u) for u in redirect_uris]
    if not uris or len(uris) > MAX_REDIRECT_URIS or len(set(uris)) != len(uris):
        raise ClientError(f"a client needs 1 to {MAX_REDIRECT_URIS} distinct redirect URIs")
    with db.begin() as conn:
        conn.execute(
            update(oauth_clients)
            .where(oauth_clients.c.client_id == client_id)
            .values(redirect_uris="\n".join(uris))
        )


def set_disabled(db: Engine, client_id: str, disabled: bool = True) -> None:
    """Disable (or re-enable) a client. Disabling revokes every token it holds."""
    now = _now_ms()
    with db.begin() as conn:
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


def register_for_broker(
    db: Engine,
    broker,  # type: ignore[no-untyped-def]
    *,
    scopes: str = "read trade",
    allow_transfer: bool = False,
) -> Registered | None:
    """The OAuth client of a newly approved OAUTH broker, from its application.

    ``broker`` is a ``bourse.services.brokers.registry.Broker`` (``id``, ``name``, ``logo_url``,
    ``callback_url``: one URI, or several separated by whitespace). Returns the client and its
    secret, to show the broker once; ``None`` if the broker already has a client (approval
    after a suspension keeps the existing client and its secret).
    """
    if list_clients(db, broker_id=int(broker.id)):
        return None
    uris = (getattr(broker, "callback_url", "") or "").split()
    return register_client(
        db,
        name=broker.name,
        redirect_uris=uris,
        broker_id=int(broker.id),
        logo_url=getattr(broker, "logo_url", "") or "",
        scopes=scopes,
        allow_transfer=allow_transfer,
    )
