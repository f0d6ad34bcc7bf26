"""Trading symbols: a base and a quote asset, precisions and order limits.

Prices are integers in units of 10**-price_scale quote per base; quantities are integers in
units of 10**-qty_scale base. The ledger works in each asset's own scale, so a symbol carries
two exact multipliers:

* ``base_mult``: ledger units of base per quantity unit (10**(base.scale - qty_scale));
* ``notional_mult``: ledger units of quote per (price unit x quantity unit)
  (10**(quote.scale - price_scale - qty_scale)).

A symbol is only valid when both are integers, so every fill converts exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bourse.domain.errors import InvalidParameter
from bourse.domain.money import Asset, pow10


@dataclass(frozen=True, slots=True)
class Symbol:
    name: str
    base: Asset
    quote: Asset
    price_scale: int
    qty_scale: int
    min_qty: int  # quantity units
    max_qty: int  # quantity units
    min_notional: int  # quote ledger units
    max_notional: int  # quote ledger units
    trading: bool = True
    order_types: tuple[str, ...] = (
        "LIMIT",
        "MARKET",
        "LIMIT_MAKER",
        "IMMEDIATE_OR_CANCEL",
        "FILL_OR_KILL",
    )
    base_mult: int = field(init=False)
    notional_mult: int = field(init=False)

    def __post_init__(self) -> None:
        if self.base.scale < self.qty_scale:
            raise InvalidParameter(f"{self.name}: base scale must be >= quantity scale")
        if self.quote.scale < self.price_scale + self.qty_scale:
            raise InvalidParameter(f"{self.name}: quote scale must be >= price + quantity scale")
        object.__setattr__(self, "base_mult", pow10(self.base.scale - self.qty_scale))
        object.__setattr__(
            self, "notional_mult", pow10(self.quote.scale - self.price_scale - self.qty_scale)
        )

    def notional(self, price: int, qty: int) -> int:
        """Quote ledger units for ``qty`` at ``price`` (exact)."""
        return price * qty * self.notional_mult

    def base_units(self, qty: int) -> int:
        """Base ledger units for ``qty`` quantity units (exact)."""
        return qty * self.base_mult
