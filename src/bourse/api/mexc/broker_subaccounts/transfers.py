"""Universal transfers inside a tenant (master <-> sub, sub <-> sub) and their history, and a
sub-account's spot balances."""

from __future__ import annotations

from typing import Any

from bourse.api.mexc import schemas as s
from bourse.api.mexc.broker_subaccounts.common import (
    AR,
    END,
    INT,
    NS,
    PAGE,
    START,
    SUB_REQ,
    TR,
    TW,
    TYPES,
    S,
    broker_tenant,
    run,
    units,
)
from bourse.api.mexc.context import Ctx, Endpoint
from bourse.api.mexc.errors import invalid
from bourse.api.mexc.params import P
from bourse.api.mexc.replay import replay_key
from bourse.domain.money import format_units
from bourse.services.subaccounts import Tenant
from bourse.services.wallet import format_id


async def transfer_id(ctx: Ctx, t: Tenant) -> str:
    p = ctx.params
    amount = await run(units, ctx, p["asset"], p["amount"])
    tid = await run(
        ctx.services.subaccounts.transfers.transfer,
        t,
        p.get("fromAccount"),
        p.get("toAccount"),
        p["fromAccountType"],
        p["toAccountType"],
        p["asset"],
        amount,
        p.get("clientTranId", ""),
        replay=replay_key(ctx),
    )
    return format_id(tid)


async def transfer(ctx: Ctx) -> Any:
    return {"tranId": await transfer_id(ctx, await broker_tenant(ctx))}


async def transfer_rows(ctx: Ctx, t: Tenant) -> list[dict[str, Any]]:
    p = ctx.params
    start, end = p.get("startTime"), p.get("endTime")
    if start is not None and end is not None and start > end:
        raise invalid("startTime", "must not be after endTime")
    rows = await run(
        ctx.services.subaccounts.transfers.history,
        t,
        p.get("fromAccount"),
        p.get("toAccount"),
        p["fromAccountType"],
        p["toAccountType"],
        start=start,
        end=end,
        page=p.get("page", 1),
        limit=p.get("limit", 500),
        client_id=p.get("clientTranId"),
    )
    wallet = ctx.services.wallet
    out = []
    for r in rows:
        v = r["view"]
        scale = (await run(wallet.asset, v.asset)).scale
        out.append(
            {
                "tranId": format_id(v.id),
                "fromAccount": r["from"] or str(t.master),
                "toAccount": r["to"] or str(t.master),
                "clientTranId": v.client_id or None,
                "asset": v.asset,
                "amount": format_units(v.amount, scale),
                "fromAccountType": v.from_type,
                "toAccountType": v.to_type,
                "fromSymbol": None,
                "toSymbol": None,
                "status": "SUCCESS",
                "timestamp": v.time,
            }
        )
    return out


async def transfer_history(ctx: Ctx) -> Any:
    return await transfer_rows(ctx, await broker_tenant(ctx))


async def broker_assets(ctx: Ctx) -> Any:
    return await balances(ctx, await broker_tenant(ctx))


async def balances(ctx: Ctx, t: Tenant) -> Any:
    sub = await run(ctx.services.subaccounts.get, t, ctx.params.get("subAccount"))

    def snap(engine: Any) -> list[tuple[str, int, int, int]]:
        wallet = engine.wallet
        return [
            (a, av, lk, wallet.assets[a].scale)
            for a, (av, lk) in sorted(
                engine.exchange.ledger.account_balances(sub.account_id).items()
            )
            if a in wallet.assets and (av or lk)
        ]

    rows = await ctx.read(snap)
    return {
        "balances": [
            {"asset": a, "free": format_units(av, sc), "locked": format_units(lk, sc)}
            for a, av, lk, sc in rows
        ]
    }


TRANSFER_ROW = s.obj(
    {
        "tranId": S,
        "fromAccount": S,
        "toAccount": S,
        "clientTranId": NS,
        "asset": S,
        "amount": s.DEC,
        "fromAccountType": S,
        "toAccountType": S,
        "status": S,
        "timestamp": INT,
    }
)
BALANCES = s.obj({"balances": s.arr(s.obj({"asset": S, "free": s.DEC, "locked": s.DEC}))})
TRANSFER_PARAMS = (
    P("clientTranId", "client_id"),
    P("fromAccount"),
    P("toAccount"),
    P("fromAccountType", "enum", True, enum=TYPES),
    P("toAccountType", "enum", True, enum=TYPES),
    P("asset", required=True),
    P("amount", "decimal", True),
)
HISTORY_PARAMS = (
    P("fromAccount", description="a sub-account; none: the master; * (Bourse): any"),
    P("toAccount", description="a sub-account; none: the master; * (Bourse): any"),
    P("fromAccountType", "enum", True, enum=TYPES),
    P("toAccountType", "enum", True, enum=TYPES),
    START,
    END,
    PAGE,
    P("limit", "int", minimum=1, maximum=500),
    P("clientTranId", "client_id"),
)

ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "POST",
        "/api/v3/broker/sub-account/universalTransfer",
        transfer,
        TRANSFER_PARAMS,
        True,
        TW,
        "Universal transfer master <-> sub and sub <-> sub (MEXC broker)",
        s.obj({"tranId": S}),
        claims_signature=False,  # the transfer claims its key (Transfer.replay)
    ),
    Endpoint(
        "GET",
        "/api/v3/broker/sub-account/universalTransfer",
        transfer_history,
        HISTORY_PARAMS,
        True,
        TR,
        "Universal transfer history (MEXC broker)",
        s.arr(TRANSFER_ROW),
    ),
    Endpoint(
        "GET",
        "/api/v3/broker/sub-account/assets",
        broker_assets,
        (SUB_REQ, P("accountType", "enum", enum=("SPOT",))),
        True,
        AR,
        "A sub-account's spot balances (undocumented by MEXC, called by clients) (Bourse)",
        BALANCES,
    ),
]
