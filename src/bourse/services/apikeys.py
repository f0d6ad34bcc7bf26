"""API keys: create, list, revoke and look up MEXC-style key pairs.

A key pair is an *access key* (public, sent in ``X-MEXC-APIKEY``) and a *secret key* used as the
HMAC-SHA256 key of every signed request. Because verifying an HMAC needs the plain secret, the
secret is stored **encrypted** (Fernet, AES-128-CBC + HMAC) with a server key, and shown to the
user exactly once, when the key is created.

The server key (``bourse.services.serverkey``) comes from ``BOURSE_SECRET_KEY``,
``BOURSE_SECRET_KEY_FILE`` or a key file in the configuration directory, never from beside the
database. Losing it makes every stored API secret unreadable: back it up, apart from the data.

Key attributes follow MEXC:

* ``permissions``: MEXC permission names (``SPOT_DEAL_WRITE``, ...); the documented
  abbreviations (``SPOT_DEAL_W``, ``SPOT_ACCOUNT_R``) are accepted and stored in full;
* ``ip_whitelist``: up to 10 IPv4/IPv6 addresses or CIDR networks; empty means any address;
* ``symbols``: the trading pairs the key may trade; empty means all (MEXC's "pairs set by users",
  error 70011 otherwise);
* ``expires``: milliseconds since the epoch, or ``None``. As on MEXC, a key created without an
  IP whitelist expires after 90 days unless another expiry is given explicitly.
"""

from __future__ import annotations

import ipaddress
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import InvalidToken, MultiFernet
from sqlalchemy import Engine

from bourse.domain.errors import ApiKeyLimit, InvalidParameter, KeyBadIp, KeyTooManyIps
from bourse.domain.permissions import DEFAULT_PERMISSIONS, PERMISSIONS, normalize_permission
from bourse.engine.clock import now_ms as wall_ms
from bourse.services.serverkey import (
    KEY_FILE_NAME,
    ServerKeys,
    generate_server_key,
    load_server_key,
)
from bourse.store.repositories.apikeys import ApiKeyRepository

__all__ = [
    "DEFAULT_PERMISSIONS",
    "KEY_FILE_NAME",
    "PERMISSIONS",
    "ApiKey",
    "ApiKeys",
    "generate_server_key",
    "ip_whitelist_of",
    "load_server_key",
    "normalize_permission",
]

MAX_KEYS_PER_ACCOUNT = 30
MAX_IPS_PER_KEY = 10
#: a key without an IP whitelist is valid for 90 days (MEXC FAQ)
NO_IP_TTL_MS = 90 * 24 * 3600 * 1000
_DEFAULT = object()
#: a created key's IP whitelist, pairs and expiry, as another key's rule decides them
KeyLimits = tuple[tuple[str, ...], tuple[str, ...], int | None]
_CACHE_TTL_S = 2.0


def ip_whitelist_of(entries: Iterable[str], *, limit: int = MAX_IPS_PER_KEY) -> tuple[str, ...]:
    """The IP whitelist ``entries`` make (blanks and repeats dropped): ``KeyTooManyIps`` for
    more than ``limit`` (a broker's sub-account key takes fewer than ``MAX_IPS_PER_KEY``),
    ``KeyBadIp`` for one that is not an address or network (MEXC's 730703 and 730704, for a
    user's keys and a sub-account's alike)."""
    ips = tuple(dict.fromkeys(p.strip() for p in entries if p.strip()))
    if len(ips) > limit:
        raise KeyTooManyIps(f"at most {limit} IPs can be bound to a key")
    for ip in ips:
        try:
            ipaddress.ip_network(ip, strict=False)
        except ValueError:
            raise KeyBadIp(f"invalid IP address {ip[:64]!r}") from None
    return ips


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One API key as the request authenticator sees it (the secret is decrypted)."""

    api_key: str
    account_id: int
    secret: str
    label: str
    permissions: frozenset[str]
    ip_whitelist: tuple[str, ...]
    symbols: tuple[str, ...]
    created: int
    expires: int | None
    revoked: bool

    def expired(self, now_ms: int) -> bool:
        return self.expires is not None and now_ms >= self.expires

    def ip_allowed(self, ip: str) -> bool:
        """True when the key has no whitelist or ``ip`` matches an entry (address or CIDR)."""
        if not self.ip_whitelist:
            return True
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        for entry in self.ip_whitelist:
            try:
                if addr in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
        return False

    def symbol_allowed(self, symbol: str) -> bool:
        return not self.symbols or symbol in self.symbols

    def public(self) -> dict[str, Any]:
        """Everything but the secret (for listings)."""
        return {
            "apiKey": self.api_key,
            "accountId": self.account_id,
            "label": self.label,
            "permissions": sorted(self.permissions),
            "ip": list(self.ip_whitelist),
            "symbols": list(self.symbols),
            "createTime": self.created,
            "expireTime": self.expires,
            "revoked": self.revoked,
        }


def split_csv(text: str | None) -> tuple[str, ...]:
    """The non-empty, stripped items of a comma-separated column."""
    return tuple(x for x in (p.strip() for p in (text or "").split(",")) if x)


def _columns(decide: Callable[[Any | None], KeyLimits]) -> Callable[[Any | None], dict[str, Any]]:
    """``decide``'s limits as the ``api_keys`` columns they set."""

    def columns(actor_row: Any | None) -> dict[str, Any]:
        ips, symbols, expires = decide(actor_row)
        return {"ip_whitelist": ",".join(ips), "symbols": ",".join(symbols), "expires": expires}

    return columns


