"""The affiliate endpoints (``GET /api/v3/rebate/affiliate/...``, section 2.11) over the user
referral data (``services.referrals``): every account is the affiliate of its own refer code.

All answer in MEXC's affiliate envelope ``{"success":true,"code":0,"message":null,"data":
{pageSize,totalCount,totalPage,currentPage,resultList}}``. Amounts in USDT count USDT (rebates
valued at their trade's price, USDT deposits, withdrawals and USDT-quoted volume); futures and
ETF are ``"0"`` on a spot-only venue. See docs/decisions.md ("Affiliate endpoints").
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from bourse.api.mexc import schemas as s
from bourse.api.mexc.context import Ctx, Endpoint
from bourse.api.mexc.errors import invalid
from bourse.api.mexc.params import P
from bourse.api.mexc.rebate import READ, WINDOW, ZERO, pages, paging, scale, usdt, window
from bourse.domain import referrals as d
from bourse.domain.money import format_units

DAY_MS = 86_400_000
SIX_MONTHS_MS = 183 * DAY_MS
WEEK_MS = 7 * DAY_MS
MAX_SPAN_MS = 30 * DAY_MS  # commission/detail and referral: at most 30 days per query
MAX_DETAIL_ROWS = 100_000
#: MEXC's balance brackets for ``referral``'s ``asset`` (USDT)
_BRACKETS = (
    (0, "0 USDT"),
    (1_000, "1-1,000 USDT"),
    (10_000, "1,000 - 10,000 USDT"),
    (50_000, "10,000 - 50,000 USDT"),
    (100_000, "50,000 - 100,000 USDT"),
    (500_000, "100,000 - 500,000 USDT"),
    (1_000_000, "500,000 - 1,000,000 USDT"),
    (5_000_000, "1,000,000 - 5,000,000 USDT"),
)
FILTERS = (P("inviteCode", "str"), P("uid", "int", minimum=0))


def envelope(page: int, size: int, total: int, rows: list[Any], **extra: Any) -> Any:
    return {
        "success": True,
        "code": 0,
        "message": None,
        "data": {
            "pageSize": size,
            "totalCount": total,
            "totalPage": pages(total, size),
            "currentPage": page,
            **extra,
            "resultList": rows,
        },
    }


def bounded(ctx: Ctx, default_span: int, max_span: int | None = None) -> tuple[int, int]:
    start, end = window(ctx, default_span)
    if max_span is not None and end - start > max_span:
        raise invalid("endTime", "the window cannot exceed 30 days")
    return start, end


def day(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(int(ms) / 1000, UTC).strftime("%Y-%m-%d")


def bracket(ctx: Ctx, units: int) -> str:
    whole = units // 10 ** scale(ctx, d.VALUE_ASSET)
    if units == 0:
        return "0 USDT"
    for top, label in _BRACKETS[1:]:
        if whole < top:
            return label
    return ">5,000,000 USDT"


async def commission(ctx: Ctx) -> Any:
    page, size = paging(ctx)
    start, end = bounded(ctx, SIX_MONTHS_MS)
    p, refs = ctx.params, ctx.services.referrals
    total, rows = await ctx.db(
        refs.invitees, ctx.account, start, end, page, size,
        invitee=p.get("uid"), code=p.get("inviteCode"),
    )  # fmt: skip
    act = await ctx.db(refs.activity, [int(r.invitee_account) for r in rows], start, end)
    out = []
    for r in rows:
        a = act[int(r.invitee_account)]
        out.append(
            {
                "uid": str(r.invitee_account),
                "account": d.mask_account(r.name or ""),
                "inviteCode": r.refer_code,
                "inviteTime": int(r.invited_at),
                "spot": usdt(ctx, r.usdt),
                "etf": ZERO,
                "futures": ZERO,
                "total": usdt(ctx, r.usdt),
                "deposit": usdt(ctx, a["deposit"]) if a["first_deposit"] is not None else None,
                "firstDepositTime": day(a["first_deposit"]),
            }
        )
    return envelope(
        page, size, total, out,
        usdtAmount=None, totalCommissionUsdtAmount=None, totalTradeUsdtAmount=None, finished=None,
    )  # fmt: skip


async def withdraw(ctx: Ctx) -> Any:
    page, size = paging(ctx)
    start, end = bounded(ctx, SIX_MONTHS_MS)
    total, rows = await ctx.db(
        ctx.services.referrals.payouts_to, ctx.account, start, end, page, size
    )
    return envelope(
        page,
        size,
        total,
        [
            {
                "withdrawTime": int(r.paid_at),
                "asset": r.asset,
                "amount": format_units(int(r.amount), scale(ctx, r.asset)),
            }
            for r in rows
        ],
    )


async def commission_detail(ctx: Ctx) -> Any:
    page, size = paging(ctx)
    start, end = bounded(ctx, WEEK_MS, MAX_SPAN_MS)
    kind = ctx.params.get("type")
    rows = []
    if kind in (None, "1"):
        rows = await ctx.db(
            ctx.services.referrals.commission_rows,
            ctx.account, start, end, MAX_DETAIL_ROWS, ctx.params.get("inviteCode"),
        )  # fmt: skip
    groups: dict[tuple[int, int, str, str], dict[str, Any]] = defaultdict(
        lambda: {"taker": 0, "maker": 0, "usdt_trade": 0, "commission": 0, "usdt": 0}
    )
    meta: dict[tuple[int, int, str, str], Any] = {}
    total_usdt = total_trade = 0
    for r in rows:
        key = (int(r.trade_time) // DAY_MS * DAY_MS, int(r.invitee_account), r.symbol, r.asset)
        g = groups[key]
        traded = int(r.quote_qty)
        g["taker" if int(r.side) == int(r.taker_side) else "maker"] += traded
        if r.quote == d.VALUE_ASSET:
            g["usdt_trade"] += traded
            total_trade += traded
        g["commission"] += int(r.amount)
        g["usdt"] += int(r.usdt)
        total_usdt += int(r.usdt)
        g["paid"] = g.get("paid", True) and r.status == d.KickbackStatus.PAID.value
        meta[key] = r
    ordered = sorted(groups, key=lambda k: (-k[0], k[1], k[2], k[3]))
    out = []
    for key in ordered[(page - 1) * size : page * size]:
        g, r = groups[key], meta[key]
        qs = scale(ctx, r.quote)
        out.append(
            {
                "type": 1,
                "sourceType": 1,
                "state": 2 if g["paid"] else 1,
                "date": key[0],
                "uid": str(key[1]),
                "rate": format_units(int(r.rate_ppm), 6),
                "symbol": key[2],
                "takerAmount": format_units(g["taker"], qs),
                "makerAmount": format_units(g["maker"], qs),
                "amountCurrency": r.quote,
                "usdtAmount": usdt(ctx, g["usdt_trade"]),
                "commission": format_units(g["commission"], scale(ctx, key[3])),
                "currency": key[3],
            }
        )
    return envelope(
        page, size, len(groups), out,
        totalCommissionUsdtAmount=usdt(ctx, total_usdt),
        totalTradeUsdtAmount=usdt(ctx, total_trade),
    )  # fmt: skip


async def referral(ctx: Ctx) -> Any:
    page, size = paging(ctx)
    start, end = bounded(ctx, WEEK_MS, MAX_SPAN_MS)
    p, refs = ctx.params, ctx.services.referrals
    total, rows = await ctx.db(
        refs.invitee_page, ctx.account, start, end, page, size,
        invitee=p.get("uid"), code=p.get("inviteCode"),
    )  # fmt: skip
    ids = [int(r.invitee_account) for r in rows]
    act = await ctx.db(refs.activity, ids, start, end)
    out = []
    for r in rows:
        uid = int(r.invitee_account)
        a = act[uid]
        _, earned = await ctx.db(refs.invitees, ctx.account, start, end, 1, 1, invitee=uid)
        out.append(
            {
                "uid": str(uid),
                "nickName": None,
                "email": d.mask_account(r.name or ""),
                "registerTime": int(r.invited_at),
                "inviteCode": r.refer_code,
                "depositAmount": usdt(ctx, a["deposit"]),
                "tradingAmount": usdt(ctx, a["volume"]),
                "commission": usdt(ctx, earned[0].usdt if earned else 0),
                "firstDepositTime": a["first_deposit"],
                "firstTradeTime": a["first_trade"],
                "lastDepositTime": a["last_deposit"],
                "lastTradeTime": a["last_trade"],
                "withdrawAmount": usdt(ctx, a["withdraw"]),
                "asset": bracket(ctx, a["balance"]),
                "identification": 1,
            }
        )
    return envelope(page, size, total, out)


async def subaffiliates(ctx: Ctx) -> Any:
    page, size = paging(ctx)
    start, end = bounded(ctx, SIX_MONTHS_MS)
    refs = ctx.services.referrals
    total, rows = await ctx.db(
        refs.sub_affiliates, ctx.account, page, size, ctx.params.get("inviteCode")
    )
    theirs = await ctx.db(refs.invitees_of, [int(r.invitee_account) for r in rows])
    everyone = sorted({x for v in theirs.values() for x in v})
    act = await ctx.db(refs.activity, everyone, start, end)
    out = []
    for r in rows:
        invitees = theirs[int(r.invitee_account)]
        deposits = [act[x]["deposit"] for x in invitees]
        masked = d.mask_account(r.name or "")
        out.append(
            {
                "subaffiliateName": masked,
                "subaffiliateMail": masked,
                "campaign": "",
                "inviteCode": r.code or "",
                "activationTime": int(r.invited_at),
                "registered": int(r.registered),
                "deposited": sum(1 for x in deposits if x > 0),
                "depositAmount": usdt(ctx, sum(deposits)),
                "commission": ZERO,
            }
        )
    return envelope(page, size, total, out)


def affiliate_schema(item: dict[str, Any], **extra: Any) -> dict[str, Any]:
    data = s.obj(
        {
            "pageSize": s.INT,
            "totalCount": s.INT,
            "totalPage": s.INT,
            "currentPage": s.INT,
            **extra,
            "resultList": s.arr(s.obj(item)),
        }
    )
    return s.obj({"success": s.B, "code": s.INT, "message": s.NS, "data": data})


NINT = s.nullable(s.INT)
COMMISSION = affiliate_schema(
    {
        "uid": s.S, "account": s.S, "inviteCode": s.S, "inviteTime": s.INT, "spot": s.DEC,
        "etf": s.DEC, "futures": s.DEC, "total": s.DEC, "deposit": s.NDEC,
        "firstDepositTime": s.NS,
    },
    usdtAmount=s.NS, totalCommissionUsdtAmount=s.NS, totalTradeUsdtAmount=s.NS,
    finished=s.nullable(s.B),
)  # fmt: skip
WITHDRAW = affiliate_schema({"withdrawTime": s.INT, "asset": s.S, "amount": s.DEC})
DETAIL = affiliate_schema(
    {
        "type": s.INT, "sourceType": s.INT, "state": s.INT, "date": s.INT, "uid": s.S,
        "rate": s.DEC, "symbol": s.S, "takerAmount": s.DEC, "makerAmount": s.DEC,
        "amountCurrency": s.S, "usdtAmount": s.DEC, "commission": s.DEC, "currency": s.S,
    },
    totalCommissionUsdtAmount=s.DEC, totalTradeUsdtAmount=s.DEC,
)  # fmt: skip
REFERRAL = affiliate_schema(
    {
        "uid": s.S, "nickName": s.NS, "email": s.S, "registerTime": s.INT, "inviteCode": s.S,
        "depositAmount": s.DEC, "tradingAmount": s.DEC, "commission": s.DEC,
        "firstDepositTime": NINT, "firstTradeTime": NINT, "lastDepositTime": NINT,
        "lastTradeTime": NINT, "withdrawAmount": s.DEC, "asset": s.S, "identification": s.INT,
    }
)  # fmt: skip
SUBAFFILIATES = affiliate_schema(
    {
        "subaffiliateName": s.S, "subaffiliateMail": s.S, "campaign": s.S, "inviteCode": s.S,
        "activationTime": s.INT, "registered": s.INT, "deposited": s.INT,
        "depositAmount": s.DEC, "commission": s.DEC,
    }
)  # fmt: skip

BASE = "/api/v3/rebate/affiliate"
ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "GET", f"{BASE}/commission", commission, (*WINDOW, *FILTERS), True, READ,
        "Affiliate commission per invitee, in USDT (MEXC)", COMMISSION,
    ),
    Endpoint(
        "GET", f"{BASE}/withdraw", withdraw, WINDOW, True, READ,
        "Affiliate commission paid out to the spot account (MEXC)", WITHDRAW,
    ),
    Endpoint(
        "GET", f"{BASE}/commission/detail", commission_detail,
        (*WINDOW, *FILTERS, P("type", "enum", enum=("1", "2", "3"))), True, READ,
        "Affiliate commission per day, invitee, symbol and asset (MEXC)", DETAIL,
    ),
    Endpoint(
        "GET", f"{BASE}/referral", referral, (*WINDOW, *FILTERS), True, READ,
        "Affiliate referrals: invitees with deposits, volume and commission (MEXC)", REFERRAL,
    ),
    Endpoint(
        "GET", f"{BASE}/subaffiliates", subaffiliates, (*WINDOW, *FILTERS), True, READ,
        "Sub-affiliates: invitees who invited others (MEXC)", SUBAFFILIATES,
    ),
]  # fmt: skip
