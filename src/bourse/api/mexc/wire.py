"""Domain objects as MEXC JSON: symbols, orders, trades, balances, tickers, klines.

All amounts are formatted by ``bourse.domain.money.format_units`` from integer units (plain
decimal strings without trailing zeros). Order and trade ids are the engine's integer ids
written as decimal strings (MEXC's are opaque strings; clients treat them as such).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bourse.domain.fees import RATE_DENOM
from bourse.domain.money import format_units
from bourse.domain.orders import BUY, Order, OrderType
from bourse.domain.price_band import ASK_MULTIPLIER_DOWN_PPM, BID_MULTIPLIER_UP_PPM
from bourse.domain.symbols import Symbol

_TIF = {
    OrderType.LIMIT: "GTC",
    OrderType.LIMIT_MAKER: "GTC",
    OrderType.MARKET: "GTC",
    OrderType.IMMEDIATE_OR_CANCEL: "IOC",
    OrderType.FILL_OR_KILL: "FOK",
}
RATE_SCALE = 6  # ppm
assert 10**RATE_SCALE == RATE_DENOM
#: the one filter MEXC documents in exchangeInfo, with its documented multipliers: priced buys at
#: most lastPrice x bidMultiplierUp, priced sells at least lastPrice x askMultiplierDown
PERCENT_PRICE_BY_SIDE = {
    "filterType": "PERCENT_PRICE_BY_SIDE",
    "bidMultiplierUp": format_units(BID_MULTIPLIER_UP_PPM, 6),
    "askMultiplierDown": format_units(ASK_MULTIPLIER_DOWN_PPM, 6),
}


def rate(ppm: int) -> str:
    """A fee rate in ppm as a decimal fraction string ("0.0005")."""
    return format_units(ppm, RATE_SCALE)


def side(s: int) -> str:
    return "BUY" if s == BUY else "SELL"


def symbol_info(sym: Symbol, maker_ppm: int, taker_ppm: int) -> dict[str, Any]:
    """One ``exchangeInfo`` symbol (current MEXC fields; see the reference, section 2.5)."""
    min_notional = format_units(sym.min_notional, sym.quote.scale)
    max_notional = format_units(sym.max_notional, sym.quote.scale)
    return {
        "symbol": sym.name,
        "status": "1" if sym.trading else "2",
        "baseAsset": sym.base.code,
        "baseAssetPrecision": sym.qty_scale,
        "quoteAsset": sym.quote.code,
        "quotePrecision": sym.price_scale,
        "quoteAssetPrecision": sym.price_scale,
        "baseCommissionPrecision": sym.base.scale,
        "quoteCommissionPrecision": sym.quote.scale,
        "orderTypes": list(sym.order_types),
        "isSpotTradingAllowed": sym.trading,
        "isMarginTradingAllowed": False,
        "quoteAmountPrecision": min_notional,
        "baseSizePrecision": format_units(sym.min_qty, sym.qty_scale),
        "permissions": ["SPOT"],
        "filters": [dict(PERCENT_PRICE_BY_SIDE)],
        "maxQuoteAmount": max_notional,
        "makerCommission": rate(maker_ppm),
        "takerCommission": rate(taker_ppm),
        "quoteAmountPrecisionMarket": min_notional,
        "maxQuoteAmountMarket": max_notional,
        "fullName": sym.base.name or sym.base.code,
        "tradeSideType": 1,
        "st": False,
    }


def _amounts(o: Order, sym: Symbol) -> dict[str, str]:
    return {
        "price": format_units(o.price, sym.price_scale),
        "origQty": format_units(o.qty, sym.qty_scale),
        "executedQty": format_units(o.filled_qty, sym.qty_scale),
        "cummulativeQuoteQty": format_units(o.filled_quote, sym.quote.scale),
    }


def order_ack(o: Order, sym: Symbol) -> dict[str, Any]:
    """``POST /api/v3/order``: MEXC's documented fields plus the observed extended ones."""
    a = _amounts(o, sym)
    return {
        "symbol": o.symbol,
        "orderId": str(o.id),
        "orderListId": -1,
        "clientOrderId": o.client_id or None,
        "price": a["price"],
        "origQty": a["origQty"],
        "executedQty": a["executedQty"],
        "cummulativeQuoteQty": a["cummulativeQuoteQty"],
        "origQuoteOrderQty": format_units(o.quote_qty, sym.quote.scale),
        "status": str(o.status),
        "timeInForce": _TIF[o.type],
        "type": str(o.type),
        "side": side(o.side),
        "stpMode": str(o.stp),
        "transactTime": o.created,
    }


