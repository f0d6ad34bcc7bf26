"""Stateless checks of an order request against its symbol: the first stage of placing an order.

Nothing here looks at balances or the book; a request that passes can still be refused later
(funds, post-only, open-order cap), but never for a reason found here.
"""

from __future__ import annotations

from typing import Final, cast

from bourse.domain.errors import (
    AboveMaxNotional,
    AboveMaxQuantity,
    BelowMinNotional,
    BelowMinQuantity,
    InvalidParameter,
    MissingParameter,
    OrderTypeNotAllowed,
    SymbolNotTrading,
    UnknownSymbol,
)
from bourse.domain.money import format_units
from bourse.domain.orders import BUY, SELL, OrderRequest, OrderType
from bourse.domain.symbols import Symbol

#: order types that carry a limit price and a quantity
PRICED = frozenset(
    {
        OrderType.LIMIT,
        OrderType.LIMIT_MAKER,
        OrderType.IMMEDIATE_OR_CANCEL,
        OrderType.FILL_OR_KILL,
    }
)
_MARKET: Final = OrderType.MARKET
#: a Symbol's default ``order_types`` (the same tuple object): every type allowed
ALL_TYPES = Symbol.__dataclass_fields__["order_types"].default
_ALL_TYPES: Final = ALL_TYPES
_SIDES: Final = (BUY, SELL)


def find_symbol(symbols: dict[str, Symbol], name: str) -> Symbol:
    sym = symbols.get(name)
    if sym is None:
        raise UnknownSymbol(f"invalid symbol {name!r}")
    return sym


def validate(symbols: dict[str, Symbol], req: OrderRequest) -> Symbol:
    """All stateless checks of an order request; raises on the first problem."""
    sym = find_symbol(symbols, req.symbol)
    if not sym.trading:
        raise SymbolNotTrading(f"trading is suspended for {sym.name}")
    rtype: object = req.type  # may be a plain string (see ``admit``)
    if rtype not in sym.order_types:
        raise OrderTypeNotAllowed(f"order type {rtype} is not allowed for {sym.name}")
    if req.side not in _SIDES:
        raise InvalidParameter("side must be BUY or SELL")
    if rtype in PRICED:
        # missing parameters are refused on the wire (44444); here a value sent as 0
        if req.qty <= 0:
            raise BelowMinQuantity("quantity must be greater than 0")
        if req.price <= 0:
            raise InvalidParameter("price must be greater than 0")
        if req.quote_qty:
            raise InvalidParameter("quoteOrderQty is only allowed for MARKET orders")
        check_qty(sym, req.qty)
        check_notional(sym, sym.notional(req.price, req.qty))
    else:
        if req.price:
            raise InvalidParameter("price is not allowed for MARKET orders")
        if (req.qty > 0) == (req.quote_qty > 0):
            raise MissingParameter("MARKET orders need exactly one of quantity or quoteOrderQty")
        if req.qty:
            check_qty(sym, req.qty)
        else:
            check_notional(sym, req.quote_qty)
    return sym


def check_qty(sym: Symbol, qty: int) -> None:
    if qty < sym.min_qty:
        raise BelowMinQuantity(
            f"quantity is below the minimum {format_units(sym.min_qty, sym.qty_scale)}"
        )
    if qty > sym.max_qty:
        raise AboveMaxQuantity(
            f"quantity is above the maximum {format_units(sym.max_qty, sym.qty_scale)}"
        )


def check_notional(sym: Symbol, notional: int) -> None:
    if notional < sym.min_notional:
        minimum = format_units(sym.min_notional, sym.quote.scale) + sym.quote.code
        raise BelowMinNotional(f"order value is below the minimum {minimum}", minimum=minimum)
    if notional > sym.max_notional:
        maximum = format_units(sym.max_notional, sym.quote.scale) + sym.quote.code
        raise AboveMaxNotional(f"order value is above the maximum {maximum}", maximum=maximum)


def admit(symbols: dict[str, Symbol], req: OrderRequest) -> tuple[Symbol, OrderType]:
    """The request's symbol and order type, or the error ``validate`` raises.

    The common case, a valid priced order with an ``OrderType`` member, is decided by one
    expression; anything else goes through ``validate``, which raises exactly the error it
    always raised (or accepts a MARKET order). A plain string type is checked, then converted.
    """
    sym = symbols.get(req.symbol)
    # an ``object`` first: compiled code would refuse a plain string read into an ``OrderType``
    rtype: object = req.type
    if rtype.__class__ is not OrderType:
        validate(symbols, req)
        try:
            otype = OrderType(rtype)  # type: ignore[arg-type]  # whatever was sent
        except ValueError:
            raise OrderTypeNotAllowed(f"order type {rtype} is not supported") from None
    else:
        otype = cast(OrderType, rtype)
    qty = req.qty
    price = req.price
    if (
        sym is None
        or otype is _MARKET
        or qty <= 0
        or price <= 0
        or req.quote_qty
        or not sym.trading
        or req.side not in _SIDES
        or qty < sym.min_qty
        or qty > sym.max_qty
        or (sym.order_types is not _ALL_TYPES and otype not in sym.order_types)
    ):
        return validate(symbols, req), otype
    notional = price * qty * sym.notional_mult
    if notional < sym.min_notional or notional > sym.max_notional:
        return validate(symbols, req), otype
    return sym, otype
