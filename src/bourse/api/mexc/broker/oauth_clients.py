"""An OAuth broker's own clients (Bourse; MEXC publishes no such endpoint, see docs/decisions.md):
list them, register an app, rotate a secret, add or remove a redirect URI, change scopes.

The rules live in ``bourse.oauth.management``; these handlers only map parameters and JSON.
The broker is the one whose main account owns the calling key, never a parameter, so a broker
only ever reaches its own clients.
"""

from __future__ import annotations

from typing import Any

from bourse.api.mexc import schemas as s
from bourse.api.mexc.broker.common import NS, READ, WRITE, call, my_broker
from bourse.api.mexc.context import Ctx, Endpoint
from bourse.api.mexc.params import P
from bourse.oauth.management import ClientManager, describe

PREFIX = "/api/v3/broker/oauth"


def _manager(ctx: Ctx) -> ClientManager:
    return ClientManager.of(ctx.services)


async def list_clients(ctx: Ctx) -> Any:
    b = await my_broker(ctx)
    clients = await call(ctx, _manager(ctx).clients, b.id)
    return {"brokerId": str(b.id), "clients": [describe(c) for c in clients]}


async def register(ctx: Ctx) -> Any:
    b = await my_broker(ctx)
    p = ctx.params
    reg = await call(
        ctx,
        _manager(ctx).register,
        b.id,
        name=p["name"],
        redirect_uris=[p["redirectUri"]],
        scopes=p.get("scopes"),
        logo_url=p.get("logoUrl", ""),
    )
    return {**describe(reg.client), "clientSecret": reg.client_secret}


async def rotate_secret(ctx: Ctx) -> Any:
    b = await my_broker(ctx)
    grace_s = ctx.params.get("graceSeconds")
    rot = await call(
        ctx,
        _manager(ctx).rotate_secret,
        b.id,
        ctx.params["clientId"],
        grace_ms=None if grace_s is None else grace_s * 1000,
    )
    return {
        "clientId": rot.client_id,
        "clientSecret": rot.client_secret,
        "previousSecretExpireTime": rot.previous_secret_expires,
    }


async def add_redirect_uri(ctx: Ctx) -> Any:
    b = await my_broker(ctx)
    p = ctx.params
    c = await call(ctx, _manager(ctx).add_redirect_uri, b.id, p["clientId"], p["redirectUri"])
    return describe(c)


async def remove_redirect_uri(ctx: Ctx) -> Any:
    b = await my_broker(ctx)
    p = ctx.params
    c = await call(ctx, _manager(ctx).remove_redirect_uri, b.id, p["clientId"], p["redirectUri"])
    return describe(c)


async def set_scopes(ctx: Ctx) -> Any:
    b = await my_broker(ctx)
    p = ctx.params
    c = await call(ctx, _manager(ctx).set_scopes, b.id, p["clientId"], p["scopes"])
    return describe(c)


CLIENT = s.obj(
    {
        "clientId": s.S,
        "name": s.S,
        "brokerId": NS,
        "redirectUris": s.arr(s.S),
        "scopes": s.S,
        "logoUrl": s.S,
        "disabled": s.B,
        "createTime": s.INT,
        "secretRotateTime": s.nullable(s.INT),
        "previousSecretExpireTime": s.nullable(s.INT),
    },
    required=["clientId", "name", "redirectUris", "scopes", "disabled"],
)
CLIENT_ID = P("clientId", "str", True)
REDIRECT_URI = P("redirectUri", "str", True, description="an exact https (or loopback http) URI")

ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "GET",
        f"{PREFIX}/clients",
        list_clients,
        (),
        True,
        READ,
        "The calling OAuth broker's clients, without secrets (Bourse)",
        s.obj({"brokerId": s.S, "clients": s.arr(CLIENT)}),
    ),
    Endpoint(
        "POST",
        f"{PREFIX}/clients",
        register,
        (
            P("name", "str", True),
            REDIRECT_URI,
            P("scopes", "str", description="space- or comma-separated; default: all approved"),
            P("logoUrl", "str"),
        ),
        True,
        WRITE,
        "Register another OAuth app; its clientSecret is shown once (Bourse)",
        s.obj({**CLIENT["properties"], "clientSecret": s.S}, required=["clientId", "clientSecret"]),
    ),
    Endpoint(
        "POST",
        f"{PREFIX}/client/secret",
        rotate_secret,
        (CLIENT_ID, P("graceSeconds", "int", minimum=0)),
        True,
        WRITE,
        "Rotate a client secret; the old one works for the grace period (Bourse)",
        s.obj(
            {
                "clientId": s.S,
                "clientSecret": s.S,
                "previousSecretExpireTime": s.nullable(s.INT),
            }
        ),
    ),
    Endpoint(
        "POST",
        f"{PREFIX}/client/redirectUri",
        add_redirect_uri,
        (CLIENT_ID, REDIRECT_URI),
        True,
        WRITE,
        "Register a redirect URI (exact match) (Bourse)",
        CLIENT,
    ),
    Endpoint(
        "DELETE",
        f"{PREFIX}/client/redirectUri",
        remove_redirect_uri,
        (CLIENT_ID, REDIRECT_URI),
        True,
        WRITE,
        "Remove a redirect URI (Bourse)",
        CLIENT,
    ),
    Endpoint(
        "POST",
        f"{PREFIX}/client/scopes",
        set_scopes,
        (CLIENT_ID, P("scopes", "str", True)),
        True,
        WRITE,
        "Change the scopes a client may ask for, within the broker's approval (Bourse)",
        CLIENT,
    ),
]
