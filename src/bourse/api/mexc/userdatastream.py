"""User data stream keys (section 2.10): ``POST/GET/PUT/DELETE /api/v3/userDataStream``.

``POST`` creates a listenKey (valid 60 minutes), ``PUT`` extends one to 60 minutes from now,
``DELETE`` closes it, ``GET`` lists the valid ones. A key opens ``/ws?listenKey=`` for the
account of the API key (or OAuth token) that created it, while that credential holds.

An OAuth token sees (lists, extends, closes) only the keys its grant created; an API key every
key of the account that no OAuth grant created (``bourse.services.listenkeys``). A key the
caller may not see answers as an unknown one: -1125 "This listenKey does not exist."
(Binance's code; MEXC documents none).
"""

from __future__ import annotations

from typing import Any

from bourse.api.mexc import schemas as s
from bourse.api.mexc.context import Ctx, Endpoint
from bourse.api.mexc.errors import ApiError
from bourse.api.mexc.params import P
from bourse.services.listenkeys import ListenKeyError, ListenKeys, Owner, UnknownListenKey

A = "SPOT_ACCOUNT_READ"
KEY = P("listenKey", "str", required=True, description="the key to extend or close")
UNKNOWN_KEY = -1125
TOO_MANY = -1126
KEY_SCHEMA = s.obj({"listenKey": s.S})


def _keys(ctx: Ctx) -> ListenKeys:
    return ctx.services.listen_keys


def _owner(ctx: Ctx) -> Owner:
    """The credential of the request: its OAuth grant (token family), else its API key."""
    principal = ctx.principal
    if principal is not None:
        return Owner(oauth_client=principal.client_id, oauth_family=principal.family_id)
    assert ctx.key is not None
    return Owner(api_key=ctx.key.api_key)


def _error(exc: ListenKeyError) -> ApiError:
    return ApiError(UNKNOWN_KEY if isinstance(exc, UnknownListenKey) else TOO_MANY, str(exc))


async def create(ctx: Ctx) -> Any:
    try:
        key = await ctx.db(_keys(ctx).create, ctx.account, ctx.now, _owner(ctx))
    except ListenKeyError as exc:
        raise _error(exc) from None
    return {"listenKey": key}


async def list_keys(ctx: Ctx) -> Any:
    return {"listenKey": await ctx.db(_keys(ctx).keys, ctx.account, ctx.now, _owner(ctx))}


async def extend(ctx: Ctx) -> Any:
    key = ctx.params["listenKey"]
    try:
        await ctx.db(_keys(ctx).extend, ctx.account, key, ctx.now, _owner(ctx))
    except ListenKeyError as exc:
        raise _error(exc) from None
    return {"listenKey": key}


async def close(ctx: Ctx) -> Any:
    key = ctx.params["listenKey"]
    try:
        await ctx.db(_keys(ctx).close, ctx.account, key, _owner(ctx))
    except ListenKeyError as exc:
        raise _error(exc) from None
    return {"listenKey": key}


PATH = "/api/v3/userDataStream"
ENDPOINTS = [
    Endpoint(
        "POST",
        PATH,
        create,
        (),
        True,
        A,
        "Create a listenKey",
        KEY_SCHEMA,
        shares_read_signature=True,  # a client's balance read in the same millisecond
    ),
    Endpoint(
        "GET",
        PATH,
        list_keys,
        (),
        True,
        A,
        "Valid listenKeys",
        s.obj({"listenKey": s.arr(s.S)}),
        claims_signature=True,  # it reveals the keys to the user's private stream
    ),
    Endpoint("PUT", PATH, extend, (KEY,), True, A, "Extend a listenKey by 60 min", KEY_SCHEMA),
    Endpoint("DELETE", PATH, close, (KEY,), True, A, "Close a listenKey", KEY_SCHEMA),
]
