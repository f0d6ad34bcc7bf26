"""Broker endpoints: MEXC's rebate ``taxQuery`` plus the Bourse broker extensions.

MEXC (reference section 1.7):

* ``GET /api/v3/broker/rebate/taxQuery``: daily rebate totals per (day, user, asset), MEXC's
  exact shape ``{"page","totalRecords","totalPageNum","data":[{asset, amount, type, uid,
  time(yyyyMMdd)}]}``.

Bourse extensions (MEXC advertises these features without an API; see ``docs/brokers.md``):

* ``GET  /api/v3/broker/rebate/detail``: per-trade rebate records with settlement status;
* ``POST /api/v3/broker/apply``, ``GET /api/v3/broker/info``: apply, see status and rates;
* ``GET/DELETE /api/v3/broker/apiKey/bound``: the keys bound to the calling broker / let one go;
* ``POST/GET/DELETE /api/v3/user/apiKey``: a user's own keys (permissions, IP and symbol
  whitelists, expiry); ``POST /api/v3/user/apiKey/renew``: extend the expiry or rotate the
  secret, keeping the binding;
* ``POST/GET/DELETE /api/v3/user/apiKey/bind``: bind a key to a broker (once, ever), see it,
  unbind.

Every endpoint is SIGNED. A broker only ever sees its own rebates and keys: the broker is the
one whose main account owns the calling key, never a parameter.
"""

from __future__ import annotations

from typing import Any

from bourse.api.mexc import schemas as s
from bourse.api.mexc.context import Ctx, Endpoint
from bourse.api.mexc.errors import ApiError, from_domain, invalid
from bourse.api.mexc.params import P
from bourse.domain import brokers as d
from bourse.domain.errors import DomainError
from bourse.domain.money import format_units
from bourse.domain.orders import BUY
from bourse.services.apikeys import MAX_IPS_PER_KEY, NO_IP_TTL_MS, normalize_permission
from bourse.services.brokers import Brokers
from bourse.services.brokers import rebates as rb
from bourse.services.brokers.keys import renew_key
from bourse.services.brokers.registry import Broker

MAX_SYMBOLS_PER_KEY = 30
READ, WRITE = "SPOT_ACCOUNT_READ", "SPOT_ACCOUNT_WRITE"


