"""Spot trading (section 2.6): place, test, batch, cancel, query orders and trades.

Order ids on the wire are the engine's integer order ids as decimal strings; an ``orderId``
that is not such a string is simply an order that does not exist (-2013). ``newClientOrderId`` makes a
placement idempotent (the engine returns the first order for a retry with the same parameters
and refuses a retry with different ones) while the id is kept: as long as its order is open, and
a retention window after it closed (``engine.idempotency``); ``origClientOrderId`` on a query
names the account's newest order with that id. The ``source`` header is recorded on the order.
``stpMode=""`` means no self-trade prevention (MEXC's default); absent means the operator's
default (``Config.stp_default``, itself no prevention unless configured).
"""

from __future__ import annotations

import asyncio
from typing import Any

from bourse.api.mexc import schemas as s
from bourse.api.mexc import wire
from bourse.api.mexc.auth import check_symbol
from bourse.api.mexc.context import Ctx, Endpoint
from bourse.api.mexc.errors import (
    MANDATORY_PARAM,
    ApiError,
    from_domain,
    invalid,
    missing,
)
from bourse.api.mexc.params import MAX_TIME_MS, P, validate
from bourse.api.mexc.replay import replay_key
from bourse.domain.brokers import Attribution
from bourse.domain.errors import DomainError, OrderNotFound
from bourse.domain.ids import whole_id
from bourse.domain.money import to_units
from bourse.domain.orders import BUY, SELL, OrderRequest, OrderType, StpMode
from bourse.domain.price_band import check_price_band
from bourse.engine import commands as c
from bourse.services.brokers.attribution import AUDITED

DAY_MS = 24 * 3600 * 1000
MAX_BATCH = 20
MAX_CANCEL_SYMBOLS = 5
SOURCE_MAX = 64

ORDER_TYPES = tuple(t.value for t in OrderType)
STP_MODES = ("", "cancel_maker", "cancel_taker", "cancel_both", "none")
SYMBOL = P("symbol", "symbol", required=True)

ORDER_PARAMS = (
    SYMBOL,
    P("side", "enum", required=True, enum=("BUY", "SELL")),
    P("type", "enum", required=True, enum=ORDER_TYPES),
    P("quantity", "decimal", description="base quantity"),
    P("quoteOrderQty", "decimal", description="quote amount (MARKET)"),
    P("price", "decimal", description="limit price (ignored for MARKET)"),
    P("newClientOrderId", "client_id"),
    P(
        "stpMode",
        "enum",
        enum=STP_MODES,
        empty_ok=True,
        description='self-trade prevention; "" = none (MEXC); absent = the operator default',
    ),
)
BATCH_ITEM_PARAMS = tuple(
    P(p.name, p.kind, p.required, ORDER_TYPES + ("LIMIT_ORDER",), description=p.description)
    if p.name == "type"
    else p
    for p in ORDER_PARAMS
)


#: an order type by its name (a dict read: ``OrderType(name)`` goes through the enum's
#: metaclass); ``LIMIT_ORDER`` is a batch item's name for ``LIMIT``
_ORDER_TYPE = {**{t.value: t for t in OrderType}, "LIMIT_ORDER": OrderType.LIMIT}


def _source(ctx: Ctx) -> str:
    return (ctx.header("source") or "")[:SOURCE_MAX]


def known_attribution(ctx: Ctx) -> Attribution | None:
    """The request's attribution from the caches on the event loop, when they know it (the
    common case: a key of no sub-account, its binding cached): no worker thread, no SQL."""
    if ctx.principal is None and ctx.key is not None:
        known, owner = ctx.services.subaccounts.cached_broker_of(ctx.key.account_id)
        if known and owner is None:
            return ctx.services.brokers.attributor.cached_for_key(
                ctx.key.api_key, ctx.header("source")
            )
    return None


async def attribute(ctx: Ctx) -> Attribution:
    """Which broker earns on this request's orders (``bourse.services.brokers.attribution``).

    An OAuth token counts as a key bound to its client's broker (the pipeline has already
    refused a ``source`` naming another broker); so does a sub-account's key, bound to the
    independent broker that owns it; any other key's binding comes from the registry.
    From the caches when they know (``known_attribution``); only a cold cache sends the
    lookup to a worker thread.
    """
    return known_attribution(ctx) or await looked_up_attribution(ctx)