def order_info(o: Order, sym: Symbol) -> dict[str, Any]:
    """``GET /api/v3/order``, ``openOrders``, ``allOrders``."""
    a = _amounts(o, sym)
    return {
        "symbol": o.symbol,
        "orderId": str(o.id),
        "orderListId": -1,
        "clientOrderId": o.client_id or None,
        "price": a["price"],
        "origQty": a["origQty"],
        "executedQty": a["executedQty"],
        "cummulativeQuoteQty": a["cummulativeQuoteQty"],
        "status": str(o.status),
        "timeInForce": _TIF[o.type],
        "type": str(o.type),
        "side": side(o.side),
        "stopPrice": "",
        "icebergQty": "",
        "time": o.created,
        "updateTime": o.updated,
        "isWorking": o.is_open,
        "stpMode": str(o.stp),
        "cancelReason": o.cancel_reason or None,
        "origQuoteOrderQty": format_units(o.quote_qty, sym.quote.scale),
    }


def order_cancel(o: Order, sym: Symbol, new_client_id: str | None = None) -> dict[str, Any]:
    """``DELETE /api/v3/order`` and each element of ``DELETE /api/v3/openOrders``."""
    a = _amounts(o, sym)
    return {
        "symbol": o.symbol,
        "origClientOrderId": o.client_id or None,
        "orderId": str(o.id),
        "orderListId": -1,
        "clientOrderId": new_client_id or o.client_id or None,
        "price": a["price"],
        "origQty": a["origQty"],
        "executedQty": a["executedQty"],
        "cummulativeQuoteQty": a["cummulativeQuoteQty"],
        "status": str(o.status),
        "timeInForce": _TIF[o.type],
        "type": str(o.type),
        "side": side(o.side),
    }


def my_trade(
    row: Any, sym: Symbol, account: int, as_buyer: bool, scales: Mapping[str, int]
) -> dict[str, Any]:
    """One ``myTrades`` row from the account's side of a trade row; ``scales`` gives the scale
    of a fee paid in another asset than base or quote (MX)."""
    buyer_maker = row["taker_side"] != BUY
    if as_buyer:
        fee_asset = row["buyer_fee_asset"] or sym.base.code
        scale = sym.base.scale if fee_asset == sym.base.code else scales[fee_asset]
        commission = format_units(row["buyer_fee"], scale)
        asset, order_id, client_id, is_maker = (
            fee_asset,
            row["buyer_order"],
            row["buyer_client_id"],
            buyer_maker,
        )
    else:
        fee_asset = row["seller_fee_asset"] or sym.quote.code
        scale = sym.quote.scale if fee_asset == sym.quote.code else scales[fee_asset]
        commission = format_units(row["seller_fee"], scale)
        asset, order_id, client_id, is_maker = (
            fee_asset,
            row["seller_order"],
            row["seller_client_id"],
            not buyer_maker,
        )
    return {
        "symbol": sym.name,
        "id": str(row["id"]),
        "orderId": str(order_id),
        "orderListId": -1,
        "price": format_units(row["price"], sym.price_scale),
        "qty": format_units(row["qty"], sym.qty_scale),
        "quoteQty": format_units(row["quote_qty"], sym.quote.scale),
        "commission": commission,
        "commissionAsset": asset,
        "time": row["time"],
        "isBuyer": as_buyer,
        "isMaker": is_maker,
        "isBestMatch": True,
        "isSelfTrade": row["buyer_account"] == row["seller_account"],
        "clientOrderId": client_id or None,
    }


def public_trade(
    tid: int, price: int, qty: int, quote: int, taker_side: int, ts: int, sym: Symbol
) -> dict[str, Any]:
    return {
        "id": str(tid),
        "price": format_units(price, sym.price_scale),
        "qty": format_units(qty, sym.qty_scale),
        "quoteQty": format_units(quote, sym.quote.scale),
        "time": ts,
        "isBuyerMaker": taker_side != BUY,
        "isBestMatch": True,
        "tradeType": "BID" if taker_side == BUY else "ASK",
    }


def agg_trade(
    tid: int, price: int, qty: int, taker_side: int, ts: int, sym: Symbol
) -> dict[str, Any]:
    return {
        "a": tid,
        "f": tid,
        "l": tid,
        "p": format_units(price, sym.price_scale),
        "q": format_units(qty, sym.qty_scale),
        "T": ts,
        "m": taker_side != BUY,
        "M": True,
    }


def price_or_none(units: int | None, sym: Symbol) -> str | None:
    return None if units is None else format_units(units, sym.price_scale)


def qty_or_none(units: int | None, sym: Symbol) -> str | None:
    return None if units is None else format_units(units, sym.qty_scale)
