"""Wallet endpoints (reference section 2.8) over ``bourse.services.wallet.WalletService``:
currencies and networks, deposit addresses and history, withdrawals (``capital_transfers``
holds the universal transfer). JSON shapes are in ``capital_wire``.

The handlers find the service at ``ctx.services.wallet``. Requests accept a network as its id,
its display name or a unified alias (``TRC20``), in any case. ``POST capital/deposit/address``
answers one object (ccxt parses an object); ``GET`` a list.
"""

from __future__ import annotations

from typing import Any

from bourse.api.mexc import capital_dust, capital_internal, capital_transfers
from bourse.api.mexc import schemas as s
from bourse.api.mexc.capital_service import call, units, wallet_of
from bourse.api.mexc.capital_wire import (
    ADDRESS,
    COIN,
    DEPOSIT,
    END,
    ID,
    INT,
    NETWORK,
    START,
    STR,
    WITHDRAWAL,
    address_json,
    deposit_json,
    network_json,
    withdrawal_json,
)
from bourse.api.mexc.context import Ctx, Endpoint
from bourse.api.mexc.params import PAGE, P
from bourse.api.mexc.replay import replay_key
from bourse.services.wallet import format_id, parse_id

__all__ = ["ENDPOINTS", "address_json", "deposit_json"]

# --- handlers ----------------------------------------------------------------------------------


async def config_getall(ctx: Ctx) -> Any:
    svc = wallet_of(ctx)
    currencies = await call(svc.currencies)
    return [
        {
            "coin": a.code,
            "name": a.name or a.code,
            "networkList": [network_json(n, a.name or a.code) for n in nets],
        }
        for a, nets in currencies
    ]


async def deposit_address_get(ctx: Ctx) -> Any:
    svc, p = wallet_of(ctx), ctx.params
    found = await call(svc.deposit_addresses, ctx.account, p["coin"], p.get("network"))
    return [address_json(a) for a in found]


async def deposit_address_post(ctx: Ctx) -> Any:
    svc, p = wallet_of(ctx), ctx.params
    a = await call(svc.deposit_address, ctx.account, p["coin"], p["network"])
    return address_json(a)


async def deposit_history(ctx: Ctx) -> Any:
    svc, p = wallet_of(ctx), ctx.params
    rows = await call(
        svc.deposit_history,
        ctx.account,
        coin=p.get("coin"),
        network=p.get("network") or p.get("netWork"),
        status=p.get("status"),
        start=p.get("startTime"),
        end=p.get("endTime"),
        limit=p.get("limit", 1000),
    )
    return [deposit_json(v) for v in rows]


async def _withdraw(ctx: Ctx, network: str | None) -> dict[str, Any]:
    svc, p = wallet_of(ctx), ctx.params
    coin = p["coin"]
    amount = await call(units, svc, coin, p["amount"])
    w = await call(
        svc.withdraw,
        ctx.account,
        coin,
        network,
        p["address"],
        amount,
        memo=p.get("memo", ""),
        client_id=p.get("withdrawOrderId", ""),
        remark=p.get("remark", ""),
        contract=p.get("contractAddress", ""),
        replay=replay_key(ctx),
    )
    return {"id": format_id(w.id)}


async def withdraw(ctx: Ctx) -> Any:
    p = ctx.params
    return await _withdraw(ctx, p.get("netWork") or p.get("network"))


async def withdraw_apply(ctx: Ctx) -> Any:
    p = ctx.params
    return [await _withdraw(ctx, p.get("network") or p.get("netWork"))]


async def withdraw_cancel(ctx: Ctx) -> Any:
    svc = wallet_of(ctx)
    wid = await call(parse_id, ctx.params["id"])
    w = await call(svc.cancel_withdrawal, ctx.account, wid)
    return {"id": format_id(w.id)}


async def withdraw_history(ctx: Ctx) -> Any:
    svc, p = wallet_of(ctx), ctx.params
    rows = await call(
        svc.withdraw_history,
        ctx.account,
        coin=p.get("coin"),
        status=p.get("status"),
        start=p.get("startTime"),
        end=p.get("endTime"),
        limit=p.get("limit", 1000),
    )
    scales = {a.code: a.scale for a in await call(svc.assets)}
    return [withdrawal_json(v, scales.get(v.withdrawal.asset, 0)) for v in rows]


