"""Dust conversion to MX (``capital/convert``): the rules, as MEXC publishes them.

An account may convert its whole available balance of an asset worth less than 5 USDT
(``domain.mx``: through ``ASSETUSDT``, USDT itself at 1) into MX, up to 15 assets in one request
and 10 conversions in 24 hours. MX itself is not converted; an asset without a USDT price cannot
be valued and is not converted either.

The prices are each symbol's last price and its reference price (``domain.reference_price``),
the end of the band between them that favours the platform: the dust at the lower, MX at the
higher, so the MX paid is never worth more than the dust at either price; the 5 USDT cap is
checked at the higher. A pair whose last price strays from its reference (a price walked with
self-arranged trades, or a real crash) values nothing until it settles (``UNSETTLED``).

The dust desk (a system account, ``DUST_DESK``) takes the dust and pays the MX; MEXC's fee of
0.2 % of that MX goes to fee revenue. The MX is the asset's value rounded down to the MX unit
(the platform never pays more than the value) and the fee is rounded up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bourse.domain.money import Asset
from bourse.domain.mx import MX, USDT, mx_rate, pairs, usdt_rate
from bourse.domain.reference_price import Prices, Reference, prices
from bourse.domain.symbols import Symbol

#: MEXC's fee on the MX a conversion pays, parts per million (0.2 %)
DUST_FEE_PPM = 2_000
PPM = 1_000_000
#: an asset converts only when worth less than this many USDT
MAX_VALUE_USDT = 5
#: assets in one request, and conversions per account in 24 hours
MAX_ASSETS = 15
MAX_PER_DAY = 10
DAY_MS = 86_400_000

#: why an asset does not convert: (MEXC-style code, message)
NOT_CONVERTIBLE = ("30039", "MX cannot be converted")
NO_PRICE = ("30040", "no price for this asset")
TOO_LARGE = ("30041", f"the asset is worth {MAX_VALUE_USDT} USDT or more")
TOO_SMALL = ("30042", "the amount is worth less than one MX unit")
NO_BALANCE = ("30043", "no available balance")
UNSETTLED = ("30044", "the last price is too far from the reference price")


@dataclass(frozen=True, slots=True)
class DustQuote:
    """What converting ``amount`` of ``asset`` gives, or why it cannot (``refusal``)."""

    asset: str
    amount: int
    usdt: int  # the value in USDT ledger units at the low prices, rounded down (0: no price)
    mx: int  # MX before the fee, rounded down
    fee: int  # MX, rounded up
    refusal: tuple[str, str] | None = None

    @property
    def net(self) -> int:
        return self.mx - self.fee


def dust_prices(
    assets: Iterable[str], refs: Mapping[str, Reference], last: Mapping[str, int], now: int
) -> Prices:
    """The price bands that value ``assets`` at ``now`` (``reference_price.prices``)."""
    return prices(refs, last, now, {name for asset in assets for name in pairs(asset)})


def unsettled(asset: str, bands: Prices) -> list[str]:
    """The pairs valuing ``asset`` whose last price strays from their reference."""
    return [name for name in pairs(asset) if name in bands.unsettled]


def quote(
    asset: str,
    amount: int,
    symbols: Mapping[str, Symbol],
    bands: Prices,
    assets: Mapping[str, Asset],
) -> DustQuote:
    """Value ``amount`` of ``asset`` for conversion: the dust at the low ends of ``bands``, MX
    at the high end (``dust_prices``)."""
    if asset == MX:
        return DustQuote(asset, amount, 0, 0, 0, NOT_CONVERTIBLE)
    if amount <= 0:
        return DustQuote(asset, amount, 0, 0, 0, NO_BALANCE)
    to_usdt = usdt_rate(asset, symbols, bands.low)
    at_most = usdt_rate(asset, symbols, bands.high)
    to_mx = mx_rate(asset, symbols, bands.low, bands.high)
    if to_usdt is None or at_most is None or to_mx is None:
        return DustQuote(asset, amount, 0, 0, 0, NO_PRICE)
    if unsettled(asset, bands):
        return DustQuote(asset, amount, 0, 0, 0, UNSETTLED)
    usdt = amount * to_usdt[0] // to_usdt[1]
    mx = amount * to_mx[0] // to_mx[1]
    fee = -(-mx * DUST_FEE_PPM // PPM)
    limit = MAX_VALUE_USDT * 10 ** assets[USDT].scale
    if amount * at_most[0] >= limit * at_most[1]:
        return DustQuote(asset, amount, usdt, mx, fee, TOO_LARGE)
    if mx <= fee:
        return DustQuote(asset, amount, usdt, mx, fee, TOO_SMALL)
    return DustQuote(asset, amount, usdt, mx, fee)


@dataclass(frozen=True, slots=True)
class DustConversion:
    """One conversion: the assets converted and not, and what each converted one gave."""

    id: int  # 0 when nothing converted (nothing was recorded)
    time: int
    converted: tuple[DustQuote, ...]
    failed: tuple[str, ...]

    @property
    def total(self) -> int:
        return sum(q.net for q in self.converted)

    @property
    def fee(self) -> int:
        return sum(q.fee for q in self.converted)
