"""MEXC's normal sub-account API (section 2.9, any user's master key): the same services as the
broker API under ``/api/v3/sub-account/...`` and ``/api/v3/capital/sub-account/...``."""

from __future__ import annotations

from typing import Any

from bourse.api.mexc import schemas as s
from bourse.api.mexc.broker_subaccounts.common import (
    AR,
    AW,
    INT,
    PAGE,
    SUB,
    SUB_REQ,
    TR,
    TW,
    S,
    master_tenant,
    run,
)
from bourse.api.mexc.broker_subaccounts.keys import (
    KEY_CREATED,
    KEY_LIST,
    KEY_PARAMS,
    create_key_json,
    delete_key_json,
    list_keys_json,
)
from bourse.api.mexc.broker_subaccounts.transfers import (
    BALANCES,
    HISTORY_PARAMS,
    TRANSFER_PARAMS,
    TRANSFER_ROW,
    balances,
    transfer_id,
    transfer_rows,
)
from bourse.api.mexc.context import Ctx, Endpoint
from bourse.api.mexc.params import P


async def n_create(ctx: Ctx) -> Any:
    p = ctx.params
    t = await master_tenant(ctx)
    sub = await run(ctx.services.subaccounts.create, t, p.get("subAccount"), p.get("note"))
    return {"subAccount": sub.name, "note": sub.note}


async def n_list(ctx: Ctx) -> Any:
    p = ctx.params
    t = await master_tenant(ctx)
    frozen = None if "isFreeze" not in p else p["isFreeze"] == "true"
    subs = await run(
        ctx.services.subaccounts.list,
        t,
        name=p.get("subAccount"),
        frozen=frozen,
        page=p.get("page", 1),
        limit=p.get("limit", 10),
    )
    return {
        "subAccounts": [
            {
                "subAccount": x.name,
                "isFreeze": x.frozen,
                "createTime": x.created,
                "uid": str(x.account_id),
            }
            for x in subs
        ]
    }


async def n_key_create(ctx: Ctx) -> Any:
    out = await create_key_json(ctx, await master_tenant(ctx))
    out.pop("apikey", None)
    return out


async def n_key_list(ctx: Ctx) -> Any:
    return await list_keys_json(ctx, await master_tenant(ctx))


async def n_key_delete(ctx: Ctx) -> Any:
    return await delete_key_json(ctx, await master_tenant(ctx))


async def n_transfer(ctx: Ctx) -> Any:
    return {"tranId": await transfer_id(ctx, await master_tenant(ctx))}


async def n_transfer_history(ctx: Ctx) -> Any:
    return await transfer_rows(ctx, await master_tenant(ctx))


async def n_asset(ctx: Ctx) -> Any:
    return await balances(ctx, await master_tenant(ctx))


ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "POST",
        "/api/v3/sub-account/virtualSubAccount",
        n_create,
        (SUB, P("note")),
        True,
        AW,
        "Create a sub-account",
        s.obj({"subAccount": S, "note": S}),
    ),
    Endpoint(
        "GET",
        "/api/v3/sub-account/list",
        n_list,
        (
            SUB,
            P("isFreeze", "enum", enum=("true", "false")),
            PAGE,
            P("limit", "int", minimum=1, maximum=200),
        ),
        True,
        AR,
        "List sub-accounts",
        s.obj(
            {
                "subAccounts": s.arr(
                    s.obj({"subAccount": S, "isFreeze": s.B, "createTime": INT, "uid": S})
                )
            }
        ),
    ),
    Endpoint(
        "POST",
        "/api/v3/sub-account/apiKey",
        n_key_create,
        KEY_PARAMS,
        True,
        AW,
        "Create an API key for a sub-account",
        KEY_CREATED,
    ),
    Endpoint(
        "GET",
        "/api/v3/sub-account/apiKey",
        n_key_list,
        (SUB_REQ,),
        True,
        AR,
        "A sub-account's API keys",
        KEY_LIST,
    ),
    Endpoint(
        "DELETE",
        "/api/v3/sub-account/apiKey",
        n_key_delete,
        (SUB, P("apiKey")),
        True,
        AW,
        "Delete a sub-account's API key",
        s.obj({"subAccount": S}),
    ),
    Endpoint(
        "POST",
        "/api/v3/capital/sub-account/universalTransfer",
        n_transfer,
        TRANSFER_PARAMS,
        True,
        TW,
        "Universal transfer between the master and its sub-accounts",
        s.obj({"tranId": S}),
        claims_signature=False,  # the transfer claims its key (Transfer.replay)
    ),
    Endpoint(
        "GET",
        "/api/v3/capital/sub-account/universalTransfer",
        n_transfer_history,
        HISTORY_PARAMS,
        True,
        TR,
        "Universal transfer history of the master and its sub-accounts",
        s.arr(TRANSFER_ROW),
    ),
    Endpoint(
        "GET",
        "/api/v3/sub-account/asset",
        n_asset,
        (SUB_REQ, P("accountType", "enum", enum=("SPOT",))),
        True,
        TR,
        "A sub-account's spot balances",
        BALANCES,
    ),
]
