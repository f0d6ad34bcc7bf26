"""MEXC's ``PERCENT_PRICE_BY_SIDE`` filter: how far a priced order may stray from the last trade.

A priced buy (LIMIT, LIMIT_MAKER, IOC, FOK) may bid at most ``last x bidMultiplierUp``; a priced
sell may ask no less than ``last x askMultiplierDown``. Without a last trade there is no band.
The multipliers are MEXC's documented ones, in parts per million so the check stays integer.
"""

from __future__ import annotations

from bourse.domain.errors import PriceOutOfBand
from bourse.domain.orders import BUY

PPM = 1_000_000
#: bids up to 5 x the last price
BID_MULTIPLIER_UP_PPM = 5 * PPM
#: asks down to 0.2 x the last price
ASK_MULTIPLIER_DOWN_PPM = PPM // 5


def check_price_band(side: int, price: int, last: int | None) -> None:
    """Raise ``PriceOutOfBand`` when ``price`` (price units) is outside the band around ``last``."""
    if last is None or last <= 0 or price <= 0:
        return  # a price that is not positive is refused by the order's own validation
    if side == BUY:
        if price * PPM > last * BID_MULTIPLIER_UP_PPM:
            raise PriceOutOfBand("the buy price is too far above the last price")
    elif price * PPM < last * ASK_MULTIPLIER_DOWN_PPM:
        raise PriceOutOfBand("the sell price is too far below the last price")
