"""A sub-account's own money: its deposits and withdrawals go through the wallet with the
sub-account's own key (the MEXC endpoints take no ``subAccount`` parameter), and its master
sees every sub-account's deposits.

A fund password is a credential: its checks go through the platform's credential throttle
(``bourse.services.throttle.CredentialThrottle``, kind ``fund``), per sub-account and per
caller IP, as log-in passwords and OAuth client secrets do."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from bourse.domain.errors import AccountFrozen
from bourse.domain.wallet import Withdrawal
from bourse.engine.clock import Clock, now_ms
from bourse.services.subaccounts.directory import SubAccountDirectory
from bourse.services.subaccounts.errors import SubAccountFrozen, SubAccountOnly, WrongFundPassword
from bourse.services.subaccounts.rules import SubAccount, Tenant, hasher
from bourse.services.throttle import CredentialThrottle
from bourse.services.wallet import WalletService, WithdrawalRequest
from bourse.store.repositories.subaccounts import SubAccountRepository


class SubAccountFunds:
    def __init__(
        self,
        directory: SubAccountDirectory,
        wallet: WalletService,
        repo: SubAccountRepository,
        *,
        throttle: CredentialThrottle | None = None,
        clock: Clock = now_ms,
    ) -> None:
        self.directory = directory
        self.wallet = wallet
        self.repo = repo
        self.throttle = throttle or CredentialThrottle()
        self.clock = clock

    def own(self, account_id: int, *, broker: bool = True) -> SubAccount:
        """The calling sub-account (a sub-account key's endpoints): refused for any account
        that is not a sub-account (of an approved independent broker, with ``broker``)."""
        sub = self.directory.by_account(account_id)
        if sub is None or (broker and sub.broker_id is None):
            raise SubAccountOnly()
        if broker:
            self.directory.tenant_for_broker(sub.master)  # the broker must still be approved
        return sub

    def withdraw(
        self,
        sub: SubAccount,
        coin: str,
        network: str | None,
        address: str,
        amount: int,
        *,
        password: str | None = None,
        remark: str = "",
        client_id: str = "",
        replay: str = "",
        ip: str = "",
        initiator: int | None = None,
    ) -> Any:
        """``wallet.withdraw`` from the sub-account; its fund password, when sent, lifts the
        whitelist. The password check is throttled per sub-account and per caller ``ip``:
        ``Throttled`` (nothing checked) over either budget. Whether it is frozen is the
        engine's to decide, in the step that looks ``client_id`` up and reserves: an identical
        retry gets the first withdrawal even after a freeze, a new request on a frozen
        sub-account ``SubAccountFrozen`` (140002; the engine's ``AccountFrozen``), a freeze
        racing it included. ``initiator``: the master asking for it (the broker console), whose
        own freeze refuses a new request the same way (``AccountFrozen``, 30018)."""
        skip = False
        if password:
            self._check_password(sub, password, ip)
            skip = True
        with _frozen_as_sub(sub):
            return self.wallet.withdraw(
                sub.account_id,
                coin,
                network,
                address,
                amount,
                remark=remark,
                skip_whitelist=skip,
                client_id=client_id,
                replay=replay,
                initiator=initiator,
            )

    def check_withdrawal(
        self,
        sub: SubAccount,
        coin: str,
        network: str | None,
        address: str,
        amount: int,
        *,
        client_id: str = "",
        initiator: int | None = None,
    ) -> Withdrawal | None:
        """``wallet.check_withdrawal`` for the sub-account (the broker console, before its
        step-up): the first withdrawal of a ``client_id`` already used, a new request's
        refusal raised (``SubAccountFrozen`` for a frozen sub-account), else None."""
        req = WithdrawalRequest(sub.account_id, coin, network, address, amount,
                                client_id=client_id, initiator=initiator)  # fmt: skip
        with _frozen_as_sub(sub):
            return self.wallet.check_withdrawal(req)

    def _check_password(self, sub: SubAccount, password: str, ip: str) -> None:
        """``WrongFundPassword`` unless ``password`` is the sub-account's; counted before the
        check (a burst of concurrent guesses stays inside the budget), given back when right."""
        attempt = self.throttle.begin("fund", ip, f"sub:{sub.account_id}", self.clock())
        stored = self.repo.password_hash(sub.account_id)
        if stored is None:
            raise WrongFundPassword("no fund password is set for this sub-account")
        try:
            hasher().verify(stored, password.lower())
        except Exception:
            raise WrongFundPassword() from None
        self.throttle.succeeded(attempt)

    def deposit_history_all(
        self,
        tenant: Tenant,
        *,
        coin: str | None = None,
        status: str | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int = 100,
        page: int = 1,
    ) -> tuple[list[Any], dict[int, str]]:
        """Deposits of every sub-account of the tenant (default window: the last 3 days)."""
        names = self.directory.names(tenant)
        subs = [a for a in names if a != tenant.master]
        if not subs:
            return [], names
        wallet = self.wallet
        if start is None:
            start = (end if end is not None else wallet.clock()) - 3 * 86_400_000
        limit, page = max(1, min(limit, 1000)), max(1, page)
        rows = wallet.deposit_history(
            subs, coin=coin, status=status, start=start, end=end, limit=min(1000, limit * page)
        )
        return rows[(page - 1) * limit : page * limit], names


@contextlib.contextmanager
def _frozen_as_sub(sub: SubAccount) -> Iterator[None]:
    """The engine's ``AccountFrozen`` for the sub-account, as a sub-account's (140002); the
    master's own (an ``initiator``'s) stays as it is (30018)."""
    try:
        yield
    except AccountFrozen as exc:
        if exc.account not in (None, sub.account_id):
            raise
        raise SubAccountFrozen(f"sub account {sub.name!r} is frozen") from None
