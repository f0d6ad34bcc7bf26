"""A user's own API keys: create (permissions, IP and symbol whitelists, expiry), list,
delete (closing its binding), and renew (extend the expiry or rotate the secret, keeping the
binding). The signing key creates, renews and deletes only keys no wider than itself
(``bourse.domain.keyscope``, through ``bourse.services.brokers.keys``)."""

from __future__ import annotations

from typing import Any

from bourse.api.mexc import schemas as s
from bourse.api.mexc.broker.common import BOOL, NINT, NS, READ, WRITE, call
from bourse.api.mexc.context import Ctx, Endpoint
from bourse.api.mexc.errors import ApiError, from_domain, invalid
from bourse.api.mexc.params import P
from bourse.domain.errors import DomainError
from bourse.services.apikeys import ip_whitelist_of, normalize_permission
from bourse.services.brokers.keys import create_key as create_key_as
from bourse.services.brokers.keys import delete_key as delete_key_as
from bourse.services.brokers.keys import renew_key

MAX_SYMBOLS_PER_KEY = 30


def _csv(text: str | None) -> list[str]:
    return [x for x in (p.strip() for p in (text or "").split(",")) if x]


async def create_key(ctx: Ctx) -> Any:
    """A new key no wider than the signing key (``domain.keyscope``): left out, its IPs and
    pairs are the signer's, and its expiry ends by the signer's. ``ip`` sent naming no address
    (``ip=``) and ``symbols`` naming no pair (``symbols=``) are refused (33333) rather than
    read as left out: the caller asked for something (any address, every pair, likely) that a
    silent narrowing to the signer's whitelist or pairs would not be."""
    p = ctx.params
    assert ctx.key is not None
    try:
        perms = sorted({normalize_permission(x) for x in _csv(p["permissions"])})
    except DomainError as exc:
        raise ApiError(730702, exc.message) from None
    if not perms:
        raise ApiError(730701, "permission is empty")
    ips = ip_whitelist_of(_csv(p.get("ip")))  # 730703 (too many) and 730704 by the table
    if "ip" in p and not ips:  # sent, naming no address: not "left out"
        raise invalid("ip", "names no address (leave it out for the signing key's IPs)")
    symbols = [x.upper() for x in _csv(p.get("symbols"))]
    if "symbols" in p and not symbols:  # sent, naming no pair: not "left out"
        raise invalid("symbols", "names no pair (leave it out for the signing key's pairs)")
    if len(symbols) > MAX_SYMBOLS_PER_KEY:
        raise invalid("symbols", f"at most {MAX_SYMBOLS_PER_KEY} symbols")
    for sym in symbols:
        ctx.symbol(sym)  # -1121 for a pair that is not listed
    exp: dict[str, Any] = {"expires": p["expireTime"]} if "expireTime" in p else {}
    try:
        key, secret, _ = await ctx.db(
            create_key_as,
            ctx.services.apikeys,
            ctx.key.api_key,
            ctx.account,
            perms,
            ips or None,  # left out: the signer's (sent empty is refused above)
            symbols,
            ctx.now,
            label=p["note"],
            **exp,
        )
    except DomainError as exc:
        msg = exc.message or str(exc)
        if "API keys per account" in msg:
            raise ApiError(730705, msg) from None
        raise from_domain(exc) from None
    row = next(
        k for k in await ctx.db(ctx.services.apikeys.list_keys, ctx.account) if k["apiKey"] == key
    )
    return {**_key_json(row, None), "apikey": key, "secretKey": secret}


def _key_json(k: dict[str, Any], broker_id: int | None) -> dict[str, Any]:
    return {
        "apiKey": k["apiKey"],
        "note": k["label"],
        "permissions": ",".join(k["permissions"]),
        "ip": ",".join(k["ip"]),
        "symbols": ",".join(k["symbols"]),
        "createTime": k["createTime"],
        "creatTime": k["createTime"],  # MEXC's spelling in the key query
        "expireTime": k["expireTime"],
        "brokerId": None if broker_id is None else str(broker_id),
    }


