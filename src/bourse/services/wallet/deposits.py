"""Deposits: the accounts' deposit addresses on the chain, and the deposits the chain credited
(or saw) with MEXC's status codes. Crediting itself is the chain adapter's job, through the
engine's idempotent ``CreditDeposit``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bourse.domain.accounts import AccountKind
from bourse.domain.errors import InvalidParameter, NetworkNotSupported
from bourse.services.wallet import statuses as st
from bourse.services.wallet.base import WalletBase
from bourse.services.wallet.chain import ChainDeposit, DepositAddress, Network


@dataclass(frozen=True, slots=True)
class DepositView:
    deposit: ChainDeposit
    network: Network | None

    @property
    def mexc_status(self) -> int:
        return st.DEPOSIT_CODE.get(self.deposit.status, 4)


class Deposits(WalletBase):
    def deposit_address(self, account: int, coin: str, network: str | None) -> DepositAddress:
        """The account's address for ``coin`` on ``network`` (id, name or alias; ``None``:
        the coin's default network), created on first use."""
        net = self.network(self.asset(coin), network)
        if not net.deposit_enable:
            raise NetworkNotSupported(f"deposits of {net.coin} on {net.id} are suspended")
        acc = self.engine.read(lambda e: e.wallet.accounts.get(account))
        if acc is None:
            raise InvalidParameter(f"account {account} does not exist")
        if acc.kind is AccountKind.SYSTEM:
            raise InvalidParameter(f"account {account} cannot receive deposits")
        return self.chain.deposit_address(account, net)

    def deposit_addresses(
        self, account: int, coin: str, network: str | None = None
    ) -> list[DepositAddress]:
        """The account's addresses for ``coin``; with ``network``, that one (created if need
        be); without, the existing ones, or the default network's if there are none yet."""
        if network:
            return [self.deposit_address(account, coin, network)]
        found = self.chain.addresses(account, self.asset(coin))
        return found or [self.deposit_address(account, coin, None)]

    def deposit_history(
        self,
        account: int | Iterable[int],
        *,
        coin: str | None = None,
        network: str | None = None,
        status: str | int | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int = 1000,
    ) -> list[DepositView]:
        """Newest first. ``account`` may be several accounts (a broker's sub-accounts);
        ``coin`` may be ``COIN-NETWORK`` (ccxt's form); ``status`` a MEXC code or name."""
        net_id = None
        asset = None
        if coin:
            code, _, net_part = coin.strip().upper().partition("-")
            asset = self.asset(code)
            network = network or net_part or None
            if network:
                net_id = self.network(asset, network).id
        code_filter = st.parse_code(status, st.DEPOSIT_STATUS_CODES)
        statuses = (
            st.VISIBLE_DEPOSITS if code_filter is None else st.DEPOSIT_BY_CODE.get(code_filter, ())
        )
        if not statuses:
            return []
        start, end = self.window(start, end)
        rows = self.chain.deposits(
            [account] if isinstance(account, int) else list(account),
            coin=asset.code if asset else None,
            network=net_id,
            statuses=statuses,
            start=start,
            end=end,
            limit=limit,
        )
        nets = self.networks_of({r.coin for r in rows})
        return [DepositView(r, nets.get((r.coin, r.network))) for r in rows]
