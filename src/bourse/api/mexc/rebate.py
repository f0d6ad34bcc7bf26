"""The user referral endpoints (section 2.11, not the broker's): ``rebate/taxQuery`` (the
caller's rebate per invitee, in USDT), ``rebate/detail`` (one row per rebate the caller earned
on an invitee's fee), ``rebate/detail/kickback`` (the caller's own kickback as an invitee) and
``rebate/referCode``. Bare objects, as MEXC sends them. Amounts are accrued and paid by
``services.referrals``; see docs/decisions.md ("User referrals").
"""

from __future__ import annotations

from typing import Any

from bourse.api.mexc import schemas as s
from bourse.api.mexc.context import Ctx, Endpoint
from bourse.api.mexc.errors import invalid
from bourse.api.mexc.params import P
from bourse.domain import referrals as d
from bourse.domain.money import format_units

READ = "SPOT_ACCOUNT_READ"
#: futures and ETF rebates: a spot-only venue has none
ZERO = "0"

WINDOW = (
    P("startTime", "int", minimum=0),
    P("endTime", "int", minimum=0),
    P("page", "int", minimum=1, maximum=1_000_000),
    P("pageSize", "int", minimum=1, maximum=1000, clamp=True),
)


def scale(ctx: Ctx, asset: str) -> int:
    a = ctx.services.engine.wallet.assets.get(asset)
    return a.scale if a is not None else 8


def usdt(ctx: Ctx, units: int) -> str:
    return format_units(int(units), scale(ctx, d.VALUE_ASSET))


def window(ctx: Ctx, span: int | None = None) -> tuple[int, int]:
    start, end = ctx.params.get("startTime"), ctx.params.get("endTime")
    if start is not None and end is not None and start > end:
        raise invalid("startTime", "must not be after endTime")
    if span is None:
        return ctx.services.referrals.window(start, end)
    return ctx.services.referrals.window(start, end, span)


def paging(ctx: Ctx) -> tuple[int, int]:
    return ctx.params.get("page", 1), ctx.params.get("pageSize", 10)


def pages(total: int, size: int) -> int:
    return (total + size - 1) // size


async def tax_query(ctx: Ctx) -> Any:
    page, size = paging(ctx)
    start, end = window(ctx)
    total, rows = await ctx.db(ctx.services.referrals.invitees, ctx.account, start, end, page, size)
    return {
        "page": page,
        "totalRecords": total,
        "totalPageNum": pages(total, size),
        "data": [
            {
                "spot": usdt(ctx, r.usdt),
                "futures": ZERO,
                "total": usdt(ctx, r.usdt),
                "uid": str(r.invitee_account),
                "account": d.mask_account(r.name or ""),
                "inviteTime": int(r.invited_at),
            }
            for r in rows
        ],
    }


def _records(kind: d.Kind) -> Any:
    async def records(ctx: Ctx) -> Any:
        page, size = paging(ctx)
        start, end = window(ctx)
        total, rows = await ctx.db(
            ctx.services.referrals.records, ctx.account, kind, start, end, page, size
        )
        return {
            "page": page,
            "totalRecords": total,
            "totalPageNum": pages(total, size),
            "data": [
                {
                    "asset": r.asset,
                    "type": "spot",
                    "rate": format_units(int(r.rate_ppm), 6),
                    "amount": format_units(int(r.amount), scale(ctx, r.asset)),
                    "uid": str(r.invitee_account),
                    "account": d.mask_account(r.name or ""),
                    "tradeTime": int(r.trade_time),
                    "updateTime": int(r.paid_at if r.paid_at is not None else r.created),
                }
                for r in rows
            ],
        }

    return records


async def refer_code(ctx: Ctx) -> Any:
    return {"referCode": await ctx.db(ctx.services.referrals.refer_code, ctx.account)}


def paged(item: dict[str, Any]) -> dict[str, Any]:
    return s.obj({"page": s.INT, "totalRecords": s.INT, "totalPageNum": s.INT, "data": s.arr(item)})


TAX_QUERY = paged(
    s.obj(
        {
            "spot": s.DEC,
            "futures": s.DEC,
            "total": s.DEC,
            "uid": s.S,
            "account": s.S,
            "inviteTime": s.INT,
        }
    )
)
DETAIL = paged(
    s.obj(
        {
            "asset": s.S,
            "type": {"type": "string", "enum": ["spot", "futures"]},
            "rate": s.DEC,
            "amount": s.DEC,
            "uid": s.S,
            "account": s.S,
            "tradeTime": s.INT,
            "updateTime": s.INT,
        }
    )
)

ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "GET",
        "/api/v3/rebate/taxQuery",
        tax_query,
        WINDOW,
        True,
        READ,
        "Referral rebate per invitee, in USDT (MEXC)",
        TAX_QUERY,
    ),
    Endpoint(
        "GET",
        "/api/v3/rebate/detail",
        _records(d.Kind.INVITER),
        WINDOW,
        True,
        READ,
        "Referral rebate records: the caller's share of its invitees' fees (MEXC)",
        DETAIL,
    ),
    Endpoint(
        "GET",
        "/api/v3/rebate/detail/kickback",
        _records(d.Kind.INVITEE),
        WINDOW,
        True,
        READ,
        "Self rebate records: the caller's own kickback as an invitee (MEXC)",
        DETAIL,
    ),
    Endpoint(
        "GET",
        "/api/v3/rebate/referCode",
        refer_code,
        (),
        True,
        READ,
        "The caller's refer code (MEXC)",
        s.obj({"referCode": s.S}),
    ),
]
