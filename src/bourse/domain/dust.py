"""Dust conversion to MX (``capital/convert``): the rules, as MEXC publishes them.

An account may convert its whole available balance of an asset worth less than 5 USDT at the
last prices (``domain.mx``: through ``ASSETUSDT``, USDT itself at 1) into MX, up to 15 assets in
one request and 10 conversions in 24 hours. MX itself is not converted; an asset without a USDT
price cannot be valued and is not converted either.

The dust desk (a system account, ``DUST_DESK``) takes the dust and pays the MX; MEXC's fee of
0.2 % of that MX goes to fee revenue. The MX is the asset's value rounded down to the MX unit
(the platform never pays more than the value) and the fee is rounded up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bourse.domain.money import Asset
from bourse.domain.mx import MX, USDT, mx_rate, usdt_rate
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


@dataclass(frozen=True, slots=True)
class DustQuote:
    """What converting ``amount`` of ``asset`` gives, or why it cannot (``refusal``)."""

    asset: str
    amount: int
    usdt: int  # the value in USDT ledger units, rounded down (0 without a price)
    mx: int  # MX before the fee, rounded down
    fee: int  # MX, rounded up
    refusal: tuple[str, str] | None = None

    @property
    def net(self) -> int:
        return self.mx - self.fee


def quote(
    asset: str,
    amount: int,
    symbols: Mapping[str, Symbol],
    last: Mapping[str, int],
    assets: Mapping[str, Asset],
) -> DustQuote:
    """Value ``amount`` of ``asset`` for conversion at the last prices."""
    if asset == MX:
        return DustQuote(asset, amount, 0, 0, 0, NOT_CONVERTIBLE)
    if amount <= 0:
        return DustQuote(asset, amount, 0, 0, 0, NO_BALANCE)
    to_usdt = usdt_rate(asset, symbols, last)
    to_mx = mx_rate(asset, symbols, last)
    if to_usdt is None or to_mx is None:
        return DustQuote(asset, amount, 0, 0, 0, NO_PRICE)
    usdt = amount * to_usdt[0] // to_usdt[1]
    mx = amount * to_mx[0] // to_mx[1]
    fee = -(-mx * DUST_FEE_PPM // PPM)
    limit = MAX_VALUE_USDT * 10 ** assets[USDT].scale
    if amount * to_usdt[0] >= limit * to_usdt[1]:
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
