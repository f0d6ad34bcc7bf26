"""Account endpoints (sections 2.6-2.7): account, tradeFee, mxDeduct, selfSymbols, uid, KYC
status.

``account`` lists only assets with a non-zero balance. ``free`` and ``available`` are both the
available balance. The wallet endpoints (``capital/...``) live in ``capital.py``.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from bourse.api.mexc import schemas as s
from bourse.api.mexc import wire
from bourse.api.mexc.context import Ctx, Endpoint
from bourse.api.mexc.params import P, invalid
from bourse.domain.money import format_units
from bourse.engine import commands as c

#: the network every asset is listed on until the simulated chain registers real ones
DEFAULT_NETWORK = "BOURSE"


async def account(ctx: Ctx) -> Any:
    acc_id = ctx.account

    def snap(engine: Any) -> tuple[bool, list[tuple[str, int, int, int]]]:
        acc = engine.wallet.accounts.get(acc_id)
        frozen = bool(acc and acc.frozen)
        bal = engine.exchange.ledger.balances
        rows = []
        for code in sorted(engine.wallet.assets):
            b = bal.get((acc_id, code))
            if b and (b[0] or b[1]):
                rows.append((code, engine.wallet.assets[code].scale, b[0], b[1]))
        return frozen, rows

    frozen, rows = await ctx.read(snap)
    # what THIS credential may do: a read-only key or OAuth token cannot trade or withdraw
    held = ctx.key.permissions if ctx.key is not None else frozenset()
    return {
        "makerCommission": None,
        "takerCommission": None,
        "buyerCommission": None,
        "sellerCommission": None,
        "canTrade": not frozen and "SPOT_DEAL_WRITE" in held,
        "canWithdraw": not frozen and "SPOT_WITHDRAW_WRITE" in held,
        "canDeposit": True,
        "updateTime": None,
        "accountType": "SPOT",
        "balances": [
            {
                "asset": code,
                "free": format_units(avail, scale),
                "locked": format_units(locked, scale),
                "available": format_units(avail, scale),
            }
            for code, scale, avail, locked in rows
        ],
        "permissions": ["SPOT"],
    }


async def trade_fee(ctx: Ctx) -> Any:
    ctx.symbol(ctx.params["symbol"])
    maker, taker = ctx.services.engine.exchange.fees.rates(ctx.account)
    # rates are JSON numbers here (MEXC); written from exact decimal strings, never floats
    body = (
        f'{{"data":{{"makerCommission":{wire.rate(maker)},"takerCommission":{wire.rate(taker)}}},'
        f'"code":0,"msg":"success","timestamp":{ctx.now}}}'
    )
    return Response(body, media_type="application/json")


def _mx_deduct_body(enabled: bool, now: int) -> dict[str, Any]:
    return {"data": {"mxDeductEnable": enabled}, "code": 0, "msg": "success", "timestamp": now}


async def mx_deduct_status(ctx: Ctx) -> Any:
    acc_id = ctx.account
    enabled = await ctx.read(lambda e: bool(e.wallet.account(acc_id).mx_deduct))
    return _mx_deduct_body(enabled, ctx.now)


async def mx_deduct_enable(ctx: Ctx) -> Any:
    """Pay trading fees in MX (``domain.mx``), or stop. ``true``/``false`` in any case (pymexc
    sends Python's ``True``)."""
    flag = ctx.params["mxDeductEnable"].lower()
    if flag not in ("true", "false"):
        raise invalid("mxDeductEnable", "must be true or false")
    enabled = await ctx.services.engine.run(c.SetMxDeduct(ctx.account, flag == "true"))
    return _mx_deduct_body(bool(enabled), ctx.now)


async def self_symbols(ctx: Ctx) -> Any:
    assert ctx.key is not None
    syms = ctx.services.engine.exchange.symbols
    names = [n for n in sorted(syms) if syms[n].trading and ctx.key.symbol_allowed(n)]
    return {"code": 200, "data": names, "msg": None}


async def uid(ctx: Ctx) -> Any:
    return {"uid": str(ctx.account)}


async def kyc_status(ctx: Ctx) -> Any:
    return {"status": "1"}


A = "SPOT_ACCOUNT_READ"
MX_DEDUCT = s.obj(
    {
        "data": s.obj({"mxDeductEnable": {"type": "boolean"}}),
        "code": s.INT,
        "msg": s.S,
        "timestamp": s.INT,
    }
)

ENDPOINTS = [
    Endpoint("GET", "/api/v3/account", account, (), True, A, "Account information", s.ACCOUNT, 10),
    Endpoint(
        "GET",
        "/api/v3/tradeFee",
        trade_fee,
        (P("symbol", "symbol", required=True),),
        True,
        A,
        "Maker/taker fee rates of the account",
        s.TRADE_FEE,
        20,
    ),
    Endpoint(
        "GET",
        "/api/v3/mxDeduct/enable",
        mx_deduct_status,
        (),
        True,
        "SPOT_DEAL_READ",
        "Whether the account pays trading fees in MX (20% off)",
        MX_DEDUCT,
    ),
    Endpoint(
        "POST",
        "/api/v3/mxDeduct/enable",
        mx_deduct_enable,
        (P("mxDeductEnable", required=True, description="true or false"),),
        True,
        "SPOT_DEAL_WRITE",
        "Pay trading fees in MX (20% off, at the last MXUSDT price) when the account holds MX",
        MX_DEDUCT,
    ),
    Endpoint(
        "GET",
        "/api/v3/selfSymbols",
        self_symbols,
        (),
        True,
        None,
        "Symbols this API key may trade",
        s.CODE200_LIST,
    ),
    Endpoint("GET", "/api/v3/uid", uid, (), True, None, "Account UID", s.obj({"uid": s.S})),
    Endpoint(
        "GET",
        "/api/v3/kyc/status",
        kyc_status,
        (),
        True,
        None,
        "KYC status (1 unverified, 2 primary, 3 advanced, 4 institutional)",
        s.obj({"status": s.S}),
    ),
]
