"""The reference price (``domain.reference_price``) and the valuations that use it: a burst of
trades moves the reference by at most the share of ``AVERAGING_MS`` it lasted, a price that
stands replaces it, the arithmetic is integer and loses no slow move, and dust conversion and
MX fees take the end of the band between the last price and the reference that favours the
platform, refusing (dust) or falling back to the usual fee (MX) when the two are far apart."""

from __future__ import annotations

import math
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from bourse.domain.accounts import CHAIN_CLEARING
from bourse.domain.dust import TOO_LARGE, TOO_SMALL, UNSETTLED, dust_prices, quote
from bourse.domain.fees import RATE_DENOM
from bourse.domain.ledger import AVAILABLE
from bourse.domain.matching import Exchange
from bourse.domain.matching.settlement import pay_fee_in_mx
from bourse.domain.orders import Trade
from bourse.domain.reference_price import (
    AVERAGING_MS,
    MAX_DEVIATION_PPM,
    SCALE,
    Reference,
    fold,
    prices,
    settled,
    start,
    value_at,
)
from bourse.sandbox.listings import ASSETS, SYMBOLS

SYMS = {s.name: s for s in SYMBOLS}
ASSET = {a.code: a for a in ASSETS}
T0 = 1_700_000_000_000
MX_PRICE = 25_000  # 2.5 USDT in MXUSDT price units


def trade(price: int, time: int, symbol: str = "MXUSDT", tid: int = 1) -> Trade:
    return Trade(tid, symbol, price, 1, 1, 1, 2, 100, 101, 1, 0, 0, None, None, time, "", "")


def settled_at(price: int) -> dict[str, Reference]:
    """MXUSDT's reference after ``price`` stood for ``AVERAGING_MS`` (as of ``T0``)."""
    return {"MXUSDT": start(price, T0 - AVERAGING_MS)}


