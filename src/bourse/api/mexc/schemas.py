"""JSON schemas of MEXC responses (OpenAPI 3.0 flavour), shared by the endpoint declarations."""

from __future__ import annotations

from typing import Any


def obj(
    props: dict[str, Any], required: list[str] | None = None, extra: bool = True
) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props}
    out["required"] = list(props) if required is None else required
    if not extra:
        out["additionalProperties"] = False
    return out


def arr(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "nullable": True}


S: dict[str, Any] = {"type": "string"}
NS = nullable(S)
INT: dict[str, Any] = {"type": "integer"}
B: dict[str, Any] = {"type": "boolean"}
DEC: dict[str, Any] = {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}
NDEC = nullable(DEC)

ERROR = obj({"code": INT, "msg": S})
EMPTY = {"type": "object", "maxProperties": 0}

SYMBOL_INFO = obj(
    {
        "symbol": S,
        "status": {"type": "string", "enum": ["1", "2", "3"]},
        "baseAsset": S,
        "baseAssetPrecision": INT,
        "quoteAsset": S,
        "quotePrecision": INT,
        "quoteAssetPrecision": INT,
        "baseCommissionPrecision": INT,
        "quoteCommissionPrecision": INT,
        "orderTypes": arr(S),
        "isSpotTradingAllowed": B,
        "isMarginTradingAllowed": B,
        "quoteAmountPrecision": DEC,
        "baseSizePrecision": DEC,
        "permissions": arr(S),
        "filters": arr(
            obj(
                {"filterType": S, "bidMultiplierUp": DEC, "askMultiplierDown": DEC},
                required=["filterType"],
            )
        ),
        "maxQuoteAmount": DEC,
        "makerCommission": DEC,
        "takerCommission": DEC,
        "quoteAmountPrecisionMarket": DEC,
        "maxQuoteAmountMarket": DEC,
        "fullName": S,
        "tradeSideType": INT,
        "st": B,
    }
)
EXCHANGE_INFO = obj(
    {
        "timezone": S,
        "serverTime": INT,
        "rateLimits": arr({"type": "object"}),
        "exchangeFilters": arr({"type": "object"}),
        "symbols": arr(SYMBOL_INFO),
    }
)
LEVEL = {"type": "array", "items": DEC, "minItems": 2, "maxItems": 2}
DEPTH = obj({"lastUpdateId": INT, "bids": arr(LEVEL), "asks": arr(LEVEL), "timestamp": INT})
TRADE = obj(
    {
        "id": NS,
        "price": DEC,
        "qty": DEC,
        "quoteQty": DEC,
        "time": INT,
        "isBuyerMaker": B,
        "isBestMatch": B,
        "tradeType": {"type": "string", "enum": ["BID", "ASK"]},
    }
)
AGG_TRADE = obj(
    {
        "a": nullable(INT),
        "f": nullable(INT),
        "l": nullable(INT),
        "p": DEC,
        "q": DEC,
        "T": INT,
        "m": B,
        "M": B,
    }
)
KLINE = {
    "type": "array",
    "minItems": 8,
    "maxItems": 8,
    "items": {"oneOf": [INT, DEC]},
}
AVG_PRICE = obj({"mins": INT, "price": NDEC})
TICKER_24H = obj(
    {
        "symbol": S,
        "priceChange": NDEC,
        "priceChangePercent": NDEC,
        "prevClosePrice": NDEC,
        "lastPrice": NDEC,
        "lastQty": NDEC,
        "bidPrice": NDEC,
        "bidQty": NDEC,
        "askPrice": NDEC,
        "askQty": NDEC,
        "openPrice": NDEC,
        "highPrice": NDEC,
        "lowPrice": NDEC,
        "volume": DEC,
        "quoteVolume": NDEC,
        "openTime": INT,
        "closeTime": INT,
        "count": nullable(INT),
    }
)
TICKER_PRICE = obj({"symbol": S, "price": NDEC})
BOOK_TICKER = obj({"symbol": S, "bidPrice": NDEC, "bidQty": NDEC, "askPrice": NDEC, "askQty": NDEC})


def one_or_many(schema: dict[str, Any]) -> dict[str, Any]:
    return {"oneOf": [schema, arr(schema)]}


CODE200_LIST = obj({"code": INT, "data": arr(S), "msg": NS})

