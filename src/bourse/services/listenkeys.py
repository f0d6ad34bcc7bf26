"""listenKeys for the user-data streams (mexc-api.md 2.10).

A key is 64 random characters, valid for 60 minutes from its creation or its last extension
(``PUT``); ``/ws?listenKey=`` opens the private channels of its account. Keys are stored
(``listen_keys``) so they survive a restart like MEXC's do.

A key belongs to the credential that created it (its ``Owner``), not only to the account:

* an OAuth grant (a token family: the tokens one consent's code was exchanged for, refreshed or
  not) lists, extends and closes only the keys it created; an API key, or the account itself
  (the web console), every key of the account no OAuth grant created (MEXC's rule for a UID);
* a key works only while its creator does: a deleted, revoked or expired API key, a revoked
  grant (``/oauth/revoke``, a refresh-token replay, the user revoking the app, the client
  disabled or its broker suspended), or the end of the web session the console's trade page
  made it in (log-out, a revocation, its expiry: ``session_key``) ends its keys. New
  connections are refused at once; open ones are closed by the ``/ws`` watcher
  (``bourse.api.ws.keywatch``), at once when this process (or, over ``bus.cache_events``,
  another) says so through ``recheck``, and at its next periodic check otherwise;
* at most 60 live keys per account for the account and its API keys together, and 60 per OAuth
  client on the account (an app cannot use up the places of the user's own bots).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable

from sqlalchemy import Engine

from bourse.services.users import SESSION_IDLE_MS
from bourse.store.repositories.listenkeys import ListenKeyRepository, Owner

__all__ = [
    "ACCOUNT",
    "ListenKeyError",
    "ListenKeys",
    "Owner",
    "TooManyListenKeys",
    "UnknownListenKey",
]

VALIDITY_MS = 60 * 60_000
MAX_KEYS = 60
#: the owner of the keys the account makes for itself (the web console's trade page)
ACCOUNT = Owner()


class ListenKeyError(Exception):
    """A listenKey request that cannot be served (the message is for the client)."""


class UnknownListenKey(ListenKeyError):
    pass


class TooManyListenKeys(ListenKeyError):
    pass


class ListenKeys:
    """The keys, and ``recheck``: the signal that some key or its creator may have ended."""

    def __init__(self, db: Engine) -> None:
        self.repo = ListenKeyRepository(db, SESSION_IDLE_MS)
        self._watchers: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        #: told of every ``recheck`` this process announces (``bus.cache_events``: the others)
        self.on_recheck: Callable[[], None] | None = None

    def create(self, account: int, now: int, owner: Owner = ACCOUNT) -> str:
        key = secrets.token_hex(32)
        if not self.repo.add_within_limit(key, account, owner, now, now + VALIDITY_MS, MAX_KEYS):
            self.repo.purge_expired(now)
            raise TooManyListenKeys(f"at most {MAX_KEYS} valid listen keys per account")
        return key

    def keys(self, account: int, now: int, owner: Owner = ACCOUNT) -> list[str]:
        """The account's valid keys ``owner`` may see."""
        return self.repo.valid_keys(account, owner, now)

    def extend(self, account: int, key: str, now: int, owner: Owner = ACCOUNT) -> None:
        if not self.repo.extend(account, key, owner, now, now + VALIDITY_MS):
            raise UnknownListenKey("This listenKey does not exist.")

    def close(self, account: int, key: str, owner: Owner = ACCOUNT) -> None:
        if not self.repo.remove(account, key, owner):
            raise UnknownListenKey("This listenKey does not exist.")
        self.recheck()

    def session_key(self, account: int, session: str, now: int) -> str:
        """The web console's key for its session (``session``: the session's id hash), which
        lives no longer than the session does: the session's key, extended, or a new one. A
        page load reuses it, so page loads do not use up the account's keys."""
        owner = Owner(web_session=session)
        for key in reversed(self.keys(account, now, owner)):
            try:
                self.extend(account, key, now, owner)
                return key
            except UnknownListenKey:  # lapsed since it was listed
                pass
        return self.create(account, now, owner)

    def account_for(self, key: str, now: int) -> int | None:
        """The account whose streams a valid ``key`` opens, else None."""
        return self.repo.account_of(key, now)

    def accounts_for(self, keys: list[str], now: int) -> dict[str, int]:
        """``account_for`` of many keys in one query: key -> account, for the valid ones."""
        return self.repo.live_accounts(keys, now)

    # --- the recheck signal ----------------------------------------------------------------
    def watch(self, fn: Callable[[], None]) -> None:
        """Call ``fn()`` (from any thread; it must not block) on every ``recheck``."""
        with self._lock:
            self._watchers.append(fn)

    def recheck(self, *, announce: bool = True) -> None:
        """A key was closed or a credential ended: the open streams check their keys now.
        Unless ``announce`` is off (the news came from another process), ``on_recheck`` tells
        the other processes."""
        with self._lock:
            watchers = list(self._watchers)
        for fn in watchers:
            fn()
        if announce and self.on_recheck is not None:
            self.on_recheck()