async def list_keys(ctx: Ctx) -> Any:
    bindings = ctx.services.brokers.bindings
    keys = await ctx.db(ctx.services.apikeys.list_keys, ctx.account)

    def bound() -> list[int | None]:
        return [bindings.bound_broker(k["apiKey"]) for k in keys]

    brokers = await ctx.db(bound)
    return {"apiKeys": [_key_json(k, b) for k, b in zip(keys, brokers, strict=True)]}


async def delete_key(ctx: Ctx) -> Any:
    assert ctx.key is not None
    api_key = ctx.params["apiKey"]
    await call(
        ctx,
        delete_key_as,
        ctx.services.apikeys,
        api_key,
        ctx.account,
        ctx.now,
        actor=ctx.key.api_key,
    )
    await ctx.db(ctx.services.brokers.bindings.on_key_deleted, api_key)
    return {"apiKey": api_key}


async def renew(ctx: Ctx) -> Any:
    p = ctx.params
    assert ctx.key is not None
    api_key = p["apiKey"]
    if api_key == ctx.key.api_key:
        raise ApiError(730003, "A key cannot renew itself; sign with another key of yours.")
    kwargs: dict[str, Any] = {"rotate_secret": p.get("rotateSecret") == "true"}
    if "expireTime" in p:
        kwargs["expires"] = p["expireTime"]
    r = await call(
        ctx,
        renew_key,
        ctx.services.apikeys,
        api_key,
        ctx.account,
        ctx.now,
        actor=ctx.key.api_key,
        **kwargs,
    )
    out: dict[str, Any] = {"apiKey": r.api_key, "expireTime": r.expires}
    if r.secret is not None:
        out["secretKey"] = r.secret
    broker = await ctx.db(ctx.services.brokers.bindings.bound_broker, api_key)
    out["brokerId"] = None if broker is None else str(broker)
    return out


KEY = s.obj(
    {
        "apiKey": s.S,
        "note": s.S,
        "permissions": s.S,
        "ip": s.S,
        "symbols": s.S,
        "createTime": s.INT,
        "creatTime": s.INT,
        "expireTime": NINT,
        "brokerId": NS,
    }
)

ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "POST",
        "/api/v3/user/apiKey",
        create_key,
        (
            P("permissions", "str", True),
            P("note", "str", True),
            P(
                "ip",
                "str",
                description="comma-separated IPs or networks the key may be used from (max "
                "10); left out: the signing key's",
                empty_ok=True,  # sent empty: refused, not read as left out
            ),
            P(
                "symbols",
                "str",
                description="comma-separated pairs the key may trade (max 30); left out: the "
                "signing key's",
                empty_ok=True,  # sent empty: refused, not read as left out
            ),
            P("expireTime", "int", minimum=0),
        ),
        True,
        WRITE,
        "Create an API key of your own account (Bourse)",
        s.obj({**KEY["properties"], "apikey": s.S, "secretKey": s.S}),
    ),
    Endpoint(
        "GET",
        "/api/v3/user/apiKey",
        list_keys,
        (),
        True,
        READ,
        "Your API keys, without secrets (Bourse)",
        s.obj({"apiKeys": s.arr(KEY)}),
    ),
    Endpoint(
        "DELETE",
        "/api/v3/user/apiKey",
        delete_key,
        (P("apiKey", "str", True),),
        True,
        WRITE,
        "Delete one of your API keys; its binding is closed (Bourse)",
        s.obj({"apiKey": s.S}),
    ),
    Endpoint(
        "POST",
        "/api/v3/user/apiKey/renew",
        renew,
        (
            P("apiKey", "str", True),
            P("expireTime", "int", minimum=0),
            P("rotateSecret", "enum", enum=BOOL),
        ),
        True,
        WRITE,
        "Renew a key: extend its expiry and/or rotate its secret; it stays bound (Bourse)",
        s.obj({"apiKey": s.S, "expireTime": NINT, "brokerId": NS}),
    ),
]
