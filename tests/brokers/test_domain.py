"""The pure broker rules: lifecycle, rebate formula, rate history, attribution precedence."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bourse.domain.brokers import (
    AttributionStatus,
    BrokerStateError,
    BrokerStatus,
    attribute,
    clean_source,
    rate_at,
    rebate_for,
    rebate_lines,
    settlement_key,
    transition,
)
from bourse.domain.errors import InvalidParameter
from bourse.domain.orders import BUY, SELL, Trade

A, P, S, R = (
    BrokerStatus.APPROVED,
    BrokerStatus.PENDING,
    BrokerStatus.SUSPENDED,
    BrokerStatus.REJECTED,
)


def test_lifecycle() -> None:
    assert transition(P, "approve") is A
    assert transition(P, "reject") is R
    assert transition(A, "suspend") is S
    assert transition(S, "approve") is A
    for status, action in [(R, "approve"), (A, "reject"), (P, "suspend"), (S, "reject")]:
        with pytest.raises(BrokerStateError):
            transition(status, action)
    with pytest.raises(InvalidParameter):
        transition(P, "promote")


def test_rebate_rounds_down() -> None:
    assert rebate_for(1000, 300_000) == 300
    assert rebate_for(999, 300_000) == 299  # 299.7 -> 299
    assert rebate_for(1, 999_999) == 0
    assert rebate_for(7, 1_000_000) == 7
    assert rebate_for(0, 500_000) == 0
    for bad in (-1, 1_000_001, True):
        with pytest.raises(InvalidParameter):
            rebate_for(10, bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter):
        rebate_for(-1, 10)


@given(st.integers(0, 2**63 - 1), st.integers(0, 1_000_000))
def test_rebate_never_exceeds_share(fee: int, rate: int) -> None:
    r = rebate_for(fee, rate)
    assert 0 <= r <= fee
    assert r * 1_000_000 <= fee * rate < (r + 1) * 1_000_000  # exactly the floor


def test_rate_at() -> None:
    hist = [(100, 10), (200, 20), (200, 25), (300, 0)]
    assert rate_at(hist, 99) == 0
    assert rate_at(hist, 100) == 10
    assert rate_at(hist, 250) == 25  # the later row wins a tie
    assert rate_at(hist, 10**13) == 0
    assert rate_at([], 5) == 0


def test_attribution_precedence() -> None:
    # a bound key wins over any source
    a = attribute((7, A), "9", (9, A))
    assert (a.broker_id, a.status) == (7, AttributionStatus.BOUND_KEY)
    # a bound key whose broker is suspended earns nothing, and the source cannot rescue it
    a = attribute((7, S), "9", (9, A))
    assert (a.broker_id, a.status) == (None, AttributionStatus.BOUND_NOT_APPROVED)
    assert attribute(None, "9", (9, A)).broker_id == 9
    assert attribute(None, "9", (9, A)).status is AttributionStatus.SOURCE
    for st_ in (P, S, R):
        a = attribute(None, "9", (9, st_))
        assert (a.broker_id, a.status) == (None, AttributionStatus.SOURCE_NOT_APPROVED)
    a = attribute(None, "CCXT", None)
    assert (a.broker_id, a.status, a.source) == (None, AttributionStatus.UNKNOWN_SOURCE, "CCXT")
    assert attribute(None, "", None).status is AttributionStatus.NONE
    assert clean_source("  x" + "y" * 100) == "x" + "y" * 63


def test_rebate_lines_sides_and_assets() -> None:
    tr = Trade(5, "BTCUSDT", 1, 2, 3, 10, 11, 100, 101, SELL, 40, 50, 7, 8, 123)
    buy, sell = rebate_lines(tr, "BTC", "USDT")
    assert (buy.side, buy.asset, buy.fee, buy.broker_id, buy.maker) == (BUY, "BTC", 40, 7, True)
    assert (sell.side, sell.asset, sell.fee, sell.broker_id, sell.maker) == (
        SELL,
        "USDT",
        50,
        8,
        False,
    )
    tr = tr._replace(buyer_broker=None)
    assert [ln.side for ln in rebate_lines(tr, "BTC", "USDT")] == [SELL]


def test_settlement_key_is_deterministic() -> None:
    k = settlement_key(3, "USDT", [5, 1, 9])
    assert k == settlement_key(3, "USDT", [9, 5, 1])
    assert k != settlement_key(3, "USDT", [1, 5])
    assert k != settlement_key(4, "USDT", [5, 1, 9])
    assert len(k) <= 160
