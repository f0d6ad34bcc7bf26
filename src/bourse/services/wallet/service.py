"""The wallet service: what the wallet endpoints (and the broker ones) call.

It validates requests against the chain's networks (``Chain``, a port: the sandbox simulator is
one adapter), turns them into engine commands and reads history back through its repository.
Amounts are integer units throughout; parsing wire strings is the caller's job
(``bourse.domain.money.to_units`` with ``WalletService.asset(coin).scale``).

``WalletService`` is one object made of its parts, each in its own module:

* ``base``: collaborators, settings, asset and network lookups, history windows;
* ``deposits``: deposit addresses and deposit history;
* ``withdrawals``: two-phase withdrawals, review, the withdraw address whitelist;
* ``transfers``: universal transfers between an account's SPOT and FUTURES wallets.
"""

from __future__ import annotations

from bourse.services.wallet.base import WalletSettings, format_id, parse_id
from bourse.services.wallet.deposits import Deposits, DepositView
from bourse.services.wallet.transfers import Transfers, TransferView
from bourse.services.wallet.withdrawals import WithdrawalRequest, Withdrawals, WithdrawalView


class WalletService(Deposits, Withdrawals, Transfers):
    """Deposits, withdrawals and transfers over one engine, repository and chain."""


__all__ = [
    "DepositView",
    "TransferView",
    "WalletService",
    "WalletSettings",
    "WithdrawalRequest",
    "WithdrawalView",
    "format_id",
    "parse_id",
]
