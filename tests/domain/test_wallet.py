"""wallet: deposits, transfers and two-phase withdrawals (reserve, settle, void)."""

from __future__ import annotations

import pytest

from bourse.domain.accounts import CHAIN_CLEARING, FEE_REVENUE, AccountKind
from bourse.domain.errors import (
    AccountFrozen,
    AccountNotFound,
    AmountOutOfRange,
    InsufficientBalance,
    InvalidParameter,
    TransferNotAllowed,
    UnknownAsset,
)
from bourse.domain.ledger import Ledger
from bourse.domain.wallet import Account, Wallet, WithdrawalStatus
from bourse.sandbox.listings import ASSETS

W = WithdrawalStatus


@pytest.fixture
def w() -> Wallet:
    wallet = Wallet(Ledger())
    for a in ASSETS:
        wallet.assets[a.code] = a
    wallet.accounts[FEE_REVENUE] = Account(FEE_REVENUE, AccountKind.SYSTEM)
    wallet.accounts[CHAIN_CLEARING] = Account(CHAIN_CLEARING, AccountKind.SYSTEM)
    for i in (100, 101, 102):
        wallet.accounts[i] = Account(i, AccountKind.USER)
    wallet.credit_deposit(100, "USDT", 1000, 1)
    yield wallet
    wallet.ledger.check()


def bal(w: Wallet, acc: int, asset: str = "USDT") -> tuple[int, int]:
    return w.ledger.available(acc, asset), w.ledger.locked(acc, asset)


def test_deposit(w: Wallet):
    assert bal(w, 100) == (1000, 0)
    assert bal(w, CHAIN_CLEARING) == (-1000, 0)
    with pytest.raises(UnknownAsset):
        w.credit_deposit(100, "DOGE", 1, 2)
    with pytest.raises(AmountOutOfRange):
        w.credit_deposit(100, "USDT", 0, 2)
    with pytest.raises(AccountNotFound):
        w.credit_deposit(999, "USDT", 1, 2)


def test_transfer(w: Wallet):
    t1 = w.transfer(100, 101, "USDT", 400)
    t2 = w.transfer(101, 102, "USDT", 400)
    assert t2 == t1 + 1
    assert bal(w, 100) == (600, 0) and bal(w, 101) == (0, 0) and bal(w, 102) == (400, 0)


@pytest.mark.parametrize(
    ("src", "dst", "asset", "amount", "error"),
    [
        (100, 101, "USDT", 1001, InsufficientBalance),
        (100, 101, "USDT", 0, AmountOutOfRange),
        (100, 101, "USDT", -5, AmountOutOfRange),
        (100, 100, "USDT", 1, TransferNotAllowed),
        (100, FEE_REVENUE, "USDT", 1, TransferNotAllowed),
        (FEE_REVENUE, 100, "USDT", 1, TransferNotAllowed),
        (100, 999, "USDT", 1, AccountNotFound),
        (100, 101, "XYZ", 1, UnknownAsset),
    ],
)
def test_transfer_refusals_change_nothing(w: Wallet, src, dst, asset, amount, error):
    journal = list(w.ledger.journal)
    with pytest.raises(error):
        w.transfer(src, dst, asset, amount)
    assert w.ledger.journal == journal and bal(w, 100) == (1000, 0)


def test_frozen_accounts_cannot_move_money(w: Wallet):
    w.accounts[101].frozen = True
    with pytest.raises(AccountFrozen):
        w.transfer(100, 101, "USDT", 1)
    with pytest.raises(AccountFrozen):
        w.reserve_withdrawal(101, "USDT", 1, 0, "addr", "TRC20", "", "", 1)


def test_a_frozen_sub_account_is_named_as_its_owners_know_it(w: Wallet):
    """The sub-account services' accounts by their name; any other account by its id."""
    w.accounts[200] = Account(200, AccountKind.BROKER_SUB, 100, True, "sub:alice2024")
    w.accounts[201] = Account(201, AccountKind.BROKER_SUB, 100, True, "opened by hand")
    w.accounts[101].frozen = True
    for account, text in (
        (200, "sub account 'alice2024' is frozen"),
        (201, "account 201 is frozen"),
        (101, "account 101 is frozen"),
    ):
        with pytest.raises(AccountFrozen, match=f"^{text}$"):
            w.active(account)


def test_withdrawal_reserve_then_settle(w: Wallet):
    wd = w.reserve_withdrawal(100, "USDT", 700, 10, "addr", "TRC20", "", "cid", 5)
    assert wd.status is W.PENDING
    assert bal(w, 100) == (290, 710)
    w.mark_processing(wd.id, "0xabc", 6)
    assert wd.status is W.PROCESSING
    with pytest.raises(InvalidParameter):  # broadcast: only the chain decides now
        w.void_withdrawal(wd.id, 7, failed=False)
    done = w.settle_withdrawal(wd.id, "", 8)
    assert done.status is W.SUCCESS and done.txid == "0xabc"
    assert bal(w, 100) == (290, 0)
    assert bal(w, CHAIN_CLEARING) == (-300, 0)
    assert bal(w, FEE_REVENUE) == (10, 0)
    assert wd.id not in w.withdrawals
    with pytest.raises(InvalidParameter):
        w.settle_withdrawal(wd.id, "", 9)


def test_withdrawal_void_releases_exactly(w: Wallet):
    wd = w.reserve_withdrawal(100, "USDT", 500, 5, "a", "n", "", "", 1)
    w.void_withdrawal(wd.id, 2, failed=False)
    assert wd.status is W.CANCELED and bal(w, 100) == (1000, 0)
    wd = w.reserve_withdrawal(100, "USDT", 500, 5, "a", "n", "", "", 3)
    w.mark_processing(wd.id, "tx", 4)
    w.void_withdrawal(wd.id, 5, failed=True)
    assert wd.status is W.FAILED and bal(w, 100) == (1000, 0)
    with pytest.raises(InvalidParameter):
        w.void_withdrawal(wd.id, 6, failed=True)


def test_withdrawal_review_flow(w: Wallet):
    wd = w.reserve_withdrawal(100, "USDT", 100, 0, "a", "n", "", "", 1, review=True)
    assert wd.status is W.REVIEW
    w.approve(wd.id, 2)
    assert wd.status is W.PENDING
    with pytest.raises(InvalidParameter):
        w.approve(wd.id, 3)
    w.mark_processing(wd.id, "tx", 4)
    with pytest.raises(InvalidParameter):
        w.mark_processing(wd.id, "tx", 5)
    w.settle_withdrawal(wd.id, "tx2", 6)
    assert wd.txid == "tx2" and bal(w, 100) == (900, 0)


@pytest.mark.parametrize(
    ("amount", "fee", "error"),
    [
        (1001, 0, InsufficientBalance),
        (1000, 1, InsufficientBalance),
        (0, 0, AmountOutOfRange),
        (1, -1, InvalidParameter),
    ],
)
def test_withdrawal_refusals(w: Wallet, amount, fee, error):
    with pytest.raises(error):
        w.reserve_withdrawal(100, "USDT", amount, fee, "a", "n", "", "", 1)
    assert bal(w, 100) == (1000, 0) and w.withdrawals == {}