ORDER_SIDE = {"type": "string", "enum": ["BUY", "SELL"]}
ORDER_TYPE = {
    "type": "string",
    "enum": ["LIMIT", "MARKET", "LIMIT_MAKER", "IMMEDIATE_OR_CANCEL", "FILL_OR_KILL"],
}
ORDER_STATUS = {
    "type": "string",
    "enum": ["NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "PARTIALLY_CANCELED"],
}
TIF = {"type": "string", "enum": ["GTC", "IOC", "FOK"]}
ORDER_ACK = obj(
    {
        "symbol": S,
        "orderId": S,
        "orderListId": INT,
        "clientOrderId": NS,
        "price": DEC,
        "origQty": DEC,
        "executedQty": DEC,
        "cummulativeQuoteQty": DEC,
        "origQuoteOrderQty": DEC,
        "status": ORDER_STATUS,
        "timeInForce": TIF,
        "type": ORDER_TYPE,
        "side": ORDER_SIDE,
        "stpMode": S,
        "transactTime": INT,
    }
)
ORDER_INFO = obj(
    {
        "symbol": S,
        "orderId": S,
        "orderListId": INT,
        "clientOrderId": NS,
        "price": DEC,
        "origQty": DEC,
        "executedQty": DEC,
        "cummulativeQuoteQty": DEC,
        "status": ORDER_STATUS,
        "timeInForce": TIF,
        "type": ORDER_TYPE,
        "side": ORDER_SIDE,
        "stopPrice": S,
        "icebergQty": S,
        "time": INT,
        "updateTime": INT,
        "isWorking": B,
        "stpMode": S,
        "cancelReason": NS,
        "origQuoteOrderQty": DEC,
    }
)
ORDER_CANCEL = obj(
    {
        "symbol": S,
        "origClientOrderId": NS,
        "orderId": S,
        "orderListId": INT,
        "clientOrderId": NS,
        "price": DEC,
        "origQty": DEC,
        "executedQty": DEC,
        "cummulativeQuoteQty": DEC,
        "status": ORDER_STATUS,
        "timeInForce": TIF,
        "type": ORDER_TYPE,
        "side": ORDER_SIDE,
    }
)
BATCH_ITEM = {
    "oneOf": [
        obj(
            {"symbol": S, "orderId": S, "orderListId": INT, "newClientOrderId": S},
            ["symbol", "orderId", "orderListId"],
        ),
        obj({"newClientOrderId": NS, "msg": S, "code": INT}, ["msg", "code"]),
    ]
}
MY_TRADE = obj(
    {
        "symbol": S,
        "id": S,
        "orderId": S,
        "orderListId": INT,
        "price": DEC,
        "qty": DEC,
        "quoteQty": DEC,
        "commission": DEC,
        "commissionAsset": S,
        "time": INT,
        "isBuyer": B,
        "isMaker": B,
        "isBestMatch": B,
        "isSelfTrade": B,
        "clientOrderId": NS,
    }
)
BALANCE = obj({"asset": S, "free": DEC, "locked": DEC, "available": DEC})
ACCOUNT = obj(
    {
        "makerCommission": nullable(INT),
        "takerCommission": nullable(INT),
        "buyerCommission": nullable(INT),
        "sellerCommission": nullable(INT),
        "canTrade": B,
        "canWithdraw": B,
        "canDeposit": B,
        "updateTime": nullable(INT),
        "accountType": S,
        "balances": arr(BALANCE),
        "permissions": arr(S),
    }
)
TRADE_FEE = obj(
    {
        "data": obj({"makerCommission": {"type": "number"}, "takerCommission": {"type": "number"}}),
        "code": INT,
        "msg": S,
        "timestamp": INT,
    }
)
NETWORK = obj(
    {
        "coin": S,
        "depositDesc": NS,
        "depositEnable": B,
        "minConfirm": INT,
        "name": S,
        "network": S,
        "netWork": S,
        "withdrawEnable": B,
        "withdrawFee": DEC,
        "withdrawIntegerMultiple": NS,
        "withdrawMax": DEC,
        "withdrawMin": DEC,
        "sameAddress": B,
        "contract": S,
        "withdrawTips": NS,
        "depositTips": NS,
    }
)
CURRENCY = obj({"coin": S, "name": S, "networkList": arr(NETWORK)})
CONTRACT_DETAIL = obj({"success": B, "code": INT, "data": arr({"type": "object"})})