async def looked_up_attribution(ctx: Ctx) -> Attribution:
    """``attribute`` past the caches: the lookup in a worker thread."""
    attributor = ctx.services.brokers.attributor
    source = ctx.header("source")
    if ctx.principal is not None:
        return await ctx.db(attributor.resolve, ctx.principal.broker_id, source)
    if ctx.key is not None:  # a sub-account of an independent broker always earns its broker
        owner = await ctx.db(ctx.services.subaccounts.broker_of, ctx.key.account_id)
        if owner is not None:
            return await ctx.db(attributor.resolve, owner, source)
    return await ctx.db(attributor.for_key, ctx.key.api_key if ctx.key else None, source)


async def audit(ctx: Ctx, order_id: int, att: Attribution) -> None:
    """Keep a refused attribution (unknown or unapproved ``source``) for the broker audit."""
    if att.status in AUDITED:
        attributor = ctx.services.brokers.attributor
        api_key = ctx.key.api_key if ctx.key else ""
        await ctx.db(attributor.record, order_id, ctx.account, att, api_key)


def order_request(ctx: Ctx, p: dict[str, Any], att: Attribution | None = None) -> OrderRequest:
    """An engine ``OrderRequest`` from validated order parameters (exact unit conversion)."""
    sym = ctx.symbol(p["symbol"])
    check_symbol(ctx.key, sym.name)
    otype = _ORDER_TYPE[p["type"]]
    qty = price = quote = 0
    if "quantity" in p:
        qty = to_units(p["quantity"], sym.qty_scale, field="quantity")
    if "quoteOrderQty" in p:
        quote = to_units(p["quoteOrderQty"], sym.quote.scale, field="quoteOrderQty")
    if otype is not OrderType.MARKET:
        if "quantity" not in p:
            raise missing("quantity")
        if "price" not in p:
            raise missing("price")
        price = to_units(p["price"], sym.price_scale, field="price")
        side = BUY if p["side"] == "BUY" else SELL
        check_price_band(side, price, ctx.services.marketdata.last_price(sym.name))
    elif "quantity" not in p and "quoteOrderQty" not in p:
        raise missing("quantity")
    stp = p.get("stpMode")
    return OrderRequest(
        account=ctx.account,
        symbol=sym.name,
        side=BUY if p["side"] == "BUY" else SELL,
        type=otype,
        qty=qty,
        price=price,
        quote_qty=quote,
        client_id=p.get("newClientOrderId", ""),
        stp=None if stp is None else StpMode(stp) if stp else StpMode.NONE,
        source=_source(ctx),
        broker_id=att.broker_id if att is not None else None,
    )


async def new_order(ctx: Ctx) -> Any:
    att = known_attribution(ctx) or await looked_up_attribution(ctx)  # no coroutine if cached
    req = order_request(ctx, ctx.params, att)
    order = await ctx.services.engine.run(c.PlaceOrder(req, replay=replay_key(ctx)))
    if att.status in AUDITED:
        await audit(ctx, order.id, att)
    return wire.order_ack(order, ctx.symbol(order.symbol))


async def test_order(ctx: Ctx) -> Any:
    req = order_request(ctx, ctx.params)
    await ctx.services.engine.run(c.PlaceOrder(req, test=True))
    return {}