async def _call(ctx: Ctx, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a blocking broker operation in a worker thread (errors map through the table)."""
    return await ctx.db(fn, *args, **kwargs)


def _brokers(ctx: Ctx) -> Brokers:
    return ctx.services.brokers


async def _my_broker(ctx: Ctx) -> Broker:
    """The broker whose main account owns the calling key (401 No authority otherwise)."""
    b = await ctx.db(_brokers(ctx).registry.by_account, ctx.account)
    if b is None:
        raise ApiError(401, "No authority", 401)
    return b


def _scale(ctx: Ctx, asset: str) -> int:
    a = ctx.services.engine.wallet.assets.get(asset)
    return a.scale if a is not None else 8


def _rate(ppm: int) -> str:
    return format_units(ppm, 6)


def _page(p: dict[str, Any], default_size: int) -> tuple[int, int]:
    return p.get("page", 1), p.get("pageSize", default_size)


def _window(p: dict[str, Any]) -> tuple[int | None, int | None]:
    start, end = p.get("startTime"), p.get("endTime")
    if start is not None and end is not None and start > end:
        raise invalid("startTime", "must not be after endTime")
    return start, end


def _pages(total: int, size: int) -> int:
    return (total + size - 1) // size


# --- rebates -----------------------------------------------------------------------------------
async def tax_query(ctx: Ctx) -> Any:
    broker = await _my_broker(ctx)
    page, size = _page(ctx.params, 10)
    start, end = _window(ctx.params)
    total, rows = await ctx.db(
        rb.daily, ctx.services.db, broker.id, start=start, end=end, page=page, page_size=size
    )
    return {
        "page": page,
        "totalRecords": total,
        "totalPageNum": _pages(total, size),
        "data": [
            {
                "asset": r["asset"],
                "amount": format_units(r["amount"], _scale(ctx, r["asset"])),
                "type": "spot",
                "uid": str(r["uid"]),
                "time": r["day"],
            }
            for r in rows
        ],
    }


async def rebate_detail(ctx: Ctx) -> Any:
    broker = await _my_broker(ctx)
    p = ctx.params
    page, size = _page(p, 100)
    start, end = _window(p)
    total, rows = await ctx.db(
        rb.records,
        ctx.services.db,
        broker.id,
        start=start,
        end=end,
        asset=p.get("asset"),
        status=p.get("status"),
        account_id=p.get("uid"),
        page=page,
        page_size=size,
    )
    data = []
    for r in rows:
        scale = _scale(ctx, r["asset"])
        data.append(
            {
                "tradeId": str(r["trade_id"]),
                "orderId": str(r["order_id"]),
                "uid": str(r["account_id"]),
                "symbol": r["symbol"],
                "side": "BUY" if r["side"] == BUY else "SELL",
                "isMaker": bool(r["maker"]),
                "asset": r["asset"],
                "commission": format_units(r["fee"], scale),
                "amount": format_units(r["rebate"], scale),
                "rate": _rate(r["rate_ppm"]),
                "status": r["status"],
                "tradeTime": r["trade_time"],
                "settleTime": r["settled_at"],
                "settlementId": r["settlement_key"],
                "type": "spot",
            }
        )
    return {"page": page, "totalRecords": total, "totalPageNum": _pages(total, size), "data": data}


# --- broker application and status ------------------------------------------------------------
def _broker_info(b: Broker, brokers: Brokers) -> dict[str, Any]:
    history = brokers.registry.rate_history(b.id)
    return {
        "brokerId": str(b.id),
        "name": b.name,
        "code": b.code,
        "brokerType": b.type.value,
        "status": b.status.value,
        "reason": b.reason,
        "uid": str(b.account_id),
        "rebateUid": str(b.rebate_account_id),
        "rebateRate": _rate(brokers.registry.rate_at(b.id)),
        "rateHistory": [
            {"rate": _rate(h.rate_ppm), "effectiveFrom": h.effective_from, "note": h.note}
            for h in history
        ],
        "logoUrl": b.logo_url,
        "callbackUrl": b.callback_url,
        "createTime": b.created,
        "updateTime": b.updated,
    }


async def apply(ctx: Ctx) -> Any:
    p = ctx.params
    brokers = _brokers(ctx)
    b = await _call(
        ctx,
        brokers.registry.apply,
        ctx.account,
        p["brokerType"],
        p["name"],
        rebate_account_id=p.get("rebateUid"),
        code=p.get("code"),
        logo_url=p.get("logoUrl", ""),
        callback_url=p.get("callbackUrl", ""),
        note=p.get("note", ""),
    )
    return await ctx.db(_broker_info, b, brokers)


async def info(ctx: Ctx) -> Any:
    b = await _my_broker(ctx)
    return await ctx.db(_broker_info, b, _brokers(ctx))


async def bound_keys(ctx: Ctx) -> Any:
    b = await _my_broker(ctx)
    rows = await ctx.db(
        _brokers(ctx).bindings.list_for_broker, b.id, ctx.params.get("includeUnbound") == "true"
    )
    return {"brokerId": str(b.id), "apiKeys": rows}


async def release_key(ctx: Ctx) -> Any:
    b = await _my_broker(ctx)
    done = await _call(
        ctx,
        _brokers(ctx).bindings.unbind,
        ctx.params["apiKey"],
        account_id=b.account_id,
        by="broker",
    )
    return {"apiKey": done.api_key, "brokerId": str(done.broker_id), "unbindTime": done.unbound_at}


# --- a user's own keys -------------------------------------------------------------------------
def _csv(text: str | None) -> list[str]:
    return [x for x in (p.strip() for p in (text or "").split(",")) if x]


async def create_key(ctx: Ctx) -> Any:
    p = ctx.params
    assert ctx.key is not None
    try:
        perms = sorted({normalize_permission(x) for x in _csv(p["permissions"])})
    except DomainError as exc:
        raise ApiError(730702, exc.message) from None
    if not perms:
        raise ApiError(730701, "permission is empty")
    if not set(perms) <= set(ctx.key.permissions):
        raise ApiError(700007, "A key cannot grant permissions its creator does not have.", 401)
    ips = _csv(p.get("ip"))
    if len(ips) > MAX_IPS_PER_KEY:
        raise ApiError(730703, f"at most {MAX_IPS_PER_KEY} IPs per key")
    symbols = [x.upper() for x in _csv(p.get("symbols"))]
    if len(symbols) > MAX_SYMBOLS_PER_KEY:
        raise invalid("symbols", f"at most {MAX_SYMBOLS_PER_KEY} symbols")
    for sym in symbols:
        ctx.symbol(sym)  # -1121 for a pair that is not listed
    kwargs: dict[str, Any] = {"label": p["note"], "ip_whitelist": ips, "symbols": symbols}
    if "expireTime" in p:
        exp = p["expireTime"]
        if exp <= ctx.now:
            raise invalid("expireTime", "must be in the future")
        if not ips and exp > ctx.now + _no_ip_ttl(ctx):
            raise invalid("expireTime", "a key without IPs expires within 90 days")
        kwargs["expires"] = exp
    elif not ips:
        kwargs["expires"] = ctx.now + _no_ip_ttl(ctx)  # MEXC: 90 days (configurable)
    try:
        key, secret = await ctx.db(
            ctx.services.apikeys.create_key, ctx.account, perms, now_ms=ctx.now, **kwargs
        )
    except DomainError as exc:
        msg = exc.message or str(exc)
        if "API keys per account" in msg:
            raise ApiError(730705, msg) from None
        if "IP" in msg:
            raise ApiError(730704, msg) from None
        raise from_domain(exc) from None
    row = next(
        k for k in await ctx.db(ctx.services.apikeys.list_keys, ctx.account) if k["apiKey"] == key
    )
    return {**_key_json(row, None), "apikey": key, "secretKey": secret}


def _no_ip_ttl(ctx: Ctx) -> int:
    """How long a key without IPs lives (``Config.no_ip_key_ttl_ms`` if set; MEXC: 90 days)."""
    return int(getattr(ctx.services.config, "no_ip_key_ttl_ms", NO_IP_TTL_MS) or NO_IP_TTL_MS)


def _key_json(k: dict[str, Any], broker_id: int | None) -> dict[str, Any]:
    return {
        "apiKey": k["apiKey"],
        "note": k["label"],
        "permissions": ",".join(k["permissions"]),
        "ip": ",".join(k["ip"]),
        "symbols": ",".join(k["symbols"]),
        "createTime": k["createTime"],
        "creatTime": k["createTime"],  # MEXC's spelling in the key query
        "expireTime": k["expireTime"],
        "brokerId": None if broker_id is None else str(broker_id),
    }


async def list_keys(ctx: Ctx) -> Any:
    bindings = _brokers(ctx).bindings
    keys = await ctx.db(ctx.services.apikeys.list_keys, ctx.account)

    def bound() -> list[int | None]:
        return [bindings.bound_broker(k["apiKey"]) for k in keys]

    brokers = await ctx.db(bound)
    return {"apiKeys": [_key_json(k, b) for k, b in zip(keys, brokers, strict=True)]}


async def delete_key(ctx: Ctx) -> Any:
    api_key = ctx.params["apiKey"]
    ok = await ctx.db(ctx.services.apikeys.delete_key, api_key, ctx.account)
    if not ok:
        raise ApiError(730706, "API key not found")
    await ctx.db(_brokers(ctx).bindings.on_key_deleted, api_key)
    return {"apiKey": api_key}


async def renew(ctx: Ctx) -> Any:
    p = ctx.params
    assert ctx.key is not None
    api_key = p["apiKey"]
    if api_key == ctx.key.api_key:
        raise ApiError(730003, "A key cannot renew itself; sign with another key of yours.")
    kwargs: dict[str, Any] = {"rotate_secret": p.get("rotateSecret") == "true"}
    if "expireTime" in p:
        kwargs["expires"] = p["expireTime"]
    r = await _call(
        ctx,
        renew_key,
        ctx.services.apikeys,
        api_key,
        ctx.account,
        ctx.now,
        ttl_ms=_no_ip_ttl(ctx),
        **kwargs,
    )
    out: dict[str, Any] = {"apiKey": r.api_key, "expireTime": r.expires}
    if r.secret is not None:
        out["secretKey"] = r.secret
    broker = await ctx.db(_brokers(ctx).bindings.bound_broker, api_key)
    out["brokerId"] = None if broker is None else str(broker)
    return out


# --- binding -----------------------------------------------------------------------------------
async def bind(ctx: Ctx) -> Any:
    assert ctx.key is not None
    api_key = ctx.params.get("apiKey") or ctx.key.api_key
    b = await _call(ctx, _brokers(ctx).bindings.bind, api_key, ctx.params["brokerId"], ctx.account)
    return {"apiKey": b.api_key, "brokerId": str(b.broker_id), "bindTime": b.bound_at}


async def binding(ctx: Ctx) -> Any:
    assert ctx.key is not None
    api_key = ctx.params.get("apiKey") or ctx.key.api_key
    b = await ctx.db(_brokers(ctx).bindings.get, api_key)
    if b is None or b.account_id != ctx.account:
        return {"apiKey": api_key, "brokerId": None, "bindTime": None, "unbindTime": None}
    return {
        "apiKey": api_key,
        "brokerId": str(b.broker_id),
        "bindTime": b.bound_at,
        "unbindTime": b.unbound_at,
    }


async def unbind(ctx: Ctx) -> Any:
    assert ctx.key is not None
    api_key = ctx.params.get("apiKey") or ctx.key.api_key
    done = await _call(
        ctx, _brokers(ctx).bindings.unbind, api_key, account_id=ctx.account, by="user"
    )
    return {"apiKey": done.api_key, "brokerId": str(done.broker_id), "unbindTime": done.unbound_at}


# --- declarations ------------------------------------------------------------------------------
_WINDOW = (
    P("startTime", "int", minimum=0),
    P("endTime", "int", minimum=0),
    P("page", "int", minimum=1, maximum=1_000_000),
)
_NS, _NINT = s.NS, s.nullable(s.INT)
TAX_QUERY = s.obj(
    {
        "page": s.INT,
        "totalRecords": s.INT,
        "totalPageNum": s.INT,
        "data": s.arr(
            s.obj(
                {
                    "asset": s.S,
                    "amount": s.DEC,
                    "type": {"type": "string", "enum": ["spot", "futures"]},
                    "uid": s.S,
                    "time": {"type": "string", "pattern": "^[0-9]{8}$"},
                }
            )
        ),
    }
)
REBATE_DETAIL = s.obj(
    {
        "page": s.INT,
        "totalRecords": s.INT,
        "totalPageNum": s.INT,
        "data": s.arr(
            s.obj(
                {
                    "tradeId": s.S,
                    "orderId": s.S,
                    "uid": s.S,
                    "symbol": s.S,
                    "side": s.S,
                    "isMaker": s.B,
                    "asset": s.S,
                    "commission": s.DEC,
                    "amount": s.DEC,
                    "rate": s.DEC,
                    "status": {"type": "string", "enum": [x.value for x in d.RebateStatus]},
                    "tradeTime": s.INT,
                    "settleTime": _NINT,
                    "settlementId": _NS,
                    "type": s.S,
                }
            )
        ),
    }
)
BROKER_INFO = s.obj(
    {
        "brokerId": s.S,
        "name": s.S,
        "code": _NS,
        "brokerType": {"type": "string", "enum": [x.value for x in d.BrokerType]},
        "status": {"type": "string", "enum": [x.value for x in d.BrokerStatus]},
        "uid": s.S,
        "rebateUid": s.S,
        "rebateRate": s.DEC,
        "rateHistory": s.arr(s.obj({"rate": s.DEC, "effectiveFrom": s.INT, "note": s.S})),
        "createTime": s.INT,
    },
    required=["brokerId", "name", "brokerType", "status", "uid", "rebateUid", "rebateRate"],
)
KEY = s.obj(
    {
        "apiKey": s.S,
        "note": s.S,
        "permissions": s.S,
        "ip": s.S,
        "symbols": s.S,
        "createTime": s.INT,
        "creatTime": s.INT,
        "expireTime": _NINT,
        "brokerId": _NS,
    }
)
BINDING = s.obj({"apiKey": s.S, "brokerId": _NS}, required=["apiKey", "brokerId"])
_BOOL = ("true", "false")

ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "GET",
        "/api/v3/broker/rebate/taxQuery",
        tax_query,
        (*_WINDOW, P("pageSize", "int", minimum=1, maximum=1000)),
        True,
        READ,
        "Broker rebate history: daily totals per user and asset (MEXC)",
        TAX_QUERY,
    ),
    Endpoint(
        "GET",
        "/api/v3/broker/rebate/detail",
        rebate_detail,
        (
            *_WINDOW,
            P("pageSize", "int", minimum=1, maximum=500),
            P("asset", "str"),
            P("status", "enum", enum=tuple(x.value for x in d.RebateStatus)),
            P("uid", "int", minimum=0),
        ),
        True,
        READ,
        "Per-trade rebate records with settlement status (Bourse)",
        REBATE_DETAIL,
    ),
    Endpoint(
        "POST",
        "/api/v3/broker/apply",
        apply,
        (
            P("brokerType", "enum", True, enum=tuple(x.value for x in d.BrokerType)),
            P("name", "str", True),
            P("code", "str"),
            P("rebateUid", "int", minimum=0),
            P("logoUrl", "str"),
            P("callbackUrl", "str"),
            P("note", "str"),
        ),
        True,
        WRITE,
        "Apply to become a broker (Bourse)",
        BROKER_INFO,
    ),
    Endpoint(
        "GET",
        "/api/v3/broker/info",
        info,
        (),
        True,
        READ,
        "Broker status and rates (Bourse)",
        BROKER_INFO,
    ),
    Endpoint(
        "GET",
        "/api/v3/broker/apiKey/bound",
        bound_keys,
        (P("includeUnbound", "enum", enum=_BOOL),),
        True,
        READ,
        "API keys bound to the calling broker, without secrets (Bourse)",
        s.obj({"brokerId": s.S, "apiKeys": s.arr(s.obj({"apiKey": s.S, "uid": s.S}, extra=True))}),
    ),
    Endpoint(
        "DELETE",
        "/api/v3/broker/apiKey/bound",
        release_key,
        (P("apiKey", "str", True),),
        True,
        WRITE,
        "Release a key bound to the calling broker (Bourse)",
        BINDING,
    ),
    Endpoint(
        "POST",
        "/api/v3/user/apiKey",
        create_key,
        (
            P("permissions", "str", True),
            P("note", "str", True),
            P("ip", "str"),
            P("symbols", "str", description="comma-separated pairs the key may trade (max 30)"),
            P("expireTime", "int", minimum=0),
        ),
        True,
        WRITE,
        "Create an API key of your own account (Bourse)",
        s.obj({**KEY["properties"], "apikey": s.S, "secretKey": s.S}),
    ),
    Endpoint(
        "GET",
        "/api/v3/user/apiKey",
        list_keys,
        (),
        True,
        READ,
        "Your API keys, without secrets (Bourse)",
        s.obj({"apiKeys": s.arr(KEY)}),
    ),
    Endpoint(
        "DELETE",
        "/api/v3/user/apiKey",
        delete_key,
        (P("apiKey", "str", True),),
        True,
        WRITE,
        "Delete one of your API keys; its binding is closed (Bourse)",
        s.obj({"apiKey": s.S}),
    ),
    Endpoint(
        "POST",
        "/api/v3/user/apiKey/renew",
        renew,
        (
            P("apiKey", "str", True),
            P("expireTime", "int", minimum=0),
            P("rotateSecret", "enum", enum=_BOOL),
        ),
        True,
        WRITE,
        "Renew a key: extend its expiry and/or rotate its secret; it stays bound (Bourse)",
        s.obj({"apiKey": s.S, "expireTime": _NINT, "brokerId": _NS}),
    ),
    Endpoint(
        "POST",
        "/api/v3/user/apiKey/bind",
        bind,
        (P("brokerId", "int", True, minimum=1), P("apiKey", "str")),
        True,
        WRITE,
        "Bind an API key to a broker; a key can be bound only once (Bourse)",
        BINDING,
    ),
    Endpoint(
        "GET",
        "/api/v3/user/apiKey/bind",
        binding,
        (P("apiKey", "str"),),
        True,
        READ,
        "The broker an API key is bound to (Bourse)",
        BINDING,
    ),
    Endpoint(
        "DELETE",
        "/api/v3/user/apiKey/bind",
        unbind,
        (P("apiKey", "str"),),
        True,
        WRITE,
        "Unbind an API key from its broker (recorded; the key cannot be bound again) (Bourse)",
        BINDING,
    ),
]
