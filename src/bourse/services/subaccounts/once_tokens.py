"""One-time login tokens of sub-accounts (MEXC broker ``GET sub-account/onceToken``).

Sub-accounts made through the API have no web log-in (MEXC's rule). A broker asks for a
once-token for one of its sub-accounts and hands the link ``/subaccount/once?onceToken=...``
to its user, who opens the sub-account's page with it **once**, within ``TTL_MS``. The token is
256 random bits; only its SHA-256 is stored; consuming it is one conditional UPDATE, so of any
number of concurrent uses exactly one succeeds.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from bourse.engine import Engine
from bourse.engine.clock import Clock, now_ms
from bourse.services.subaccounts.directory import SubAccountDirectory
from bourse.services.subaccounts.errors import OnceTokenInvalid, SubAccountFrozen
from bourse.services.subaccounts.rules import SubAccount, Tenant
from bourse.store.repositories.once_tokens import OnceTokenRepository

TTL_MS = 5 * 60 * 1000
MAX_TOKEN_LEN = 128


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SubAccountView:
    """What the once-token page shows: the sub-account and its non-zero balances."""

    sub: SubAccount
    balances: tuple[tuple[str, int, int, int], ...]  # (asset, scale, available, locked)


class OnceTokens:
    def __init__(
        self,
        repo: OnceTokenRepository,
        directory: SubAccountDirectory,
        engine: Engine,
        *,
        clock: Clock = now_ms,
        ttl_ms: int = TTL_MS,
    ) -> None:
        self.repo = repo
        self.directory = directory
        self.engine = engine
        self.clock = clock
        self.ttl_ms = ttl_ms

    def issue(self, tenant: Tenant, name: str | None) -> str:
        """A new one-time token for the tenant's sub-account ``name`` (140001 for any other
        name, 140002 if it is frozen)."""
        sub = self.directory.get(tenant, name)
        if sub.frozen:
            raise SubAccountFrozen("sub account is forbidden")
        token = secrets.token_urlsafe(32)
        now = self.clock()
        self.repo.insert(digest(token), sub.account_id, tenant.master, now, now + self.ttl_ms)
        return token

    def consume(self, token: str | None) -> SubAccountView:
        """Use ``token`` (once) and return the view of its sub-account."""
        if not token or len(token) > MAX_TOKEN_LEN:
            raise OnceTokenInvalid("This login link has expired or was already used.")
        account = self.repo.consume(digest(token), self.clock())
        if account is None:
            raise OnceTokenInvalid("This login link has expired or was already used.")
        sub = self.directory.by_account(account)
        if sub is None:  # the record cannot vanish; refuse rather than show another account
            raise OnceTokenInvalid("This login link has expired or was already used.")

        def snap(e: Engine) -> tuple[tuple[str, int, int, int], ...]:
            rows = []
            for code in sorted(e.wallet.assets):
                b = e.exchange.ledger.balances.get((account, code))
                if b and (b[0] or b[1]):
                    rows.append((code, e.wallet.assets[code].scale, b[0], b[1]))
            return tuple(rows)

        return SubAccountView(sub, self.engine.read(snap))
