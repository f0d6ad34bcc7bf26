"""Universal transfer (SPOT <-> FUTURES of one account) bookkeeping."""

from __future__ import annotations

import pytest

from bourse.domain.errors import (
    AccountTypeNotSupported,
    IdempotencyConflict,
    InsufficientBalance,
    TransferNotFound,
)
from tests.support.wallet import WalletWorld, assert_books_balance


def test_spot_futures_round_trip_and_history(world: WalletWorld) -> None:
    world.fund(world.alice, "USDT", "100")
    u = world.units
    assert world.wallet.wallet_account(world.alice, "FUTURES", create=False) is None
    assert world.wallet.transfer_history(world.alice, "SPOT", "FUTURES") == ([], 0)
    t1 = world.wallet.universal_transfer(world.alice, "SPOT", "FUTURES", "USDT", u("USDT", "30"))
    t2 = world.wallet.universal_transfer(world.alice, "spot", "futures", "usdt", u("USDT", "20"))
    back = world.wallet.universal_transfer(world.alice, "FUTURES", "SPOT", "USDT", u("USDT", "5"))
    fut = world.wallet.wallet_account(world.alice, "FUTURES")
    assert fut is not None and fut != world.alice
    assert world.wallet.wallet_account(world.alice, "FUTURES") == fut  # one per account
    assert world.available(fut, "USDT") == u("USDT", "45")
    assert world.available(world.alice, "USDT") == u("USDT", "55")
    rows, total = world.wallet.transfer_history(world.alice, "SPOT", "FUTURES")
    assert total == 2 and [r.id for r in rows] == [t2.id, t1.id]
    assert all((r.from_type, r.to_type) == ("SPOT", "FUTURES") for r in rows)
    rows, total = world.wallet.transfer_history(world.alice, "SPOT", "FUTURES", page=2, size=1)
    assert total == 2 and [r.id for r in rows] == [t1.id]
    rows, _ = world.wallet.transfer_history(world.alice, "FUTURES", "SPOT")
    assert [r.id for r in rows] == [back.id]
    got = world.wallet.get_transfer(world.alice, back.id)
    assert (got.from_type, got.to_type, got.amount) == ("FUTURES", "SPOT", u("USDT", "5"))
    with pytest.raises(TransferNotFound):
        world.wallet.get_transfer(world.bob, back.id)
    assert_books_balance(world)


def test_refusals(world: WalletWorld) -> None:
    world.fund(world.alice, "USDT", "10")
    u = world.units
    with pytest.raises(AccountTypeNotSupported):
        world.wallet.universal_transfer(world.alice, "SPOT", "SPOT", "USDT", 1)
    with pytest.raises(AccountTypeNotSupported):
        world.wallet.universal_transfer(world.alice, "SPOT", "MARGIN", "USDT", 1)
    with pytest.raises(InsufficientBalance):
        world.wallet.universal_transfer(world.alice, "SPOT", "FUTURES", "USDT", u("USDT", "11"))
    with pytest.raises(InsufficientBalance):
        world.wallet.universal_transfer(world.alice, "FUTURES", "SPOT", "USDT", 1)
    a = world.wallet.universal_transfer(
        world.alice, "SPOT", "FUTURES", "USDT", u("USDT", "4"), client_id="c1"
    )
    b = world.wallet.universal_transfer(
        world.alice, "SPOT", "FUTURES", "USDT", u("USDT", "4"), client_id="c1"
    )
    assert a.id == b.id and world.available(world.alice, "USDT") == u("USDT", "6")
    with pytest.raises(IdempotencyConflict, match="^clientTranId 'c1' was already used with"):
        world.wallet.universal_transfer(
            world.alice, "SPOT", "FUTURES", "USDT", u("USDT", "5"), client_id="c1"
        )


def test_generic_transfer_query_and_multi_account_deposits(world: WalletWorld) -> None:
    """The helpers the broker endpoints build on."""
    from bourse.engine import commands as c

    world.fund(world.alice, "USDT", "50")
    world.fund(world.bob, "USDT", "5")
    u = world.units
    fut = world.wallet.universal_transfer(world.alice, "SPOT", "FUTURES", "USDT", u("USDT", "7"))
    tid = world.engine.execute(
        c.Transfer(world.alice, world.bob, "USDT", u("USDT", "3"), client_id="b-1")
    )
    rows, total = world.wallet.transfers(from_accounts=[world.alice])
    assert total == 2 and [r.id for r in rows] == [tid, fut.id]
    assert [(r.from_type, r.to_type) for r in rows] == [("SPOT", "SPOT"), ("SPOT", "FUTURES")]
    rows, total = world.wallet.transfers(to_accounts=[world.bob], client_id="b-1")
    assert total == 1 and rows[0].client_id == "b-1" and rows[0].amount == u("USDT", "3")
    ledger = world.wallet.wallet_account(world.alice, "FUTURES")
    assert world.wallet.wallet_owners([ledger, world.bob]) == {ledger: (world.alice, "FUTURES")}
    both = world.wallet.deposit_history([world.alice, world.bob])
    assert sorted(v.deposit.account for v in both) == [world.alice, world.bob]
