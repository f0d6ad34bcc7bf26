"""A sub-account's own deposits and withdrawals, called with the sub-account's key (MEXC's
endpoints take no ``subAccount``), and the master's view of every sub-account's deposits."""

from __future__ import annotations

from typing import Any

from bourse.api.mexc import schemas as s
from bourse.api.mexc.broker_subaccounts.common import (
    DR,
    DW,
    END,
    INT,
    NS,
    PAGE,
    START,
    WW,
    S,
    broker_tenant,
    run,
    units,
)
from bourse.api.mexc.capital import address_json, deposit_json
from bourse.api.mexc.context import Ctx, Endpoint
from bourse.api.mexc.params import P
from bourse.api.mexc.replay import replay_key
from bourse.services.subaccounts import SubAccount
from bourse.services.wallet import format_id


async def _own(ctx: Ctx) -> SubAccount:
    sub: SubAccount = await run(ctx.services.subaccounts.funds.own, ctx.account)
    return sub


async def sub_address_post(ctx: Ctx) -> Any:
    sub = await _own(ctx)
    p = ctx.params
    a = await run(ctx.services.wallet.deposit_address, sub.account_id, p["coin"], p["network"])
    return address_json(a, "")


async def sub_address_get(ctx: Ctx) -> Any:
    sub = await _own(ctx)
    p = ctx.params
    found = await run(
        ctx.services.wallet.deposit_addresses, sub.account_id, p["coin"], p.get("network")
    )
    return [address_json(a, "") for a in found]


def _paged(rows: list[Any], page: int, limit: int) -> list[Any]:
    return rows[(page - 1) * limit : page * limit]


async def sub_deposit_history(ctx: Ctx) -> Any:
    sub = await _own(ctx)
    p = ctx.params
    page, limit = p.get("page", 1), p.get("limit", 20)
    wallet = ctx.services.wallet
    end = p.get("endTime")
    start = p.get("startTime")
    if start is None:
        start = (end if end is not None else wallet.clock()) - 10 * 86_400_000
    rows = await run(
        wallet.deposit_history,
        sub.account_id,
        coin=p.get("coin"),
        status=p.get("status"),
        start=start,
        end=end,
        limit=min(1000, page * limit),
    )
    return [deposit_json(v) for v in _paged(rows, page, limit)]


async def deposit_history_all(ctx: Ctx) -> Any:
    t = await broker_tenant(ctx)
    p = ctx.params
    rows, names = await run(
        ctx.services.subaccounts.funds.deposit_history_all,
        t,
        coin=p.get("coin"),
        status=p.get("status"),
        start=p.get("startTime"),
        end=p.get("endTime"),
        limit=p.get("limit", 100),
        page=p.get("page", 1),
    )
    out = []
    for v in rows:
        row = deposit_json(v)
        row.pop("addressTag", None)
        row["subAccount"] = names.get(v.deposit.account or 0, "")
        out.append(row)
    return out


async def withdraw(ctx: Ctx) -> Any:
    sub = await _own(ctx)
    p = ctx.params
    amount = await run(units, ctx, p["coin"], p["amount"])
    w = await run(
        ctx.services.subaccounts.funds.withdraw,
        sub,
        p["coin"],
        p["network"],
        p["address"],
        amount,
        password=p.get("password"),
        remark=p.get("remark", ""),
        client_id=p.get("withdrawOrderId", ""),
        replay=replay_key(ctx),
        ip=ctx.ip,
    )
    return {"id": format_id(w.id)}


ADDRESS = s.obj({"address": S, "coin": S, "network": S, "memo": NS})
DEPOSIT = s.obj({"amount": s.DEC, "coin": S, "network": S, "status": INT, "address": S})
DEPOSIT_PARAMS = (
    P("coin"),
    P("status", description="status name or numeric code"),
    START,
    END,
    PAGE,
    P("limit", "int", minimum=1, maximum=1000),
)

ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "POST",
        "/api/v3/broker/capital/deposit/subAddress",
        sub_address_post,
        (P("coin", required=True), P("network", required=True)),
        True,
        DW,
        "Generate a deposit address (sub-account key) (MEXC broker)",
        ADDRESS,
    ),
    Endpoint(
        "GET",
        "/api/v3/broker/capital/deposit/subAddress",
        sub_address_get,
        (P("coin", required=True), P("network")),
        True,
        DR,
        "Deposit addresses (sub-account key) (MEXC broker)",
        s.arr(ADDRESS),
    ),
    Endpoint(
        "GET",
        "/api/v3/broker/capital/deposit/subHisrec",
        sub_deposit_history,
        DEPOSIT_PARAMS,
        True,
        DR,
        "Deposit history (sub-account key) (MEXC broker)",
        s.arr(DEPOSIT),
    ),
    Endpoint(
        "GET",
        "/api/v3/broker/capital/deposit/subHisrec/getall",
        deposit_history_all,
        DEPOSIT_PARAMS,
        True,
        DR,
        "Deposit history of every sub-account (master key; default: last 3 days) (MEXC broker)",
        s.arr(DEPOSIT),
    ),
    Endpoint(
        "POST",
        "/api/v3/broker/capital/withdraw/apply",
        withdraw,
        (
            P("coin", required=True),
            P("network", required=True),
            P("address", required=True),
            P("amount", "decimal", True),
            P("password", description="MD5 hex fund password: skips the address book"),
            P("remark"),
            P("withdrawOrderId", "client_id", description="idempotency key (Bourse)"),
        ),
        True,
        WW,
        "Withdraw (sub-account key only) (MEXC broker)",
        s.obj({"id": S}),
        claims_signature=False,  # the withdrawal claims its key (ReserveWithdrawal.replay)
    ),
]
