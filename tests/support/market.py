"""Helpers of the domain tests: an Exchange with the default listings and terse helpers."""

from __future__ import annotations

from typing import Any

from bourse.domain.accounts import CHAIN_CLEARING
from bourse.domain.fees import FeeSchedule
from bourse.domain.ledger import AVAILABLE
from bourse.domain.matching import Exchange
from bourse.domain.money import to_units
from bourse.domain.orders import OrderRequest, OrderType, StpMode
from bourse.domain.symbols import Symbol
from bourse.sandbox.listings import SYMBOLS

A, B, C = 100, 101, 102  # customer accounts


class Market:
    """An Exchange plus terse helpers speaking human amounts ("30000", "0.5")."""

    def __init__(self, ex: Exchange) -> None:
        self.ex = ex
        self.ledger = ex.ledger
        self.now = 1

    def sym(self, name: str = "BTCUSDT") -> Symbol:
        return self.ex.symbols[name]

    def fund(self, account: int, asset: str, amount: str) -> None:
        units = to_units(amount, 8)
        self.ledger.post(CHAIN_CLEARING, AVAILABLE, account, AVAILABLE, asset, units, "deposit")

    def price(self, value: str, symbol: str = "BTCUSDT") -> int:
        return to_units(value, self.sym(symbol).price_scale)

    def qty(self, value: str, symbol: str = "BTCUSDT") -> int:
        return to_units(value, self.sym(symbol).qty_scale)

    def req(
        self,
        account: int,
        side: int,
        type: OrderType = OrderType.LIMIT,
        price: str = "0",
        qty: str = "0",
        quote: str = "0",
        symbol: str = "BTCUSDT",
        stp: StpMode | None = None,
        client_id: str = "",
    ) -> OrderRequest:
        s = self.sym(symbol)
        return OrderRequest(
            account,
            symbol,
            side,
            type,
            qty=to_units(qty, s.qty_scale),
            price=to_units(price, s.price_scale),
            quote_qty=to_units(quote, s.quote.scale),
            client_id=client_id,
            stp=stp,
        )

    def place(self, *args: Any, **kwargs: Any) -> Any:
        self.now += 1
        return self.ex.place(self.req(*args, **kwargs), self.now)

    def bal(self, account: int, asset: str) -> tuple[int, int]:
        return self.ledger.available(account, asset), self.ledger.locked(account, asset)

    def u(self, amount: str) -> int:
        """Ledger units of an 8-decimal asset."""
        return to_units(amount, 8)


def new_market(**kwargs: Any) -> Market:
    kwargs.setdefault("fees", FeeSchedule(maker=0, taker=0))
    ex = Exchange(**kwargs)
    for s in SYMBOLS:
        ex.add_symbol(s)
    return Market(ex)
