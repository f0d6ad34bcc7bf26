"""Sub-account management (MEXC broker API 1.2-1.3 and Bourse extensions): create, list,
status (read; freeze/unfreeze), enable futures, and the fee markup."""

from __future__ import annotations

from typing import Any

from bourse.api.mexc import schemas as s
from bourse.api.mexc.broker_subaccounts.common import (
    AR,
    AW,
    PAGE,
    SUB,
    SUB_REQ,
    S,
    broker_tenant,
    env,
    envelope,
    rate_units,
    run,
)
from bourse.api.mexc.context import Ctx, Endpoint
from bourse.api.mexc.params import P
from bourse.domain.money import format_units
from bourse.services.subaccounts import SubAccount, Tenant


async def create(ctx: Ctx) -> Any:
    p = ctx.params
    t = await broker_tenant(ctx)
    sub = await run(
        ctx.services.subaccounts.create, t, p.get("subAccount"), p.get("note"), p.get("password")
    )
    return envelope([{"subAccount": sub.name, "note": sub.note, "timestamp": str(sub.created)}])


async def list_(ctx: Ctx) -> Any:
    p = ctx.params
    t = await broker_tenant(ctx)
    subs = await run(
        ctx.services.subaccounts.list,
        t,
        name=p.get("subAccount"),
        page=p.get("page", 1),
        limit=p.get("limit", 10),
    )
    return envelope(
        [{"subAccount": x.name, "note": x.note, "timestamp": str(x.created)} for x in subs]
    )


def _status(sub: SubAccount) -> str:
    return "2" if sub.frozen else "1"


async def status(ctx: Ctx) -> Any:
    t = await broker_tenant(ctx)
    sub = await run(ctx.services.subaccounts.get, t, ctx.params.get("subAccount"))
    return {"status": _status(sub)}


async def set_status(ctx: Ctx) -> Any:
    p = ctx.params
    t = await broker_tenant(ctx)
    sub = await run(ctx.services.subaccounts.set_frozen, t, p.get("subAccount"), p["status"] == "2")
    return {"subAccount": sub.name, "status": _status(sub)}


async def futures(ctx: Ctx) -> Any:
    t = await broker_tenant(ctx)
    sub = await run(ctx.services.subaccounts.enable_futures, t, ctx.params.get("subAccount"))
    return envelope([{"subAccount": sub.name, "isFuturesEnabled": True, "timestamp": str(ctx.now)}])


async def _commission_json(ctx: Ctx, t: Tenant, sub: SubAccount) -> dict[str, Any]:
    maker, taker = await run(ctx.services.subaccounts.rates, t, sub)
    return {
        "subAccount": sub.name,
        "makerCommission": format_units(maker, 6),
        "takerCommission": format_units(taker, 6),
        "makerMarkup": format_units(sub.maker_markup, 6),
        "takerMarkup": format_units(sub.taker_markup, 6),
        "maxMarkup": format_units(t.max_markup_ppm, 6),
    }


async def commission_get(ctx: Ctx) -> Any:
    t = await broker_tenant(ctx)
    sub = await run(ctx.services.subaccounts.get, t, ctx.params.get("subAccount"))
    return await _commission_json(ctx, t, sub)


async def commission_set(ctx: Ctx) -> Any:
    p = ctx.params
    t = await broker_tenant(ctx)
    maker = await run(rate_units, p.get("makerMarkup", "0"), "makerMarkup")
    taker = await run(rate_units, p.get("takerMarkup", "0"), "takerMarkup")
    sub = await run(ctx.services.subaccounts.set_markup, t, p.get("subAccount"), maker, taker)
    return await _commission_json(ctx, t, sub)


SUB_ROW = s.obj({"subAccount": S, "note": S, "timestamp": S})
COMMISSION = s.obj(
    {
        "subAccount": S,
        "makerCommission": s.DEC,
        "takerCommission": s.DEC,
        "makerMarkup": s.DEC,
        "takerMarkup": s.DEC,
    }
)

ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "POST",
        "/api/v3/broker/sub-account/virtualSubAccount",
        create,
        (SUB, P("note"), P("password", description="MD5 hex fund password")),
        True,
        AW,
        "Create a sub-account (MEXC broker)",
        env(SUB_ROW),
    ),
    Endpoint(
        "GET",
        "/api/v3/broker/sub-account/list",
        list_,
        (SUB, PAGE, P("limit", "int", minimum=1, maximum=200)),
        True,
        AR,
        "List sub-accounts (MEXC broker)",
        env(SUB_ROW),
    ),
    Endpoint(
        "GET",
        "/api/v3/broker/sub-account/status",
        status,
        (SUB_REQ,),
        True,
        AR,
        "Sub-account status: 1 normal, 2 frozen (MEXC broker)",
        s.obj({"status": {"type": "string", "enum": ["1", "2"]}}),
    ),
    Endpoint(
        "POST",
        "/api/v3/broker/sub-account/status",
        set_status,
        (SUB_REQ, P("status", "enum", True, enum=("1", "2"))),
        True,
        AW,
        "Freeze (2) or unfreeze (1) a sub-account; freezing cancels its orders (Bourse)",
        s.obj({"subAccount": S, "status": S}),
    ),
    Endpoint(
        "POST",
        "/api/v3/broker/sub-account/futures",
        futures,
        (SUB_REQ,),
        True,
        AW,
        "Enable futures for a sub-account (MEXC broker)",
        env(s.obj({"subAccount": S, "isFuturesEnabled": s.B, "timestamp": S})),
    ),
    Endpoint(
        "GET",
        "/api/v3/broker/sub-account/commission",
        commission_get,
        (SUB_REQ,),
        True,
        AR,
        "A sub-account's fee rates: the master's plus the broker's markup (Bourse)",
        COMMISSION,
    ),
    Endpoint(
        "POST",
        "/api/v3/broker/sub-account/commission",
        commission_set,
        (SUB_REQ, P("makerMarkup", "decimal"), P("takerMarkup", "decimal")),
        True,
        AW,
        "Set a sub-account's fee markup (decimal rates, capped) (Bourse)",
        COMMISSION,
    ),
]
