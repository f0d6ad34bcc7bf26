"""The wallet works over any ``Chain``: here a hand-written adapter, not the sandbox simulator."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from bourse.domain.errors import InvalidAddress, NetworkNotSupported
from bourse.domain.money import Asset
from bourse.engine import commands as c
from bourse.services.wallet import Chain, WalletService
from bourse.services.wallet.chain import ChainDeposit, ChainWithdrawal, DepositAddress, Network
from bourse.store.repositories.wallet import WalletRepository
from tests.support.wallet import WalletWorld


class FakeChain:
    """One network per coin, addresses made up on the spot, withdrawals all in block 1."""

    def __init__(self) -> None:
        self.started = False
        self.asked: list[int] = []

    def networks(self, asset: Asset) -> tuple[Network, ...]:
        return (
            Network(
                asset.code, "FAKE", "Fake(FK)", 1, 0, 1, 10**18, 0, False, "evm", ("FK",),
                "", True, True, asset.scale,
            ),
        )  # fmt: skip

    def deposit_address(self, account: int, network: Network) -> DepositAddress:
        return DepositAddress(account, network.coin, network, f"0x{account:040x}", "")

    def addresses(self, account: int, asset: Asset) -> list[DepositAddress]:
        return []

    def deposits(self, accounts: Iterable[int], **filters: object) -> list[ChainDeposit]:
        return []

    def withdrawal_info(self, ids: Iterable[int]) -> dict[int, ChainWithdrawal]:
        wanted = list(ids)
        self.asked += wanted
        return {i: ChainWithdrawal(i, "FAKE", "USDT", "0xab", 1, 1, 1, "BROADCAST") for i in wanted}

    def start(self) -> FakeChain:
        self.started = True
        return self

    def stop(self) -> None:
        self.started = False


def test_wallet_over_another_chain_adapter(world: WalletWorld) -> None:
    chain: Chain = FakeChain()
    wallet = WalletService(world.engine, WalletRepository(world.db), chain)
    assert [n.id for n in wallet.networks("USDT")] == ["FAKE"]
    a = wallet.deposit_address(world.alice, "usdt", "fk")
    assert (a.address, a.network.id) == (f"0x{world.alice:040x}", "FAKE")
    with pytest.raises(NetworkNotSupported):
        wallet.deposit_address(world.alice, "USDT", "TRX")
    world.engine.execute(c.CreditDeposit(world.alice, "USDT", 10**9, "port-test:0"))
    with pytest.raises(InvalidAddress):  # the port's address rule for the network's style
        wallet.withdraw(world.alice, "USDT", None, "T" + "A" * 33, 10**8)
    w = wallet.withdraw(world.alice, "USDT", None, "0x" + "ab" * 20, 10**8)
    w = world.engine.execute(c.MarkWithdrawalProcessing(w.id, "0xab"))
    view = wallet.withdraw_history(world.alice, withdrawal_ids=[w.id])[0]
    assert (view.in_block, view.confirmations, view.mexc_status) == (True, 1, 6)
