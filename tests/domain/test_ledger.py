"""ledger: balanced postings, buckets, overdraft refusal, journal and invariants."""

from __future__ import annotations

import pytest

from bourse.domain.accounts import CHAIN_CLEARING, FEE_REVENUE
from bourse.domain.errors import InsufficientBalance, LedgerImbalance
from bourse.domain.ledger import AVAILABLE, LOCKED, Ledger


def funded(amount: int = 1000) -> Ledger:
    led = Ledger()
    led.post(CHAIN_CLEARING, AVAILABLE, 100, AVAILABLE, "USDT", amount, "deposit", 1)
    return led


def test_post_moves_and_journals():
    led = funded()
    assert led.available(100, "USDT") == 1000
    assert led.available(CHAIN_CLEARING, "USDT") == -1000
    assert led.totals() == {"USDT": 0}
    led.check()
    journal, touched = led.drain()
    assert journal == [(CHAIN_CLEARING, AVAILABLE, 100, AVAILABLE, "USDT", 1000, "deposit", 1)]
    assert all(type(p) is tuple for p in journal)  # plain tuples: the GC untracks them
    assert touched == {(CHAIN_CLEARING, "USDT"), (100, "USDT")}
    assert led.journal == [] and led.touched == set()


def test_lock_unlock():
    led = funded()
    led.lock(100, "USDT", 300, "order_lock", 5)
    assert (led.available(100, "USDT"), led.locked(100, "USDT")) == (700, 300)
    led.unlock(100, "USDT", 300, "order_unlock", 5)
    assert (led.available(100, "USDT"), led.locked(100, "USDT")) == (1000, 0)
    led.check()


def test_zero_posting_is_ignored_and_negative_refused():
    led = funded()
    led.drain()
    led.post(100, AVAILABLE, 101, AVAILABLE, "USDT", 0, "x")
    assert led.journal == []
    with pytest.raises(LedgerImbalance):
        led.post(100, AVAILABLE, 101, AVAILABLE, "USDT", -1, "x")
    assert led.journal == []


def test_overdraft_refused_without_change():
    led = funded()
    with pytest.raises(InsufficientBalance):
        led.post(100, AVAILABLE, 101, AVAILABLE, "USDT", 1001, "transfer")
    with pytest.raises(InsufficientBalance):
        led.unlock(100, "USDT", 1, "order_unlock", 1)
    with pytest.raises(InsufficientBalance):
        led.post(FEE_REVENUE, AVAILABLE, 100, AVAILABLE, "USDT", 1, "x")
    assert led.available(100, "USDT") == 1000
    assert led.available(101, "USDT") == 0
    assert len(led.journal) == 1


def test_only_chain_clearing_may_go_negative():
    led = Ledger()
    led.post(CHAIN_CLEARING, AVAILABLE, 100, AVAILABLE, "BTC", 5, "deposit")
    assert led.available(CHAIN_CLEARING, "BTC") == -5
    led.check()


def test_check_detects_imbalance_and_negative():
    led = funded()
    led.balances[(100, "USDT")][0] += 1
    with pytest.raises(LedgerImbalance, match="sums to 1"):
        led.check()
    led = funded()
    led.balances[(100, "USDT")][LOCKED] = -1
    led.balances[(101, "USDT")] = [1, 0]
    with pytest.raises(LedgerImbalance, match="negative"):
        led.check()


def test_account_balances():
    led = funded()
    led.post(CHAIN_CLEARING, AVAILABLE, 100, AVAILABLE, "BTC", 7, "deposit")
    led.lock(100, "BTC", 2, "order_lock", 1)
    assert led.account_balances(100) == {"USDT": (1000, 0), "BTC": (5, 2)}
    assert led.account_balances(555) == {}
