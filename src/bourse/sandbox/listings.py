"""The default assets and symbols of a new exchange (and of the demo market).

Ledger scales are chosen so every symbol converts exactly (quote scale >= price + quantity
scale): USDT at 8 decimals covers BTCUSDT (2 + 6), ETHUSDT (2 + 5) and MXUSDT (4 + 2).
"""

from __future__ import annotations

from bourse.domain.money import Asset, to_units
from bourse.domain.symbols import Symbol

USDT = Asset("USDT", 8, "Tether USD")
BTC = Asset("BTC", 8, "Bitcoin")
ETH = Asset("ETH", 8, "Ethereum")
MX = Asset("MX", 8, "MX Token")

ASSETS = (USDT, BTC, ETH, MX)


def _symbol(
    base: Asset, quote: Asset, price_scale: int, qty_scale: int, min_qty: str, max_qty: str
) -> Symbol:
    return Symbol(
        name=base.code + quote.code,
        base=base,
        quote=quote,
        price_scale=price_scale,
        qty_scale=qty_scale,
        min_qty=to_units(min_qty, qty_scale),
        max_qty=to_units(max_qty, qty_scale),
        min_notional=to_units("1", quote.scale),
        max_notional=to_units("5000000", quote.scale),
    )


SYMBOLS = (
    _symbol(BTC, USDT, 2, 6, "0.000001", "1000"),
    _symbol(ETH, USDT, 2, 5, "0.00001", "10000"),
    _symbol(MX, USDT, 4, 2, "0.01", "10000000"),
)
