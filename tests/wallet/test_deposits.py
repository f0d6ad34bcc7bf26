"""Deposits: addresses, confirmations, exactly-once crediting."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from bourse.domain.errors import DomainError, NetworkNotSupported, UnknownAsset
from bourse.engine import commands as c
from bourse.sandbox.chain import ChainConfig, derive_address
from bourse.services.wallet.chain import valid_address
from bourse.store import wallet_tables as wt
from tests.support.wallet import SECRET, WalletWorld, assert_books_balance


def test_addresses_are_deterministic_per_account_coin_network(world: WalletWorld) -> None:
    a1 = world.wallet.deposit_address(world.alice, "USDT", "TRX")
    again = world.wallet.deposit_address(world.alice, "USDT", "Tron(TRC20)")
    alias = world.wallet.deposit_address(world.alice, "usdt", "trc20")
    assert a1 == again == alias
    assert a1.address == derive_address(SECRET, world.alice, "USDT", a1.network)[0]
    assert valid_address("tron", a1.address) and a1.memo == ""
    eth = world.wallet.deposit_address(world.alice, "USDT", "ERC20")
    bob = world.wallet.deposit_address(world.bob, "USDT", "TRX")
    assert len({a1.address, eth.address, bob.address}) == 3
    assert eth.address.startswith("0x") and valid_address("evm", eth.address)
    btc = world.wallet.deposit_address(world.alice, "BTC", None)
    assert btc.network.id == "BTC" and valid_address("btc", btc.address)
    # memo networks: one shared address, the memo tells accounts apart
    t1 = world.wallet.deposit_address(world.alice, "USDT", "TON")
    t2 = world.wallet.deposit_address(world.bob, "USDT", "TONCOIN")
    assert t1.address == t2.address and t1.memo and t2.memo and t1.memo != t2.memo
    assert [a.network.id for a in world.wallet.deposit_addresses(world.alice, "USDT")] == [
        "TRX",
        "ETH",
        "TONCOIN",
    ]


def test_unknown_coin_or_network_is_refused(world: WalletWorld) -> None:
    with pytest.raises(UnknownAsset):
        world.wallet.deposit_address(world.alice, "DOGE", None)
    with pytest.raises(NetworkNotSupported):
        world.wallet.deposit_address(world.alice, "BTC", "TRX")


def test_deposit_is_credited_only_after_its_confirmations(world: WalletWorld) -> None:
    a = world.wallet.deposit_address(world.alice, "USDT", "ETH")  # 6 confirmations
    amount = world.units("USDT", "250.5")
    dep = world.chain.send_deposit(a.address, "", "USDT", "ERC20", amount)
    assert dep.status == "PENDING" and dep.block is None and dep.required == 6
    hist = world.wallet.deposit_history(world.alice)
    assert [(v.mexc_status, v.deposit.confirmations) for v in hist] == [(4, 0)]
    for n in range(1, 6):
        world.chain.advance(1)
        got = world.chain.deposit("ETH", dep.txid)
        assert got is not None and got.confirmations == n and not got.credited
        assert world.available(world.alice, "USDT") == 0
    world.chain.advance(1)
    got = world.chain.deposit("ETH", dep.txid)
    assert got is not None and got.credited and got.status == "SUCCESS"
    assert world.available(world.alice, "USDT") == amount
    assert [v.mexc_status for v in world.wallet.deposit_history(world.alice)] == [5]
    assert_books_balance(world)


def test_deposit_is_credited_exactly_once(world: WalletWorld) -> None:
    a = world.wallet.deposit_address(world.bob, "BTC", "BTC")
    amount = world.units("BTC", "0.75")
    dep = world.chain.send_deposit(a.address, "", "BTC", "BTC", amount, txid="ab" * 32, vout=1)
    world.chain.advance(10)
    assert world.available(world.bob, "BTC") == amount
    # the chain re-reports the same output: nothing new
    again = world.chain.send_deposit(a.address, "", "BTC", "BTC", amount, txid="ab" * 32, vout=1)
    assert again.id == dep.id and again.credited
    world.chain.advance(5)
    # a crash after the engine committed but before the chain recorded it: the next block
    # credits again, and the engine's tx_ref idempotency makes that a no-op
    with world.db.begin() as conn:
        conn.execute(
            update(wt.chain_deposits)
            .where(wt.chain_deposits.c.id == dep.id)
            .values(status="PENDING", credited=False)
        )
    report = world.chain.advance(1)
    assert report.credited == 1
    assert (
        world.engine.execute(c.CreditDeposit(world.bob, "BTC", amount, "ab" * 32 + ":1")) is False
    )
    assert world.available(world.bob, "BTC") == amount
    # another output of the same transaction is another deposit
    world.chain.send_deposit(a.address, "", "BTC", "BTC", amount, txid="ab" * 32, vout=2)
    world.chain.advance(2)
    assert world.available(world.bob, "BTC") == 2 * amount
    assert [v.deposit.tx_ref for v in world.wallet.deposit_history(world.bob)] == [
        "ab" * 32 + ":2",
        "ab" * 32 + ":1",
    ]
    assert_books_balance(world)


def test_crediting_survives_a_restart(world: WalletWorld) -> None:
    a = world.wallet.deposit_address(world.alice, "ETH", "ETH")
    dep = world.chain.send_deposit(a.address, "", "ETH", "ETH", world.units("ETH", "2"))
    world.chain.advance(3)
    world.restart()
    assert world.chain.height == 3
    world.chain.advance(3)
    got = world.chain.deposit("ETH", dep.txid)
    assert got is not None and got.credited
    assert world.available(world.alice, "ETH") == world.units("ETH", "2")


def test_memo_and_unknown_address_and_small_deposits(world: WalletWorld) -> None:
    a = world.wallet.deposit_address(world.alice, "USDT", "TONCOIN")
    ok = world.chain.send_deposit(a.address, a.memo, "USDT", "TON", world.units("USDT", "3"))
    no_memo = world.chain.send_deposit(a.address, "", "USDT", "TON", world.units("USDT", "4"))
    stranger = world.chain.send_deposit("0x" + "11" * 20, "", "USDT", "ETH", 10**8)
    small = world.chain.send_deposit(a.address, a.memo, "USDT", "TON", 1)
    assert (ok.status, no_memo.status, stranger.status, small.status) == (
        "PENDING",
        "UNKNOWN",
        "UNKNOWN",
        "SMALL",
    )
    world.chain.advance(10)
    assert world.available(world.alice, "USDT") == world.units("USDT", "3")
    hist = world.wallet.deposit_history(world.alice)
    assert sorted(v.mexc_status for v in hist) == [1, 5]  # SMALL shows, UNKNOWN does not
    assert world.wallet.deposit_history(world.alice, status="SMALL")[0].deposit.amount == 1
    assert len(world.wallet.deposit_history(world.alice, coin="USDT-TONCOIN")) == 2
    assert world.wallet.deposit_history(world.alice, coin="USDT-TRX") == []
    assert world.wallet.deposit_history(world.alice, status="7") == []


def test_generic_network_for_an_unconfigured_asset(world: WalletWorld) -> None:
    from bourse.domain.money import Asset

    world.engine.execute(c.AddAsset(Asset("SBX", 4, "Sandbox coin")))
    nets = world.wallet.networks("SBX")
    assert [(n.id, n.withdraw_fee, n.withdraw_min) for n in nets] == [("SBX", 0, 1)]
    a = world.wallet.deposit_address(world.alice, "SBX", None)
    world.chain.send_deposit(a.address, "", "SBX", None, 12345)
    world.chain.advance(1)
    assert world.available(world.alice, "SBX") == 12345


def test_config_rejects_bad_amounts() -> None:
    from bourse.domain.money import Asset
    from bourse.sandbox.chain import NetworkSpec

    cfg = ChainConfig({"X": (NetworkSpec("X", "X", 1, "0.001", "1", "2"),)})
    with pytest.raises(DomainError):
        cfg.networks(Asset("X", 2))  # fee has more decimals than the asset


def test_background_clock_mines_and_stops(live_world: WalletWorld) -> None:
    import time

    w = live_world
    w.chain.block_interval = 0.01
    a = w.wallet.deposit_address(w.alice, "USDT", "TRX")
    w.chain.send_deposit(a.address, "", "USDT", "TRX", w.units("USDT", "7"))
    w.chain.start(max_blocks=500)
    deadline = time.monotonic() + 20
    while w.available(w.alice, "USDT") == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    w.chain.stop()
    assert not w.chain.running
    assert w.available(w.alice, "USDT") == w.units("USDT", "7")
    h = w.chain.height
    time.sleep(0.05)
    assert w.chain.height == h


def test_send_deposit_refuses_what_the_columns_cannot_hold(world: WalletWorld) -> None:
    from bourse.domain.errors import InvalidParameter

    a = world.wallet.deposit_address(world.alice, "USDT", "TRX")
    with pytest.raises(InvalidParameter):
        world.chain.send_deposit(a.address, "", "USDT", "TRX", 100, txid="x" * 200)
    with pytest.raises(InvalidParameter):
        world.chain.send_deposit(a.address, "", "USDT", "TRX", 100, txid="bad txid!")
    with pytest.raises(InvalidParameter):
        world.chain.send_deposit("T" * 300, "", "USDT", "TRX", 100)
    with pytest.raises(InvalidParameter):
        world.chain.send_deposit(a.address, "", "USDT", "TRX", 0)
    assert world.wallet.deposit_history(world.alice) == []
