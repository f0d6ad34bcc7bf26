"""Universal transfer endpoints (``capital/transfer``): between an account's SPOT and FUTURES
wallets. ``POST capital/transfer`` answers ``{"tranId"}`` and ``GET capital/transfer``
``{"rows": [...], "total"}`` (the docs wrap both in a list; the live API and ccxt do not).
"""

from __future__ import annotations

from typing import Any

from bourse.api.mexc import schemas as s
from bourse.api.mexc.capital_service import call, units, wallet_of
from bourse.api.mexc.capital_wire import END, INT, START, STR, TRANSFER, transfer_json
from bourse.api.mexc.context import Ctx, Endpoint
from bourse.api.mexc.params import PAGE, P
from bourse.api.mexc.replay import replay_key
from bourse.services.wallet import format_id, parse_id

ACCOUNT_TYPE = ("SPOT", "FUTURES")
TR, TW = "SPOT_TRANSFER_READ", "SPOT_TRANSFER_WRITE"


async def transfer(ctx: Ctx) -> Any:
    svc, p = wallet_of(ctx), ctx.params
    amount = await call(units, svc, p["asset"], p["amount"])
    v = await call(
        svc.universal_transfer,
        ctx.account,
        p["fromAccountType"],
        p["toAccountType"],
        p["asset"],
        amount,
        client_id=p.get("clientTranId", ""),
        replay=replay_key(ctx),
    )
    return {"tranId": format_id(v.id)}


async def transfer_history(ctx: Ctx) -> Any:
    svc, p = wallet_of(ctx), ctx.params
    rows, total = await call(
        svc.transfer_history,
        ctx.account,
        p["fromAccountType"],
        p["toAccountType"],
        start=p.get("startTime"),
        end=p.get("endTime"),
        page=p.get("page", 1),
        size=p.get("size", 10),
    )
    scales = {a.code: a.scale for a in await call(svc.assets)}
    return {"rows": [transfer_json(v, scales.get(v.asset, 0)) for v in rows], "total": total}


async def transfer_by_id(ctx: Ctx) -> Any:
    svc = wallet_of(ctx)
    tid = await call(parse_id, ctx.params["tranId"], "tranId")
    v = await call(svc.get_transfer, ctx.account, tid)
    scale = (await call(svc.asset, v.asset)).scale
    return transfer_json(v, scale, by_id=True)


ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "POST",
        "/api/v3/capital/transfer",
        transfer,
        (
            P("fromAccountType", "enum", required=True, enum=ACCOUNT_TYPE),
            P("toAccountType", "enum", required=True, enum=ACCOUNT_TYPE),
            P("asset", required=True),
            P("amount", "decimal", required=True),
            P("clientTranId", "client_id"),
            P("symbol"),
        ),
        True,
        TW,
        "Universal transfer between the account's SPOT and FUTURES wallets",
        s.obj({"tranId": STR}),
        claims_signature=False,  # the transfer claims its key (Transfer.replay)
    ),
    Endpoint(
        "GET",
        "/api/v3/capital/transfer",
        transfer_history,
        (
            P("fromAccountType", "enum", required=True, enum=ACCOUNT_TYPE),
            P("toAccountType", "enum", required=True, enum=ACCOUNT_TYPE),
            START,
            END,
            PAGE,
            P("size", "int", minimum=1, maximum=100),
        ),
        True,
        TR,
        "Universal transfer history",
        s.obj({"rows": s.arr(TRANSFER), "total": INT}),
    ),
    Endpoint(
        "GET",
        "/api/v3/capital/transfer/tranId",
        transfer_by_id,
        (P("tranId", required=True),),
        True,
        TR,
        "One universal transfer",
        TRANSFER,
    ),
]