# --- the reference -------------------------------------------------------------------------------
def test_the_first_trade_starts_it_and_a_standing_price_replaces_it() -> None:
    refs: dict[str, Reference] = {}
    assert fold(refs, [trade(MX_PRICE, T0)]) == {
        "MXUSDT": Reference(MX_PRICE * SCALE, 25_000, T0, T0)
    }
    fold(refs, [trade(30_000, T0 + 1_000)])  # 2.5 stood 1 s: no visible move yet
    assert refs["MXUSDT"] == Reference(MX_PRICE * SCALE, 30_000, T0 + 1_000, T0)
    # 3.0 stands: half of AVERAGING_MS takes the reference half way, all of it the whole way
    assert value_at(refs["MXUSDT"], T0 + 1_000 + AVERAGING_MS // 2) == 27_500 * SCALE
    assert value_at(refs["MXUSDT"], T0 + 1_000 + AVERAGING_MS) == 30_000 * SCALE
    assert value_at(refs["MXUSDT"], T0 + 10**9) == 30_000 * SCALE


def test_the_attack_walk_barely_moves_it() -> None:
    """The attacker pass: 7 trades 5 ms apart, 2.5 down to 0.0001 (0.2 x each time)."""
    refs = settled_at(MX_PRICE)
    walk = [5_000, 1_000, 200, 40, 8, 2, 1]
    fold(refs, [trade(p, T0 + 5 * (i + 1), tid=i) for i, p in enumerate(walk)])
    ref = refs["MXUSDT"]
    assert ref.last == 1
    assert value_at(ref, T0 + 40) > 24_990 * SCALE  # 40 ms of 300 s: under 0.02 % of the way
    # the market maker restores the price 3 s later: 1 % of the way
    assert 24_740 * SCALE < value_at(ref, T0 + 3_040) < 24_760 * SCALE


@given(
    st.integers(1, 10**9),
    st.lists(st.tuples(st.integers(0, AVERAGING_MS), st.integers(1, 10**9)), max_size=30),
)
def test_a_price_moves_it_at_most_by_the_share_of_time_it_stood(
    ref_price: int, steps: list[tuple[int, int]]
) -> None:
    """Whatever the trades, the reference stays between the lowest and highest price that
    stood, and moves toward any price by at most the share of ``AVERAGING_MS`` it stood."""
    refs = settled_at(ref_price)
    t, trades = T0, []
    for i, (dt, price) in enumerate(steps):
        t += dt
        trades.append(trade(price, t, tid=i))
    fold(refs, trades)
    ref = refs["MXUSDT"]
    stood = [ref_price] + [p for _, p in steps]
    assert min(stood) * SCALE <= ref.value <= max(stood) * SCALE
    # the reference moved at most (time the other prices stood) / AVERAGING_MS of the spread
    moved = Fraction(abs(ref.value - ref_price * SCALE), SCALE)
    other_time = min(t - T0, AVERAGING_MS)
    assert moved <= Fraction(max(stood) - min(stood)) * Fraction(other_time, AVERAGING_MS) + 1


@given(st.lists(st.tuples(st.integers(0, 5_000), st.integers(1, 10**6)), max_size=40))
def test_reading_is_folding_and_folding_again_changes_nothing(
    steps: list[tuple[int, int]],
) -> None:
    refs = settled_at(MX_PRICE)
    t, trades = T0, []
    for i, (dt, price) in enumerate(steps):
        t += dt
        trades.append(trade(price, t, tid=i))
    fold(refs, trades)
    after = dict(refs)
    fold(refs, trades)  # a follower that sees a batch its snapshot already had
    assert refs == after
    # reading at a time is folding a trade at that time at the standing price
    ref = refs["MXUSDT"]
    read = value_at(ref, t + 1_234)
    fold(refs, [trade(ref.last, t + 1_234)])
    assert refs["MXUSDT"].value == read


def test_slow_moves_over_frequent_trades_are_not_rounded_away() -> None:
    """A price one unit above the reference, traded every millisecond for a minute: the
    reference follows (the billionths of a unit keep what whole units would round off)."""
    refs = settled_at(MX_PRICE)
    fold(refs, [trade(MX_PRICE + 1, T0 + i, tid=i) for i in range(60_001)])
    moved = Fraction(refs["MXUSDT"].value - MX_PRICE * SCALE, SCALE)
    assert Fraction(1811, 10_000) < moved < Fraction(1813, 10_000)  # 1 - e^-0.2 = 0.18127


def test_a_clock_that_goes_back_moves_nothing() -> None:
    refs = settled_at(MX_PRICE)
    fold(refs, [trade(30_000, T0), trade(20_000, T0 - 60_000)])
    assert refs["MXUSDT"] == Reference(MX_PRICE * SCALE, 20_000, T0, T0 - AVERAGING_MS)


def test_the_band_and_its_bound() -> None:
    refs = settled_at(MX_PRICE)
    limit = MX_PRICE * MAX_DEVIATION_PPM // 1_000_000  # 10 %: 0.25 USDT
    p = prices(refs, {"MXUSDT": MX_PRICE + limit, "BTCUSDT": 1}, T0, ["MXUSDT", "BTCUSDT"])
    assert (p.low, p.high, p.unsettled) == ({"MXUSDT": 25_000}, {"MXUSDT": 27_500}, frozenset())
    p = prices(refs, {"MXUSDT": MX_PRICE - limit - 1}, T0, ["MXUSDT"])
    assert (p.low, p.high, p.unsettled) == ({"MXUSDT": 22_499}, {"MXUSDT": 25_000}, {"MXUSDT"})
    # a fraction of a unit rounds down at the low end, up at the high end
    refs["MXUSDT"] = Reference(MX_PRICE * SCALE + 1, MX_PRICE, T0, 0)
    p = prices(refs, {"MXUSDT": MX_PRICE}, T0, ["MXUSDT"])
    assert (p.low["MXUSDT"], p.high["MXUSDT"]) == (25_000, 25_001)


def test_a_reference_without_history_is_unsettled() -> None:
    """Whoever makes a pair's first trade sets its reference: it counts only ``AVERAGING_MS``
    after that trade, whatever traded since (here the same price, so it never strays)."""
    refs: dict[str, Reference] = {}
    fold(refs, [trade(MX_PRICE, T0)])
    fold(refs, [trade(MX_PRICE, T0 + AVERAGING_MS - 2, tid=2)])
    assert refs["MXUSDT"].since == T0
    last = {"MXUSDT": MX_PRICE}
    for now in (T0, T0 + AVERAGING_MS - 1):
        p = prices(refs, last, now, ["MXUSDT"])
        assert (p.low, p.high, p.unsettled) == (last, last, {"MXUSDT"})
        assert not settled(refs["MXUSDT"], now)
    assert prices(refs, last, T0 + AVERAGING_MS, ["MXUSDT"]).unsettled == frozenset()
    # a reference from before ``since`` was kept (0) came from real trades: settled
    assert settled(Reference(MX_PRICE * SCALE, MX_PRICE, T0, 0), T0)


# --- dust ----------------------------------------------------------------------------------------
def usdt_value(asset: str, amount: int, price: int) -> Fraction:
    """``amount`` ledger units of ``asset`` in USDT ledger units at ``price`` (its USDT pair)."""
    if asset == "USDT":
        return Fraction(amount)
    s = SYMS[asset + "USDT"]
    return Fraction(amount * price * s.notional_mult, s.base_mult)


def mx_units(usdt: Fraction, mx_price: int) -> Fraction:
    s = SYMS["MXUSDT"]
    return usdt * s.base_mult / (mx_price * s.notional_mult)


def test_dust_is_refused_on_a_walked_mx_price_and_paid_at_the_reference() -> None:
    refs = settled_at(MX_PRICE)
    usdt = 499_000_000  # 4.99 USDT
    walked = dust_prices(["USDT"], refs, {"MXUSDT": 1}, T0)
    assert quote("USDT", usdt, SYMS, walked, ASSET).refusal == UNSETTLED
    # MX 5 % below its reference: valued at the reference, 4.99 / 2.5 = 1.996 MX
    lower = dust_prices(["USDT"], refs, {"MXUSDT": 23_750}, T0)
    q = quote("USDT", usdt, SYMS, lower, ASSET)
    assert (q.refusal, q.mx, q.fee) == (None, 199_600_000, 399_200)


@given(
    st.sampled_from(["USDT", "BTC", "ETH"]),
    st.integers(1, 10**12),
    st.integers(1, 10**8),
    st.integers(-150_000, 150_000),
    st.integers(1, 10**9),
    st.integers(-150_000, 150_000),
)
def test_dust_never_pays_more_than_its_value_at_either_price(
    asset: str, amount: int, mx_ref: int, mx_off: int, ref: int, off: int
) -> None:
    """The MX paid is worth at most the dust at the last prices and at the references, and the
    dust is worth under 5 USDT at both; a pair whose last price is more than 10 % from its
    reference refuses (``off``: how far the last price is, in parts per million)."""
    pair = asset + "USDT"
    mx_last = max(1, mx_ref + mx_ref * mx_off // 1_000_000)
    last = max(1, ref + ref * off // 1_000_000)
    refs = {"MXUSDT": start(mx_ref, T0 - AVERAGING_MS), pair: start(ref, T0 - AVERAGING_MS)}
    bands = dust_prices([asset], refs, {"MXUSDT": mx_last, pair: last}, T0)
    q = quote(asset, amount, SYMS, bands, ASSET)
    used = [(mx_last, mx_ref)] if asset == "USDT" else [(mx_last, mx_ref), (last, ref)]
    if any(abs(a - b) * 1_000_000 > b * MAX_DEVIATION_PPM for a, b in used):
        assert q.refusal == UNSETTLED
        return
    for dust_price, mx_price in ((last, mx_last), (ref, mx_ref)):
        assert q.mx <= mx_units(usdt_value(asset, amount, dust_price), mx_price)
    if q.refusal is None:
        assert all(usdt_value(asset, amount, p) < 5 * 10**8 for p in (last, ref))
    else:
        assert q.refusal in (TOO_LARGE, TOO_SMALL)


# --- MX fees -------------------------------------------------------------------------------------
def fee_exchange(mx_last: int) -> Exchange:
    """MXUSDT's reference at 2.5, its last price ``mx_last``; account 100 holds 100 MX."""
    ex = Exchange()
    for sym in SYMBOLS:
        ex.add_symbol(sym)
    ex.references.update(settled_at(MX_PRICE))
    ex.last_prices["MXUSDT"] = mx_last
    ex.ledger.post(CHAIN_CLEARING, AVAILABLE, 100, AVAILABLE, "MX", 100 * 10**8, "deposit")
    return ex


#: a 0.3 USDT fee (600 USDT at 0.05 %), as ``notional x rate``
FEE_VALUE = 600 * 10**8 * 500


def test_a_pushed_up_mx_price_does_not_shrink_the_fee() -> None:
    btc = SYMS["BTCUSDT"]
    # 80 % of 0.3 USDT at the reference 2.5: 0.096 MX
    at_ref = pay_fee_in_mx(fee_exchange(MX_PRICE), 100, "USDT", FEE_VALUE, btc, 1, 1, T0)
    assert at_ref == 9_600_000
    # MX last 8 % up: still priced at the reference, the lower end
    pushed = pay_fee_in_mx(fee_exchange(27_000), 100, "USDT", FEE_VALUE, btc, 1, 1, T0)
    assert pushed == at_ref
    # MX last 8 % down: priced at the last price, a larger fee
    lower = pay_fee_in_mx(fee_exchange(23_000), 100, "USDT", FEE_VALUE, btc, 1, 1, T0)
    assert lower == math.ceil(mx_units(Fraction(FEE_VALUE, RATE_DENOM) * Fraction(4, 5), 23_000))
    # walked 5x (the attacker's 39062.5 too): no MX fee, the account pays the usual one
    for walked in (125_000, 390_625_000, 1):
        ex = fee_exchange(walked)
        assert pay_fee_in_mx(ex, 100, "USDT", FEE_VALUE, btc, 1, 1, T0) == 0
        assert ex.ledger.available(100, "MX") == 100 * 10**8


def test_a_fill_on_mxusdt_is_priced_within_the_band() -> None:
    """The fill's own price is MXUSDT's last price for its fee: 10 % above the reference it is
    priced at the reference, further away the usual fee applies."""
    mx = SYMS["MXUSDT"]
    ex = fee_exchange(MX_PRICE)
    value = 10 * 10**8 * 500  # a 0.005 USDT fee
    assert pay_fee_in_mx(ex, 100, "USDT", value, mx, 27_500, 1, T0) == 160_000  # 0.004 / 2.5
    assert pay_fee_in_mx(ex, 100, "USDT", value, mx, 27_501, 1, T0) == 0
