"""MX, the platform token: what an asset is worth in MX at given prices.

Two rules use it: trading fees paid in MX at a discount (``mxDeduct``: the fee's value, 20 % off,
in MX) and dust conversion to MX (``capital/convert``). An asset is valued through USDT, as MEXC
values small balances: ``ASSET -> USDT`` at an ``ASSETUSDT`` price (USDT itself is worth 1), then
``USDT -> MX`` at an ``MXUSDT`` price. Without both prices there is no value (``None``) and the
caller falls back (a normal fee) or refuses (no conversion). The callers pass each end of a band
between the last price and the reference price (``domain.reference_price``), whichever favours
the platform, so that a price an account walked with its own trades sets no value.

A value is an exact fraction ``(numerator, denominator)`` of MX ledger units per ledger unit of
the asset; callers round once, at the end, in the platform's favour.
"""

from __future__ import annotations

from collections.abc import Mapping

from bourse.domain.symbols import Symbol

MX = "MX"
USDT = "USDT"
MX_SYMBOL = MX + USDT

#: an MX-paid fee is this share of the fee's value (MEXC: 20 % off), parts per million
MX_FEE_SHARE_PPM = 800_000
PPM = 1_000_000

#: MX ledger units per ledger unit of an asset, as an exact fraction
Rate = tuple[int, int]


def pairs(asset: str) -> tuple[str, ...]:
    """The symbols whose prices value ``asset`` in MX."""
    if asset == MX:
        return ()
    if asset == USDT:
        return (MX_SYMBOL,)
    return (asset + USDT, MX_SYMBOL)


def usdt_rate(asset: str, symbols: Mapping[str, Symbol], last: Mapping[str, int]) -> Rate | None:
    """USDT ledger units per ledger unit of ``asset`` at its ``ASSETUSDT`` price in ``last``."""
    if asset == USDT:
        return 1, 1
    sym = symbols.get(asset + USDT)
    price = last.get(asset + USDT)
    if sym is None or not price:
        return None
    # one quantity unit (base_mult ledger units of base) costs price x notional_mult of quote
    return price * sym.notional_mult, sym.base_mult


def mx_rate(
    asset: str,
    symbols: Mapping[str, Symbol],
    last: Mapping[str, int],
    mx_last: Mapping[str, int] | None = None,
) -> Rate | None:
    """MX ledger units per ledger unit of ``asset``, the asset at its price in ``last`` and MX
    at its price in ``mx_last`` (default: ``last`` too); ``None``: no price."""
    if asset == MX:
        return 1, 1
    to_usdt = usdt_rate(asset, symbols, last)
    mx_usdt = usdt_rate(MX, symbols, last if mx_last is None else mx_last)
    if to_usdt is None or mx_usdt is None:
        return None
    return to_usdt[0] * mx_usdt[1], to_usdt[1] * mx_usdt[0]


def mx_fee(value: Rate, rate: Rate) -> int:
    """The MX fee for a fee worth ``value`` (an exact fraction of ledger units of the asset
    ``rate`` prices): ``MX_FEE_SHARE_PPM`` of it in MX, rounded up to the next MX unit."""
    num = value[0] * rate[0] * MX_FEE_SHARE_PPM
    den = value[1] * rate[1] * PPM
    return -(-num // den)
