"""Dust conversion to MX (reference section 2.8): ``GET capital/convert/list`` (what each held
asset would give), ``POST capital/convert`` (``asset=A,B,...``, at most 15; answers
``{successList, failedList, totalConvert, convertFee}``) and ``GET capital/convert`` (the paged
dust log ``{data: [{totalConvert, totalFee, convertTime, convertDetails}], totalRecords, page,
totalPageNum}``).

The rules are ``bourse.domain.dust``; the conversion is one engine command (``ConvertDust``):
the dust desk takes each asset and pays its MX, less MEXC's fee, in the same commit. A price it
needs that strays from its reference price refuses the request (26, ``DustPriceUnsettled``).
"""

from __future__ import annotations

from typing import Any

from bourse.api.mexc import schemas as s
from bourse.api.mexc.capital_wire import DEC, END, INT, START, STR
from bourse.api.mexc.context import Ctx, Endpoint
from bourse.api.mexc.errors import ApiError
from bourse.api.mexc.params import PAGE, P, invalid
from bourse.domain.dust import MAX_ASSETS, DustConversion, dust_prices, quote
from bourse.domain.money import format_units
from bourse.domain.mx import MX, USDT
from bourse.engine import commands as c

PATH = "/api/v3/capital/convert"
AR, AW, DR = "SPOT_ACCOUNT_READ", "SPOT_ACCOUNT_WRITE", "SPOT_DEAL_READ"


async def convertible(ctx: Ctx) -> Any:
    """Every asset the account holds (MX aside), what converting it would pay, and why not when
    it cannot (``code``/``message``, null when it can)."""
    account = ctx.account

    def snap(engine: Any) -> list[dict[str, Any]]:
        ex, assets = engine.exchange, engine.wallet.assets
        mx, usdt = assets[MX].scale, assets[USDT].scale
        bands = dust_prices(assets, ex.references, ex.last_prices, engine.clock())
        out = []
        for code in sorted(assets):
            held = ex.ledger.available(account, code)
            if code == MX or held <= 0:
                continue
            q = quote(code, held, ex.symbols, bands, assets)
            out.append(
                {
                    "convertMx": format_units(max(q.net, 0), mx),
                    "convertUsdt": format_units(q.usdt, usdt),
                    "balance": format_units(held, assets[code].scale),
                    "asset": code,
                    "code": q.refusal[0] if q.refusal else None,
                    "message": q.refusal[1] if q.refusal else None,
                }
            )
        return out

    return await ctx.read(snap)


def _assets(raw: str) -> tuple[str, ...]:
    codes = [x.strip().upper() for x in raw.split(",")]
    if not all(codes):
        raise invalid("asset", "a comma-separated list of assets")
    if len(codes) > MAX_ASSETS:
        raise invalid("asset", f"at most {MAX_ASSETS} assets")
    return tuple(codes)


async def convert(ctx: Ctx) -> Any:
    assets = _assets(ctx.params["asset"])
    done: DustConversion = await ctx.services.engine.run(c.ConvertDust(ctx.account, assets))
    mx = ctx.services.engine.wallet.assets[MX].scale
    return {
        "successList": [q.asset for q in done.converted],
        "failedList": list(done.failed),
        "totalConvert": format_units(done.total, mx),
        "convertFee": format_units(done.fee, mx),
    }


async def dust_log(ctx: Ctx) -> Any:
    p = ctx.params
    start, end = p.get("startTime"), p.get("endTime")
    if start is not None and end is not None and end < start:
        raise ApiError(-1128, "Combination of optional parameters invalid.")
    page, limit = p.get("page", 1), p.get("limit", 1)
    groups, total = await ctx.db(
        ctx.services.queries.dust_log, ctx.account, start, end, page, limit
    )
    scales = {code: a.scale for code, a in ctx.services.engine.wallet.assets.items()}
    mx = scales[MX]
    data = []
    for rows in groups:
        data.append(
            {
                "totalConvert": format_units(sum(r["convert"] for r in rows), mx),
                "totalFee": format_units(sum(r["fee"] for r in rows), mx),
                "convertTime": rows[0]["time"],
                "convertDetails": [
                    {
                        "id": f"{r['id']}-{r['line'] + 1}",
                        "convert": format_units(r["convert"], mx),
                        "fee": format_units(r["fee"], mx),
                        "amount": format_units(r["amount"], scales.get(r["asset"], 0)),
                        "time": r["time"],
                        "asset": r["asset"],
                    }
                    for r in rows
                ],
            }
        )
    return {
        "data": data,
        "totalRecords": total,
        "page": page,
        "totalPageNum": (total + limit - 1) // limit,
    }


NSTR = s.nullable(s.S)
CONVERTIBLE = s.obj(
    {
        "convertMx": DEC,
        "convertUsdt": DEC,
        "balance": DEC,
        "asset": STR,
        "code": NSTR,
        "message": NSTR,
    }
)
DETAIL = s.obj({"id": STR, "convert": DEC, "fee": DEC, "amount": DEC, "time": INT, "asset": STR})
LOG = s.obj(
    {
        "data": s.arr(
            s.obj(
                {
                    "totalConvert": DEC,
                    "totalFee": DEC,
                    "convertTime": INT,
                    "convertDetails": s.arr(DETAIL),
                }
            )
        ),
        "totalRecords": INT,
        "page": INT,
        "totalPageNum": INT,
    }
)

ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "GET",
        PATH + "/list",
        convertible,
        (),
        True,
        AR,
        "Assets the account could convert into MX, and what each would give",
        s.arr(CONVERTIBLE),
    ),
    Endpoint(
        "POST",
        PATH,
        convert,
        (P("asset", required=True, description=f"comma-separated, at most {MAX_ASSETS}"),),
        True,
        AW,
        "Convert small balances (each worth under 5 USDT) into MX, 0.2% fee",
        s.obj(
            {
                "successList": s.arr(STR),
                "failedList": s.arr(STR),
                "totalConvert": DEC,
                "convertFee": DEC,
            }
        ),
        10,
    ),
    Endpoint(
        "GET",
        PATH,
        dust_log,
        (START, END, PAGE, P("limit", "int", minimum=1, maximum=1000)),
        True,
        DR,
        "Dust conversion history (newest first; limit default 1, max 1000)",
        LOG,
    ),
]