class ApiKeys:
    """API key repository over the ``api_keys`` table.

    ``lookup`` is on every signed request's path, so it caches decrypted keys for a couple of
    seconds. Every change made through this object (``delete_key``, ``forget`` after a renew)
    drops the entry at once, and a lookup that read the row before such a change does not put
    its stale copy back (the cache's generation moved on meanwhile), so a deleted key is refused
    by the very next request. Another process's change (a CLI run against the database while a
    server serves it) is seen when the entry expires.
    """

    def __init__(self, db: Engine, server_key: bytes | ServerKeys) -> None:
        self.db = db
        self.repository = ApiKeyRepository(db)
        keys = server_key if isinstance(server_key, ServerKeys) else ServerKeys(server_key)
        #: encrypts with the current server key; decrypts with it or a rotation's other key
        self.fernet: MultiFernet = keys.fernet()
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}
        self._lock = threading.Lock()
        #: bumped by every ``forget``: a lookup caches what it read only if none happened since
        self._generation = 0
        #: told every key this process changed (``bus.cache_events``: the other processes)
        self.on_forget: Callable[[str], None] | None = None
        #: told every key that changed, here or in another process (the listenKeys it created
        #: may have ended: ``services.listenkeys``); each must be quick and never block
        self.watchers: list[Callable[[str], None]] = []

    # --- writing -------------------------------------------------------------------------------
    def create_key(
        self,
        account_id: int,
        permissions: list[str] | tuple[str, ...] | None = None,
        *,
        label: str = "",
        ip_whitelist: list[str] | tuple[str, ...] = (),
        symbols: list[str] | tuple[str, ...] = (),
        expires: int | None | object = _DEFAULT,
        now_ms: int | None = None,
        actor: str | None = None,
        decide: Callable[[Any | None], KeyLimits] | None = None,
        acting_account: int | None = None,
    ) -> tuple[str, str]:
        """Create a key for ``account_id``; returns ``(api_key, secret)``.

        The secret is returned only here and never again. ``permissions`` are MEXC names
        (default: spot account read + deal read/write). ``expires`` is ms since the epoch or
        ``None`` for never; left out, it is 90 days from now when ``ip_whitelist`` is empty
        (MEXC's rule) and never otherwise.

        A key another key creates (``services.brokers.keys.create_key``) passes ``decide``:
        it gets the row of the signing key ``actor``, read in the insert's transaction under
        its row lock, and returns the new key's IP whitelist, pairs and expiry, or raises to
        create nothing (``ApiKeyRepository.insert_within_limit``).

        A frozen ``account_id``, signing key's account or ``acting_account`` (the account that
        makes the key for ``account_id``: a broker's master) gets ``AccountFrozen`` and no key,
        decided in the insert's transaction.
        """
        perms = sorted({normalize_permission(p) for p in (permissions or DEFAULT_PERMISSIONS)})
        ips = ip_whitelist_of(ip_whitelist)
        syms = tuple(dict.fromkeys(s.strip().upper() for s in symbols if s.strip()))
        if len(label) > 128:
            raise InvalidParameter("label is too long")
        now = now_ms if now_ms is not None else wall_ms()
        if expires is _DEFAULT:
            expires = None if ips else now + NO_IP_TTL_MS
        api_key = "mx0v" + secrets.token_hex(14)
        secret = secrets.token_hex(16)
        row = {
            "api_key": api_key,
            "account_id": account_id,
            "secret_enc": self.encrypt(secret),
            "label": label,
            "permissions": ",".join(perms),
            "ip_whitelist": ",".join(ips),
            "symbols": ",".join(syms),
            "created": now,
            "expires": expires,
            "revoked": False,
        }
        decided = None if decide is None else _columns(decide)
        if not self.repository.insert_within_limit(
            row, MAX_KEYS_PER_ACCOUNT, actor=actor, decide=decided, acting_account=acting_account
        ):
            raise ApiKeyLimit(f"at most {MAX_KEYS_PER_ACCOUNT} API keys per account")
        return api_key, secret

    def delete_key(self, api_key: str, account_id: int | None = None) -> bool:
        """Revoke a key (it stops working at once); returns False if there was none.

        With ``account_id`` only that account's key is revoked.
        """
        done = self.repository.revoke(api_key, account_id)
        self.forget(api_key)
        return done

    def encrypt(self, secret: str) -> bytes:
        """A secret as stored at rest (encrypted with the server key)."""
        return self.fernet.encrypt(secret.encode())

    def forget(self, api_key: str, *, announce: bool = True) -> None:
        """Drop ``api_key`` from the lookup cache (call after changing its row elsewhere), and
        unless ``announce`` is off (the change came from another process) tell ``on_forget``."""
        with self._lock:
            self._generation += 1
            self._cache.pop(api_key, None)
        for watcher in self.watchers:
            watcher(api_key)
        if announce and self.on_forget is not None:
            self.on_forget(api_key)

    # --- reading -------------------------------------------------------------------------------
    def _row_to_key(self, row: Any) -> ApiKey | None:
        try:
            secret = self.fernet.decrypt(bytes(row.secret_enc)).decode()
        except InvalidToken:
            return None  # encrypted with another server key: unusable
        return ApiKey(
            api_key=row.api_key,
            account_id=int(row.account_id),
            secret=secret,
            label=row.label or "",
            permissions=frozenset(split_csv(row.permissions)),
            ip_whitelist=split_csv(row.ip_whitelist),
            symbols=split_csv(row.symbols),
            created=int(row.created),
            expires=None if row.expires is None else int(row.expires),
            revoked=bool(row.revoked),
        )

    def key_opens_secrets(self) -> bool:
        """Whether the server key decrypts the newest stored secret (True with none stored):
        a wrong key would make every key unusable, so production refuses to start with one."""
        row = self.repository.newest()
        return row is None or self._row_to_key(row) is not None

    def list_keys(self, account_id: int, include_revoked: bool = False) -> list[dict[str, Any]]:
        """The account's keys without secrets (``ApiKey.public()`` dicts), oldest first."""
        out = []
        for row in self.repository.of_account(account_id, include_revoked):
            key = self._row_to_key(row)
            if key is not None:
                out.append(key.public())
        return out

    def labelled(self, account_id: int, label: str, limit: int = 5) -> list[str]:
        """Access keys of the account's usable keys labelled ``label``, newest first."""
        return self.repository.newest_labelled(account_id, label, limit)

    def lookup(self, api_key: str) -> ApiKey | None:
        """The key (revoked or expired ones included: the caller reports why) or None."""
        now = time.monotonic()
        hit = self._cache.get(api_key)
        if hit is not None and hit[0] > now:
            return hit[1]
        if not api_key or len(api_key) > 64:
            return None
        generation = self._generation
        row = self.repository.get(api_key)
        key = self._row_to_key(row) if row is not None else None
        with self._lock:
            if len(self._cache) > 100_000:
                self._cache.clear()
            if generation == self._generation:  # no change raced with this read
                self._cache[api_key] = (now + _CACHE_TTL_S, key)
        return key
