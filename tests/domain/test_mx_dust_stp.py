"""The pure rules behind mxDeduct, dust conversion and STP groups: exact values and rounding in
the platform's favour (properties over random prices and amounts), and the group rules."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bourse.domain.dust import DUST_FEE_PPM, NO_PRICE, NOT_CONVERTIBLE, TOO_LARGE, quote
from bourse.domain.errors import StpGroupNotFound, StpGroupRefused
from bourse.domain.mx import MX_FEE_SHARE_PPM, mx_fee, mx_rate
from bourse.domain.reference_price import Prices
from bourse.domain.stp_groups import MAX_GROUPS, StpGroups
from bourse.sandbox.listings import ASSETS, SYMBOLS

SYMS = {s.name: s for s in SYMBOLS}
ASSET = {a.code: a for a in ASSETS}


def settled(last: dict[str, int]) -> Prices:
    """Prices that stood long enough to be their own reference (``domain.reference_price``)."""
    return Prices(dict(last), dict(last), frozenset())


def value(asset: str, amount: int, last: dict[str, int]) -> Fraction:
    """``amount`` ledger units of ``asset`` in MX ledger units, the long way, as a fraction."""

    def usdt(code: str, units: Fraction) -> Fraction:
        if code == "USDT":
            return units
        s = SYMS[code + "USDT"]
        # one ledger unit of base is worth price x 10^-price_scale USDT
        whole = units / 10**s.base.scale * Fraction(last[s.name], 10**s.price_scale)
        return whole * 10**s.quote.scale

    mx = SYMS["MXUSDT"]
    per_mx_unit = usdt("MX", Fraction(1))
    assert per_mx_unit == Fraction(last["MXUSDT"], 10**mx.price_scale)
    return usdt(asset, Fraction(amount)) / per_mx_unit


prices = st.fixed_dictionaries(
    {
        "MXUSDT": st.integers(1, 10**8),
        "BTCUSDT": st.integers(1, 10**9),
        "ETHUSDT": st.integers(1, 10**8),
    }
)


@given(prices, st.sampled_from(["USDT", "BTC", "ETH", "MX"]), st.integers(1, 10**15))
def test_mx_rate_is_the_exact_value(last: dict[str, int], asset: str, amount: int) -> None:
    rate = mx_rate(asset, SYMS, last)
    assert rate is not None
    got = Fraction(amount * rate[0], rate[1])
    assert got == (Fraction(amount) if asset == "MX" else value(asset, amount, last))


@given(prices, st.integers(1, 10**15), st.integers(0, 1_000_000))
def test_mx_fee_is_the_discounted_value_rounded_up(
    last: dict[str, int], notional: int, rate_ppm: int
) -> None:
    rate = mx_rate("USDT", SYMS, last)
    assert rate is not None
    fee = mx_fee((notional * rate_ppm, 1_000_000), rate)
    exact = (
        Fraction(notional * rate_ppm, 1_000_000)
        * Fraction(*rate)
        * Fraction(MX_FEE_SHARE_PPM, 1_000_000)
    )
    assert exact <= fee < exact + 1


def test_no_price_no_value() -> None:
    assert mx_rate("BTC", SYMS, {"MXUSDT": 25_000}) is None
    assert mx_rate("USDT", SYMS, {"BTCUSDT": 1}) is None
    assert mx_rate("MX", SYMS, {}) == (1, 1)


@given(prices, st.sampled_from(["USDT", "BTC", "ETH"]), st.integers(1, 10**12))
def test_dust_quote_pays_at_most_the_value(last: dict[str, int], asset: str, amount: int) -> None:
    q = quote(asset, amount, SYMS, settled(last), ASSET)
    exact = value(asset, amount, last)
    assert q.mx <= exact < q.mx + 1  # rounded down: never more than the value
    assert Fraction(q.mx * DUST_FEE_PPM, 1_000_000) <= q.fee  # the fee rounded up
    usdt = exact * Fraction(last["MXUSDT"], 10 ** SYMS["MXUSDT"].price_scale)
    if usdt >= 5 * 10**8:
        assert q.refusal == TOO_LARGE
    elif q.refusal is None:
        assert q.net == q.mx - q.fee > 0


def test_dust_refusals() -> None:
    bands = settled({"MXUSDT": 25_000})
    assert quote("MX", 1, SYMS, bands, ASSET).refusal == NOT_CONVERTIBLE
    assert quote("BTC", 1, SYMS, bands, ASSET).refusal == NO_PRICE
    assert quote("USDT", 5 * 10**8, SYMS, bands, ASSET).refusal == TOO_LARGE
    assert quote("USDT", 5 * 10**8 - 1, SYMS, bands, ASSET).refusal is None


def test_stp_group_rules() -> None:
    peers: dict[int, set[int]] = {}
    groups = StpGroups(peers)
    parent = {101: 100, 102: 100, 201: 200}.get
    g = groups.create(100, " desk ", 1)
    assert g.name == "desk"
    with pytest.raises(StpGroupRefused):
        groups.create(100, "desk", 2)
    groups.add(100, g.id, [100, 101], 3, parent)
    assert peers[101] is peers[100] == {100, 101}
    with pytest.raises(StpGroupRefused):
        groups.add(100, g.id, [102, 201], 4, parent)  # 201 is another master's
    assert 102 not in peers  # all or nothing
    other = groups.create(100, "other", 5)
    with pytest.raises(StpGroupRefused):
        groups.add(100, other.id, [101], 6, parent)  # already in "desk"
    with pytest.raises(StpGroupNotFound):
        groups.get(200, g.id)
    for i in range(MAX_GROUPS - 2):
        groups.create(100, f"g{i}", 7)
    with pytest.raises(StpGroupRefused):
        groups.create(100, "one too many", 8)
    groups.create(200, "another master", 9)  # the limit is per master
    groups.delete(100, g.id, 10)
    assert peers == {}
    groups.add(100, other.id, [101], 11, parent)
    assert peers == {101: {101}}
