"""listenKeys for the user-data streams (mexc-api.md 2.10).

A key is 64 random characters, valid for 60 minutes from its creation or its last extension
(``PUT``), at most 60 valid keys per account; ``/ws?listenKey=`` opens the private channels of
its account. Keys are stored (``listen_keys``) so they survive a restart like MEXC's do.
"""

from __future__ import annotations

import secrets

from sqlalchemy import Engine

from bourse.store.repositories.listenkeys import ListenKeyRepository

VALIDITY_MS = 60 * 60_000
MAX_KEYS = 60


class ListenKeyError(Exception):
    """A listenKey request that cannot be served (the message is for the client)."""


class UnknownListenKey(ListenKeyError):
    pass


class TooManyListenKeys(ListenKeyError):
    pass


class ListenKeys:
    def __init__(self, db: Engine) -> None:
        self.repo = ListenKeyRepository(db)

    def create(self, account: int, now: int) -> str:
        if self.repo.count_valid(account, now) >= MAX_KEYS:
            self.repo.purge_expired(now)
            raise TooManyListenKeys(f"at most {MAX_KEYS} valid listen keys per account")
        key = secrets.token_hex(32)
        self.repo.add(key, account, now, now + VALIDITY_MS)
        return key

    def keys(self, account: int, now: int) -> list[str]:
        return self.repo.valid_keys(account, now)

    def extend(self, account: int, key: str, now: int) -> None:
        if not self.repo.extend(account, key, now, now + VALIDITY_MS):
            raise UnknownListenKey("This listenKey does not exist.")

    def close(self, account: int, key: str) -> None:
        if not self.repo.remove(account, key):
            raise UnknownListenKey("This listenKey does not exist.")

    def account_for(self, key: str, now: int) -> int | None:
        """The account whose streams a valid ``key`` opens, else None."""
        return self.repo.account_of(key, now)