async def withdraw_address_book(ctx: Ctx) -> Any:
    svc, p = wallet_of(ctx), ctx.params
    entries = await call(svc.whitelist, ctx.account, p.get("coin"))
    page, limit = p.get("page", 1), p.get("limit", 20)
    chunk = entries[(page - 1) * limit : page * limit]
    return {
        "data": [
            {
                "coin": e["coin"],
                "network": e["network"],
                "address": e["address"],
                "addressTag": e["label"] or None,
                "memo": e["memo"] or None,
            }
            for e in chunk
        ],
        "totalRecords": len(entries),
        "page": page,
        "totalPageNum": max(1, -(-len(entries) // limit)),
    }


# --- declarations ------------------------------------------------------------------------------

NETWORK_OPT = P("network", description="network id (netWork) or name, e.g. TRX or Tron(TRC20)")
ACCOUNT_TYPE = ("SPOT", "FUTURES")

_WITHDRAW_PARAMS = (
    COIN,
    P("withdrawOrderId", "client_id", description="client id: a retry returns the first result"),
    P("netWork", description="network id, e.g. TRX (default: the coin's first network)"),
    P("network", description="network id or name (old form)"),
    P(
        "contractAddress",
        description="the coin's token contract on the network (config/getall contract); "
        "picks the network when none is named",
    ),
    P("address", required=True),
    P("memo", description="required on memo networks"),
    P("amount", "decimal", required=True, description="fee included"),
    P("remark"),
)

DR, DW = "SPOT_DEPOSIT_READ", "SPOT_DEPOSIT_WRITE"
WR, WW = "SPOT_WITHDRAW_READ", "SPOT_WITHDRAW_WRITE"
TR, TW = "SPOT_TRANSFER_READ", "SPOT_TRANSFER_WRITE"

DR, DW = "SPOT_DEPOSIT_READ", "SPOT_DEPOSIT_WRITE"
WR, WW = "SPOT_WITHDRAW_READ", "SPOT_WITHDRAW_WRITE"

ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "GET",
        "/api/v3/capital/config/getall",
        config_getall,
        (),
        True,
        None,
        "Currencies and their networks",
        s.arr(s.obj({"coin": STR, "name": STR, "networkList": s.arr(NETWORK)})),
        10,
    ),
    Endpoint(
        "GET",
        "/api/v3/capital/deposit/address",
        deposit_address_get,
        (COIN, NETWORK_OPT),
        True,
        DR,
        "Deposit addresses of a coin",
        s.arr(ADDRESS),
        10,
    ),
    Endpoint(
        "POST",
        "/api/v3/capital/deposit/address",
        deposit_address_post,
        (COIN, P("network", required=True, description="network id or name")),
        True,
        DW,
        "Generate a deposit address",
        ADDRESS,
    ),
    Endpoint(
        "GET",
        "/api/v3/capital/deposit/hisrec",
        deposit_history,
        (
            P("coin", description="COIN or COIN-NETWORK"),
            P("network"),
            P("netWork"),
            P("status", description="numeric status or its name"),
            START,
            END,
            P("limit", "int", minimum=1, maximum=1000),
        ),
        True,
        WR,
        "Deposit history",
        s.arr(DEPOSIT),
    ),
    Endpoint(
        "POST",
        "/api/v3/capital/withdraw",
        withdraw,
        _WITHDRAW_PARAMS,
        True,
        WW,
        "Withdraw (two-phase: reserved now, settled after chain confirmation)",
        ID,
        claims_signature=False,  # the withdrawal claims its key (ReserveWithdrawal.replay)
    ),
    Endpoint(
        "POST",
        "/api/v3/capital/withdraw/apply",
        withdraw_apply,
        _WITHDRAW_PARAMS,
        True,
        WW,
        "Withdraw (old form)",
        s.arr(ID),
        claims_signature=False,  # the withdrawal claims its key (ReserveWithdrawal.replay)
    ),
    Endpoint(
        "DELETE",
        "/api/v3/capital/withdraw",
        withdraw_cancel,
        (P("id", required=True),),
        True,
        WW,
        "Cancel a withdrawal not yet broadcast",
        ID,
    ),
    Endpoint(
        "GET",
        "/api/v3/capital/withdraw/history",
        withdraw_history,
        (
            P("coin"),
            P("status", description="numeric status or its name"),
            START,
            END,
            P("limit", "int", minimum=1, maximum=1000),
        ),
        True,
        WR,
        "Withdraw history",
        s.arr(WITHDRAWAL),
    ),
    Endpoint(
        "GET",
        "/api/v3/capital/withdraw/address",
        withdraw_address_book,
        (P("coin"), PAGE, P("limit", "int", minimum=1, maximum=100)),
        True,
        WR,
        "Withdraw address book",
        s.obj({"data": s.arr(s.obj({})), "totalRecords": INT, "page": INT, "totalPageNum": INT}),
    ),
    *capital_transfers.ENDPOINTS,
    *capital_internal.ENDPOINTS,
    *capital_dust.ENDPOINTS,
]
