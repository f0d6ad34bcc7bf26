"""Sub-account API keys, made with the master's key: create, list, delete (the broker API's and,
through ``normal.py``, the normal sub-account API's). The signing key creates and deletes only
keys no wider than itself (``bourse.domain.keyscope``, through ``services.subaccounts.keys``)."""

from __future__ import annotations

from typing import Any

from bourse.api.mexc import schemas as s
from bourse.api.mexc.broker_subaccounts.common import (
    AR,
    AW,
    INT,
    SUB,
    SUB_REQ,
    S,
    broker_tenant,
    run,
)
from bourse.api.mexc.context import Ctx, Endpoint
from bourse.api.mexc.params import P
from bourse.services.subaccounts import Tenant


async def create_key_json(ctx: Ctx, t: Tenant) -> dict[str, Any]:
    p = ctx.params
    assert ctx.key is not None
    out = await run(
        ctx.services.subaccounts.keys.create,
        t,
        p.get("subAccount"),
        p.get("permissions"),
        p.get("ip"),
        p.get("note"),
        actor=ctx.key.api_key,  # no wider than the signing key (domain.keyscope)
    )
    return {
        "subAccount": out["subAccount"],
        "permissions": out["permissions"],
        "note": out["note"],
        "apikey": out["apiKey"],  # the doc example's spelling
        "apiKey": out["apiKey"],  # the newest docs' spelling
        "secretKey": out["secretKey"],
        "ip": out["ip"],
        "createTime": out["createTime"],
        "creatTime": out["createTime"],
        "expireTime": out["expireTime"],
    }


async def list_keys_json(ctx: Ctx, t: Tenant) -> dict[str, Any]:
    _, keys = await run(ctx.services.subaccounts.keys.list, t, ctx.params.get("subAccount"))
    return {
        "subAccount": [
            {
                "note": k["label"],
                "apiKey": k["apiKey"],
                "permissions": ",".join(k["permissions"]),
                "ip": ",".join(k["ip"]),
                "creatTime": k["createTime"],
                "createTime": k["createTime"],
                "expireTime": k["expireTime"],
            }
            for k in keys
        ]
    }


async def delete_key_json(ctx: Ctx, t: Tenant) -> dict[str, Any]:
    p = ctx.params
    assert ctx.key is not None
    sub = await run(
        ctx.services.subaccounts.keys.delete,
        t,
        p.get("subAccount"),
        p.get("apiKey"),
        actor=ctx.key.api_key,
    )
    return {"subAccount": sub.name}


async def key_create(ctx: Ctx) -> Any:
    return await create_key_json(ctx, await broker_tenant(ctx))


async def key_list(ctx: Ctx) -> Any:
    return await list_keys_json(ctx, await broker_tenant(ctx))


async def key_delete(ctx: Ctx) -> Any:
    return await delete_key_json(ctx, await broker_tenant(ctx))


KEY_CREATED = s.obj(
    {
        "subAccount": S,
        "permissions": S,
        "note": S,
        "apiKey": S,
        "secretKey": S,
        "ip": S,
        "createTime": INT,
    }
)
KEY_LIST = s.obj(
    {
        "subAccount": s.arr(
            s.obj({"note": S, "apiKey": S, "permissions": S, "ip": S, "creatTime": INT})
        )
    }
)
KEY_PARAMS = (
    SUB,
    P("permissions", description="comma-separated permission names"),
    P(
        "ip",
        description="comma-separated IPs (broker: at most 4; normal: at most 20); left out: the "
        "signing key's; sent empty: none (a key usable from any address)",
        empty_ok=True,  # sent empty: no whitelist, as on MEXC, not the signing key's
    ),
    P("note"),
)

ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "POST",
        "/api/v3/broker/sub-account/apiKey",
        key_create,
        KEY_PARAMS,
        True,
        AW,
        "Create an API key for a sub-account (MEXC broker)",
        KEY_CREATED,
    ),
    Endpoint(
        "GET",
        "/api/v3/broker/sub-account/apiKey",
        key_list,
        (SUB_REQ,),
        True,
        AR,
        "A sub-account's API keys (MEXC broker)",
        KEY_LIST,
    ),
    Endpoint(
        "DELETE",
        "/api/v3/broker/sub-account/apiKey",
        key_delete,
        (SUB, P("apiKey")),
        True,
        AW,
        "Delete a sub-account's API key (MEXC broker)",
        s.obj({"subAccount": S}),
    ),
]