async def batch_orders(ctx: Ctx) -> Any:
    items = ctx.params["batchOrders"]
    if not isinstance(items, list) or not items:
        raise invalid("batchOrders", "must be a non-empty JSON array")
    if len(items) > MAX_BATCH:
        raise invalid("batchOrders", f"at most {MAX_BATCH} orders")
    if not all(isinstance(x, dict) for x in items):
        raise invalid("batchOrders", "every element must be an object")
    symbols = {str(x.get("symbol", "")) for x in items}
    if len(symbols) != 1:
        raise invalid("batchOrders", "all orders must be on the same symbol")
    engine = ctx.services.engine
    att = await attribute(ctx)
    slots: list[Any] = []
    for item in items:
        raw = {str(k): _str(v) for k, v in item.items() if v is not None and v != ""}
        client_id = raw.get("newClientOrderId")
        try:
            req = order_request(ctx, validate(BATCH_ITEM_PARAMS, raw), att)
        except (ApiError, DomainError) as exc:
            err = exc if isinstance(exc, ApiError) else from_domain(exc)
            slots.append({"newClientOrderId": client_id, "msg": err.msg, "code": err.code})
            continue
        replay = replay_key(ctx, str(len(slots)))  # one key per order of the batch
        slots.append((req, engine.submit(c.PlaceOrder(req, replay=replay))))
    out = []
    for slot in slots:
        if isinstance(slot, dict):
            out.append(slot)
            continue
        req, fut = slot
        try:
            order = await asyncio.wrap_future(fut)
        except DomainError as exc:
            err = from_domain(exc)
            out.append(
                {"newClientOrderId": req.client_id or None, "msg": err.msg, "code": err.code}
            )
            continue
        await audit(ctx, order.id, att)
        ack: dict[str, Any] = {"symbol": order.symbol, "orderId": str(order.id), "orderListId": -1}
        if req.client_id:
            ack["newClientOrderId"] = req.client_id
        out.append(ack)
    return out


