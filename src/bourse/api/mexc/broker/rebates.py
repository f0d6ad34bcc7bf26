"""Rebate endpoints: MEXC's ``taxQuery`` (daily totals per day, user and asset) and the Bourse
per-trade ``rebate/detail`` with settlement status."""

from __future__ import annotations

from typing import Any

from bourse.api.mexc import schemas as s
from bourse.api.mexc.broker.common import (
    NINT,
    NS,
    READ,
    WINDOW,
    asset_scale,
    my_broker,
    page_count,
    page_params,
    rate_text,
    time_window,
)
from bourse.api.mexc.context import Ctx, Endpoint
from bourse.api.mexc.params import P
from bourse.domain import brokers as d
from bourse.domain.money import format_units
from bourse.domain.orders import BUY
from bourse.services.brokers import rebates as rb


async def tax_query(ctx: Ctx) -> Any:
    broker = await my_broker(ctx)
    page, size = page_params(ctx.params, 10)
    start, end = time_window(ctx.params)
    total, rows = await ctx.db(
        rb.daily, ctx.services.db, broker.id, start=start, end=end, page=page, page_size=size
    )
    return {
        "page": page,
        "totalRecords": total,
        "totalPageNum": page_count(total, size),
        "data": [
            {
                "asset": r["asset"],
                "amount": format_units(r["amount"], asset_scale(ctx, r["asset"])),
                "type": "spot",
                "uid": str(r["uid"]),
                "time": r["day"],
            }
            for r in rows
        ],
    }


async def rebate_detail(ctx: Ctx) -> Any:
    broker = await my_broker(ctx)
    p = ctx.params
    page, size = page_params(p, 100)
    start, end = time_window(p)
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
        scale = asset_scale(ctx, r["asset"])
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
                "rate": rate_text(r["rate_ppm"]),
                "status": r["status"],
                "tradeTime": r["trade_time"],
                "settleTime": r["settled_at"],
                "settlementId": r["settlement_key"],
                "type": "spot",
            }
        )
    return {
        "page": page,
        "totalRecords": total,
        "totalPageNum": page_count(total, size),
        "data": data,
    }


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
                    "settleTime": NINT,
                    "settlementId": NS,
                    "type": s.S,
                }
            )
        ),
    }
)

ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "GET",
        "/api/v3/broker/rebate/taxQuery",
        tax_query,
        (*WINDOW, P("pageSize", "int", minimum=1, maximum=1000)),
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
            *WINDOW,
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
]
