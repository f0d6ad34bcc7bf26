"""PERCENT_PRICE_BY_SIDE: priced buys up to 5x the last price, priced sells down to 0.2x."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bourse.domain.errors import PriceOutOfBand
from bourse.domain.orders import BUY, SELL
from bourse.domain.price_band import check_price_band


def test_bounds_are_inclusive() -> None:
    check_price_band(BUY, 500, 100)
    check_price_band(SELL, 20, 100)
    with pytest.raises(PriceOutOfBand):
        check_price_band(BUY, 501, 100)
    with pytest.raises(PriceOutOfBand):
        check_price_band(SELL, 19, 100)


@given(st.integers(1, 10**18), st.sampled_from([BUY, SELL]))
def test_no_last_price_no_band(price: int, side: int) -> None:
    check_price_band(side, price, None)


@given(st.integers(1, 10**15), st.integers(1, 10**15))
def test_exact_integer_band(price: int, last: int) -> None:
    for side, ok in ((BUY, price <= 5 * last), (SELL, 5 * price >= last)):
        if ok:
            check_price_band(side, price, last)
        else:
            with pytest.raises(PriceOutOfBand):
                check_price_band(side, price, last)