def _str(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _order_ref(p: dict[str, Any]) -> tuple[int | None, str | None, bool]:
    """(order id, client id, known): an ``orderId`` that is not one of ours is unknown."""
    oid, cid = p.get("orderId"), p.get("origClientOrderId")
    if oid is None and cid is None:
        raise ApiError(
            MANDATORY_PARAM,
            "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
        )
    if oid is not None:
        order_id = whole_id(oid)
        if order_id is None:
            return None, None, False
        return order_id, None, True
    return None, cid, True


async def cancel_order(ctx: Ctx) -> Any:
    p = ctx.params
    sym = ctx.symbol(p["symbol"])
    check_symbol(ctx.key, sym.name)
    oid, cid, known = _order_ref(p)
    if not known:
        raise OrderNotFound("Unknown order sent.")
    order = await ctx.services.engine.run(c.CancelOrder(ctx.account, sym.name, oid, cid))
    return wire.order_cancel(order, sym, p.get("newClientOrderId"))


async def cancel_open_orders(ctx: Ctx) -> Any:
    names = ctx.params["symbol"]
    syms = [ctx.symbol(n) for n in names]
    for x in syms:
        check_symbol(ctx.key, x.name)
    engine = ctx.services.engine
    futs = [engine.submit(c.CancelAll(ctx.account, x.name)) for x in syms]
    out = []
    for x, fut in zip(syms, futs, strict=True):
        for order in await asyncio.wrap_future(fut):
            out.append(wire.order_cancel(order, x))
    return out


async def query_order(ctx: Ctx) -> Any:
    p = ctx.params
    sym = ctx.symbol(p["symbol"])
    oid, cid, known = _order_ref(p)
    if not known:
        raise OrderNotFound("Unknown order sent.")
    order = await ctx.db(ctx.services.queries.order, ctx.account, sym.name, oid, cid)
    if order is None:
        raise OrderNotFound("Unknown order sent.")
    return wire.order_info(order, sym)


async def open_orders(ctx: Ctx) -> Any:
    account = ctx.account
    name = ctx.params.get("symbol")
    if name is not None:
        ctx.symbol(name)

    def mine(engine: Any) -> list[Any]:
        ex = engine.exchange
        found = [o for o in ex.open_of(account) if name is None or o.symbol == name]
        found.sort(key=lambda o: o.id)
        return [wire.order_info(o, ex.symbols[o.symbol]) for o in found]

    return await ctx.read(mine)


async def all_orders(ctx: Ctx) -> Any:
    p = ctx.params
    sym = ctx.symbol(p["symbol"])
    start, end = p.get("startTime"), p.get("endTime")
    if start is not None and end is not None and end < start:
        raise invalid("endTime", "must not be before startTime")
    newest = None
    if start is None and end is None:  # MEXC's default window: the last 24 hours
        start, newest = ctx.now - DAY_MS, True
    rows = await ctx.db(
        ctx.services.queries.orders,
        ctx.account,
        sym.name,
        start,
        end,
        p.get("limit", 500),
        newest,
    )
    return [wire.order_info(o, sym) for o in rows]


async def my_trades(ctx: Ctx) -> Any:
    p = ctx.params
    sym = ctx.symbol(p["symbol"])
    oid = None
    if "orderId" in p:
        oid = whole_id(p["orderId"])
        if oid is None:
            return []
    start, end = p.get("startTime"), p.get("endTime")
    if start is not None and end is not None and end < start:
        raise invalid("endTime", "must not be before startTime")
    account = ctx.account
    rows = await ctx.db(
        ctx.services.queries.my_trades, account, sym.name, oid, start, end, p.get("limit", 100)
    )
    out = []
    scales = {a.code: a.scale for a in ctx.services.engine.wallet.assets.values()}
    for r in rows:
        if r["buyer_account"] == account and (oid is None or r["buyer_order"] == oid):
            out.append(wire.my_trade(r, sym, account, True, scales))
        if r["seller_account"] == account and (oid is None or r["seller_order"] == oid):
            out.append(wire.my_trade(r, sym, account, False, scales))
    return out


_TIME = (
    P("startTime", "int", minimum=0, maximum=MAX_TIME_MS),
    P("endTime", "int", minimum=0, maximum=MAX_TIME_MS),
)
_ORDER_REF = (
    P("orderId", "str", description="the order id string returned on placement"),
    P("origClientOrderId", "client_id"),
)
W, R, A = "SPOT_DEAL_WRITE", "SPOT_DEAL_READ", "SPOT_ACCOUNT_READ"

ENDPOINTS = [
    Endpoint(
        "POST",
        "/api/v3/order",
        new_order,
        ORDER_PARAMS,
        True,
        W,
        "New order",
        s.ORDER_ACK,
        claims_signature=False,  # each order claims its own key (PlaceOrder.replay)
    ),
    Endpoint(
        "POST",
        "/api/v3/order/test",
        test_order,
        ORDER_PARAMS,
        True,
        W,
        "Test new order (validates only)",
        s.EMPTY,
        claims_signature=False,  # validates only: changes nothing
    ),
    Endpoint(
        "POST",
        "/api/v3/batchOrders",
        batch_orders,
        (P("batchOrders", "json", required=True, description="JSON array of up to 20 orders"),),
        True,
        W,
        "Batch orders (same symbol, up to 20)",
        s.arr(s.BATCH_ITEM),
        claims_signature=False,  # each order claims its own key (PlaceOrder.replay)
    ),
    Endpoint(
        "DELETE",
        "/api/v3/order",
        cancel_order,
        (SYMBOL, *_ORDER_REF, P("newClientOrderId", "client_id")),
        True,
        W,
        "Cancel order",
        s.ORDER_CANCEL,
        claims_signature=False,  # a copy only cancels again
    ),
    Endpoint(
        "DELETE",
        "/api/v3/openOrders",
        cancel_open_orders,
        (P("symbol", "symbols", required=True, max_items=MAX_CANCEL_SYMBOLS),),
        True,
        W,
        "Cancel all open orders on up to 5 symbols",
        s.arr(s.ORDER_CANCEL),
        claims_signature=False,  # a copy only cancels again
    ),
    Endpoint(
        "GET",
        "/api/v3/order",
        query_order,
        (SYMBOL, *_ORDER_REF),
        True,
        R,
        "Query order",
        s.ORDER_INFO,
        2,
    ),
    Endpoint(
        "GET",
        "/api/v3/openOrders",
        open_orders,
        (P("symbol", "symbol"),),
        True,
        R,
        "Current open orders",
        s.arr(s.ORDER_INFO),
        3,
    ),
    Endpoint(
        "GET",
        "/api/v3/allOrders",
        all_orders,
        (
            SYMBOL,
            *_TIME,
            P("limit", "int", minimum=1, maximum=1000),
            P("states", "str", description="ignored (ccxt sends a futures order-state filter)"),
        ),
        True,
        R,
        "All orders (default: the last 24 hours)",
        s.arr(s.ORDER_INFO),
        10,
    ),
    Endpoint(
        "GET",
        "/api/v3/myTrades",
        my_trades,
        (
            SYMBOL,
            P("orderId", "str"),
            *_TIME,
            P("limit", "int", minimum=1, maximum=100),
        ),
        True,
        A,
        "Account trade list",
        s.arr(s.MY_TRADE),
        10,
    ),
]
