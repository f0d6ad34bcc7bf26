"""Internal transfer to another user (reference section 2.8): ``POST capital/transfer/internal``
answers ``{"tranId"}``; ``GET capital/transfer/internal`` the paged history
``{page, totalRecords, totalPageNum, data: [...]}`` of transfers sent and received.

The service is ``ctx.services.internal_transfers`` (``bourse.services.wallet.internal``). MEXC
takes no client id here, so a request is made idempotent by its signature: the same signed
request replayed (within its recvWindow, the only time it authenticates) answers the first
``tranId`` and moves nothing again. Bearer (OAuth) requests carry no signature: each is new.
"""

from __future__ import annotations

from typing import Any

from bourse.api.mexc import schemas as s
from bourse.api.mexc.capital_service import call, units, wallet_of
from bourse.api.mexc.capital_wire import DEC, END, INT, START, STR
from bourse.api.mexc.context import Ctx, Endpoint
from bourse.api.mexc.params import PAGE, P
from bourse.api.mexc.replay import request_key
from bourse.domain.money import format_units
from bourse.services.wallet import format_id, parse_id
from bourse.services.wallet.internal import TARGET_TYPES, InternalTransferView

WR, WW = "SPOT_WITHDRAW_READ", "SPOT_WITHDRAW_WRITE"
PATH = "/api/v3/capital/transfer/internal"


async def internal_transfer(ctx: Ctx) -> Any:
    p = ctx.params
    amount = await call(units, wallet_of(ctx), p["asset"], p["amount"])
    v = await call(
        ctx.services.internal_transfers.transfer,
        ctx.account,
        p["toAccountType"],
        p["toAccount"],
        p["asset"],
        amount,
        request_key=request_key(ctx),
    )
    return {"tranId": format_id(v.transfer_id)}


def internal_json(v: InternalTransferView, scale: int) -> dict[str, Any]:
    return {
        "tranId": format_id(v.transfer_id),
        "asset": v.asset,
        "amount": format_units(v.amount, scale),
        "toAccountType": v.to_account_type,
        "toAccount": v.to_account_text,
        "fromAccount": str(v.from_account),
        "status": v.status,
        "timestamp": v.time,
    }


async def internal_history(ctx: Ctx) -> Any:
    p = ctx.params
    tran_id = p.get("tranId")
    tid = None if tran_id in (None, "") else await call(parse_id, tran_id, "tranId")
    page, limit = p.get("page", 1), p.get("limit", 10)
    rows, total = await call(
        ctx.services.internal_transfers.history,
        ctx.account,
        start=p.get("startTime"),
        end=p.get("endTime"),
        tran_id=tid,
        page=page,
        size=limit,
    )
    scales = {a.code: a.scale for a in await call(wallet_of(ctx).assets)}
    return {
        "page": page,
        "totalRecords": total,
        "totalPageNum": (total + limit - 1) // limit,
        "data": [internal_json(v, scales.get(v.asset, 0)) for v in rows],
    }


INTERNAL = s.obj(
    {
        "tranId": STR,
        "asset": STR,
        "amount": DEC,
        "toAccountType": STR,
        "toAccount": STR,
        "fromAccount": STR,
        "status": {"type": "string", "enum": ["SUCCESS", "FAILED", "WAIT"]},
        "timestamp": INT,
    }
)

ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "POST",
        PATH,
        internal_transfer,
        (
            P("toAccountType", "enum", required=True, enum=TARGET_TYPES),
            P("toAccount", required=True),
            P("areaCode"),
            P("asset", required=True),
            P("amount", "decimal", required=True),
        ),
        True,
        WW,
        "Internal transfer to another user (by UID or e-mail)",
        s.obj({"tranId": STR}),
        claims_signature=False,  # idempotent by its signature: a copy answers the first tranId
    ),
    Endpoint(
        "GET",
        PATH,
        internal_history,
        (
            START,
            END,
            PAGE,
            P("limit", "int", minimum=1, maximum=100),
            P("tranId"),
        ),
        True,
        WR,
        "Internal transfer history (sent and received)",
        s.obj({"page": INT, "totalRecords": INT, "totalPageNum": INT, "data": s.arr(INTERNAL)}),
    ),
]
