"""An approved OAuth broker manages its own clients (RFC 7591/7592 in spirit, RFC 9700 rules).

What a broker can do, through the Broker API (``/api/v3/broker/oauth/...``) and the operator
through ``bourse brokers oauth ...``; every change is checked here once:

* **register** an app (a new client): at most ``MAX_CLIENTS_PER_BROKER`` enabled clients per
  broker, counted and inserted under one write lock, so concurrent registrations never pass the
  cap; at least one explicit redirect URI;
* **rotate** a client's secret: the new one is shown once; the old one keeps working for a grace
  period (``Config.oauth_secret_grace_s``, default 24 h; a shorter one may be asked, 0 ends it
  at once, as for a leaked secret). A second rotation ends the first one's grace period;
* **add / remove redirect URIs**: exact strings, validated as at registration (https, or http
  on loopback; no fragment, user info or wildcard); a client keeps at most
  ``clients.MAX_REDIRECT_URIS``. Removing the last one is allowed: ``/oauth/authorize`` then
  refuses the client until one is added. Nothing else ever becomes a redirect URI;
* **change scopes** within what the broker is approved for (``Broker.oauth_scopes``, set by the
  operator: ``approve_scopes``; narrowing it narrows every client).

Only the broker's own clients are visible: another broker's client id is "not found". The
broker must be an OAUTH broker and APPROVED to change anything.

Each change a person makes in the console has a ``check_...`` that refuses what the change
would refuse without changing anything: the console checks a form with it before it asks for
the password and 2FA code (a code is good once, so a typo must not spend it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from bourse.domain.brokers import (
    BrokerStateError,
    BrokerType,
    NotOAuthBroker,
    OAuthClientInvalid,
    OAuthClientLimit,
    OAuthClientNotFound,
    RedirectUriNotRegistered,
    RedirectUriRegistered,
)
from bourse.engine.clock import now_ms
from bourse.oauth import clients as cl
from bourse.oauth import scopes as sc
from bourse.services.brokers.registry import Broker, Registry
from bourse.services.bundle import Services
from bourse.store.repositories.oauth import OAuthRepository

MAX_CLIENTS_PER_BROKER = 5
DEFAULT_SECRET_GRACE_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Rotation:
    client_id: str
    client_secret: str  # shown once
    previous_secret_expires: int | None  # None: the old secret stopped at once


class ClientManager:
    """A broker's OAuth clients over the OAuth storage and the broker registry."""

    def __init__(
        self,
        repo: OAuthRepository,
        registry: Registry,
        *,
        grace_ms: int = DEFAULT_SECRET_GRACE_MS,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.repo = repo
        self.registry = registry
        self.grace_ms = grace_ms
        self.clock = clock

    @classmethod
    def of(cls, services: Services) -> ClientManager:
        """The manager of a running platform (grace period from its ``Config``)."""
        return cls(
            services.oauth,
            services.brokers.registry,
            grace_ms=services.config.oauth_secret_grace_s * 1000,
        )

    # --- reading -------------------------------------------------------------------------------
    def oauth_broker(self, broker_id: int, *, approved: bool = True) -> Broker:
        b = self.registry.get(broker_id)
        if b.type is not BrokerType.OAUTH:
            raise NotOAuthBroker("only an OAuth broker has OAuth clients")
        if approved and not b.approved:
            raise BrokerStateError(f"the broker is {b.status.value}, not APPROVED")
        return b

    def clients(self, broker_id: int) -> list[cl.OAuthClient]:
        self.oauth_broker(broker_id, approved=False)
        return cl.list_clients(self.repo, broker_id)

    def client(self, broker_id: int, client_id: str) -> cl.OAuthClient:
        c = cl.get_client(self.repo, client_id, include_disabled=True, clock=self.clock)
        if c is None or c.broker_id != broker_id:
            raise OAuthClientNotFound(f"OAuth client {client_id!r} not found")
        return c

    # --- changing ------------------------------------------------------------------------------
    def register(
        self,
        broker_id: int,
        *,
        name: str,
        redirect_uris: list[str],
        scopes: str | None = None,
        logo_url: str = "",
    ) -> cl.Registered:
        """A new client of the broker (self-service); its secret is shown once."""
        words = self.check_register(
            broker_id, name=name, redirect_uris=redirect_uris, scopes=scopes, logo_url=logo_url
        )

        def insert(row: dict[str, Any]) -> None:
            if not self.repo.insert_client_limited(row, broker_id, MAX_CLIENTS_PER_BROKER):
                raise OAuthClientLimit(
                    f"a broker may register at most {MAX_CLIENTS_PER_BROKER} OAuth clients"
                )

        with _invalid():
            return cl.register_client(
                self.repo,
                name=name,
                redirect_uris=redirect_uris,
                broker_id=broker_id,
                logo_url=logo_url,
                scopes=sc.join(words),
                allow_transfer="transfer" in words,
                insert=insert,
            )

    def check_register(
        self,
        broker_id: int,
        *,
        name: str,
        redirect_uris: list[str],
        scopes: str | None = None,
        logo_url: str = "",
    ) -> list[str]:
        """What ``register`` refuses, refused without changing anything (all but the cap on
        clients, counted as the client is inserted); the scope words the client would get."""
        b = self.oauth_broker(broker_id)
        approved = sc.parse(b.oauth_scopes)
        words = _words(scopes) if scopes else approved
        self._within(words, approved)
        with _invalid():
            cl.check_registration(
                name=name, redirect_uris=redirect_uris, scopes=sc.join(words),
                allow_transfer="transfer" in words, logo_url=logo_url,
            )  # fmt: skip
        return words

    def check_rotate(self, broker_id: int, client_id: str, grace_ms: int | None = None) -> int:
        """What ``rotate_secret`` refuses, refused without changing anything; the grace (ms)."""
        self.oauth_broker(broker_id)
        self.client(broker_id, client_id)
        grace = self.grace_ms if grace_ms is None else grace_ms
        if not 0 <= grace <= self.grace_ms:
            raise OAuthClientInvalid(
                f"the grace period must be 0 to {self.grace_ms // 1000} seconds"
            )
        return grace

    def rotate_secret(
        self, broker_id: int, client_id: str, *, grace_ms: int | None = None
    ) -> Rotation:
        """A new secret; the old one works for ``grace_ms`` more (default: the configured
        grace; at most that)."""
        grace = self.check_rotate(broker_id, client_id, grace_ms)
        now = self.clock()
        with _invalid():
            secret = cl.rotate_secret(self.repo, client_id, grace_ms=grace, now=now)
        return Rotation(client_id, secret, now + grace if grace else None)

    def check_redirect_uri(self, broker_id: int, client_id: str, uri: str) -> None:
        """What ``add_redirect_uri`` refuses, refused without changing anything."""
        self.oauth_broker(broker_id)
        with _invalid():
            _with_uri(self.client(broker_id, client_id).redirect_uris, uri)

    def add_redirect_uri(self, broker_id: int, client_id: str, uri: str) -> cl.OAuthClient:
        def change(row: Any) -> dict[str, Any]:
            return {"redirect_uris": "\n".join(_with_uri(row.redirect_uris.split("\n"), uri))}

        return self._change(broker_id, client_id, change)

    def remove_redirect_uri(self, broker_id: int, client_id: str, uri: str) -> cl.OAuthClient:
        def change(row: Any) -> dict[str, Any]:
            uris = [u for u in row.redirect_uris.split("\n") if u]
            if uri not in uris:  # exact: a near match is not the registered URI
                raise RedirectUriNotRegistered("this redirect URI is not registered")
            return {"redirect_uris": "\n".join(u for u in uris if u != uri)}

        return self._change(broker_id, client_id, change)

    def set_scopes(self, broker_id: int, client_id: str, scopes: str) -> cl.OAuthClient:
        """The scopes the client may ask for, within the broker's approved scopes. Tokens
        issued before keep their scope until they expire; a refresh never widens one."""
        b = self.oauth_broker(broker_id)
        words = _words(scopes)
        self._within(words, sc.parse(b.oauth_scopes))

        def change(_row: Any) -> dict[str, Any]:
            return {"scopes": sc.join(words), "allow_transfer": "transfer" in words}

        return self._change(broker_id, client_id, change)

    def approve_scopes(self, broker_id: int, scopes: str) -> Broker:
        """(operator) What the broker's clients may hold; clients beyond it are narrowed."""
        self.oauth_broker(broker_id, approved=False)
        words = _words(scopes)
        with _invalid():
            cl.check_scopes(sc.join(words), allow_transfer=True)
        b = self.registry.set_oauth_scopes(broker_id, sc.join(words))
        for c in cl.list_clients(self.repo, broker_id):
            have = sc.parse(c.scopes)
            keep = [w for w in have if w in words] or words
            if keep != have:
                self.repo.change_client(
                    c.client_id,
                    lambda _row, k=keep: {"scopes": sc.join(k), "allow_transfer": "transfer" in k},
                )
        return b

    # --- helpers -------------------------------------------------------------------------------
    def _change(
        self, broker_id: int, client_id: str, change: Callable[[Any], dict[str, Any]]
    ) -> cl.OAuthClient:
        self.oauth_broker(broker_id)
        self.client(broker_id, client_id)
        with _invalid():
            row = self.repo.change_client(client_id, change)
        if row is None:
            raise OAuthClientNotFound(f"OAuth client {client_id!r} not found")
        return cl.OAuthClient.from_row(row, self.clock)

    @staticmethod
    def _within(words: list[str], approved: list[str]) -> None:
        if not words:
            raise OAuthClientInvalid("a client needs at least one scope")
        beyond = [w for w in words if w not in approved]
        if beyond:
            raise OAuthClientInvalid(
                f"scope {' '.join(beyond)} is beyond what the broker is approved for "
                f"({' '.join(approved) or 'nothing'})"
            )


def _with_uri(uris: Iterable[str], uri: str) -> list[str]:
    """A client's redirect URIs with ``uri`` added, checked (``clients.ClientError``), or
    ``RedirectUriRegistered`` when it is one of them."""
    have = [u for u in uris if u]
    if uri in have:
        raise RedirectUriRegistered("this redirect URI is already registered")
    return cl.check_redirect_uris([*have, uri])


def _words(scopes: str) -> list[str]:
    """Scope words, space- (RFC 6749) or comma-separated (MEXC's list style)."""
    return sc.parse(scopes.replace(",", " "))


class _invalid:
    """Turn ``clients.ClientError`` (a plain ``ValueError``) into ``OAuthClientInvalid``."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, et: Any, exc: Any, tb: Any) -> None:
        if isinstance(exc, cl.ClientError):
            raise OAuthClientInvalid(str(exc)) from exc


def describe(c: cl.OAuthClient) -> dict[str, Any]:
    """A client as the Broker API and the CLI show it (never its secret)."""
    return {
        "clientId": c.client_id,
        "name": c.name,
        "brokerId": str(c.broker_id) if c.broker_id is not None else None,
        "redirectUris": list(c.redirect_uris),
        "scopes": c.scopes,
        "logoUrl": c.logo_url,
        "disabled": c.disabled,
        "createTime": c.created,
        "secretRotateTime": c.secret_rotated,
        "previousSecretExpireTime": c.previous_secret_expires,
    }
