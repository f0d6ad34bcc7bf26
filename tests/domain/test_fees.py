"""fees: the one fee formula (rounded up) and per-account overrides."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bourse.domain.errors import InvalidParameter
from bourse.domain.fees import RATE_DENOM, FeeSchedule, fee_for


@pytest.mark.parametrize(
    ("amount", "rate", "fee"),
    [
        (0, 500, 0),
        (1_000_000, 500, 500),  # exact
        (1, 500, 1),  # any fraction of a unit rounds up
        (1_999, 500, 1),
        (2_000, 500, 1),
        (2_001, 500, 2),
        (123, 0, 0),
        (123, RATE_DENOM, 123),  # 100%: never more than the amount
        (10**30, 1, 10**24),
    ],
)
def test_fee_rounds_up(amount, rate, fee):
    assert fee_for(amount, rate) == fee


@given(st.integers(0, 2**63), st.integers(0, RATE_DENOM))
def test_fee_bounds(amount, rate):
    fee = fee_for(amount, rate)
    assert 0 <= fee <= amount
    # smallest fee that is not below the exact one
    assert fee * RATE_DENOM >= amount * rate
    assert (fee - 1) * RATE_DENOM < amount * rate or fee == 0


def test_schedule_defaults_and_overrides():
    fs = FeeSchedule(maker=100, taker=500)
    assert fs.rates(100) == (100, 500)
    fs.set_account(100, 0, None)
    assert fs.rates(100) == (0, 500)
    fs.set_account(100, None, 200)
    assert fs.rates(100) == (0, 200)
    assert fs.rates(101) == (100, 500)
    fs.set_account(100, None, None)
    assert fs.rates(100) == (100, 500)
    assert 100 not in fs.overrides


def test_zero_override_is_kept():
    fs = FeeSchedule(maker=100, taker=500)
    fs.set_account(7, 0, 0)
    assert fs.rates(7) == (0, 0)


@pytest.mark.parametrize(("maker", "taker"), [(-1, 0), (0, RATE_DENOM + 1)])
def test_schedule_refuses_bad_rates(maker, taker):
    fs = FeeSchedule()
    with pytest.raises(InvalidParameter):
        fs.set_account(100, maker, taker)
    assert fs.overrides == {}
