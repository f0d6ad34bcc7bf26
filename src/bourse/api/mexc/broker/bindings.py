"""Binding a user's key to a broker: bind (once, ever), see the binding, unbind. The signing
key binds and unbinds only itself or keys no wider than itself, and a key bound to a broker
only keys of that broker (``bourse.domain.keyscope``): a broker holding a user's key neither
binds the user's other keys to itself nor unbinds another broker's."""

from __future__ import annotations

from typing import Any

from bourse.api.mexc.broker.common import BINDING, READ, WRITE, call
from bourse.api.mexc.context import Ctx, Endpoint
from bourse.api.mexc.params import P
from bourse.services.brokers.bindings import KeyRule
from bourse.services.brokers.keys import binding_rule, check_binding_change


async def _may_change(ctx: Ctx, api_key: str) -> KeyRule:
    """Raise unless the signing key may bind or unbind ``api_key`` now; the rule, for the
    binding's transaction to apply again to what it reads under the keys' locks."""
    assert ctx.key is not None
    await call(
        ctx,
        check_binding_change,
        ctx.services.apikeys,
        api_key,
        ctx.account,
        ctx.now,
        actor=ctx.key.api_key,
    )
    return binding_rule(api_key, ctx.account, ctx.now, actor=ctx.key.api_key)


async def bind(ctx: Ctx) -> Any:
    assert ctx.key is not None
    api_key = ctx.params.get("apiKey") or ctx.key.api_key
    rule = await _may_change(ctx, api_key)
    b = await call(
        ctx,
        ctx.services.brokers.bindings.bind,
        api_key,
        ctx.params["brokerId"],
        ctx.account,
        actor=ctx.key.api_key,
        rule=rule,
    )
    return {"apiKey": b.api_key, "brokerId": str(b.broker_id), "bindTime": b.bound_at}


async def binding(ctx: Ctx) -> Any:
    assert ctx.key is not None
    api_key = ctx.params.get("apiKey") or ctx.key.api_key
    # another account's key (or none): the error bind and unbind give, never a null binding
    b = await call(ctx, ctx.services.brokers.bindings.get_own, api_key, ctx.account)
    if b is None or b.account_id != ctx.account:
        return {"apiKey": api_key, "brokerId": None, "bindTime": None, "unbindTime": None}
    return {
        "apiKey": api_key,
        "brokerId": str(b.broker_id),
        "bindTime": b.bound_at,
        "unbindTime": b.unbound_at,
    }


async def unbind(ctx: Ctx) -> Any:
    assert ctx.key is not None
    api_key = ctx.params.get("apiKey") or ctx.key.api_key
    rule = await _may_change(ctx, api_key)
    done = await call(
        ctx,
        ctx.services.brokers.bindings.unbind,
        api_key,
        account_id=ctx.account,
        by="user",
        actor=ctx.key.api_key,
        rule=rule,
    )
    return {"apiKey": done.api_key, "brokerId": str(done.broker_id), "unbindTime": done.unbound_at}


ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "POST",
        "/api/v3/user/apiKey/bind",
        bind,
        (P("brokerId", "int", True, minimum=1), P("apiKey", "str")),
        True,
        WRITE,
        "Bind an API key to a broker; a key can be bound only once (Bourse)",
        BINDING,
    ),
    Endpoint(
        "GET",
        "/api/v3/user/apiKey/bind",
        binding,
        (P("apiKey", "str"),),
        True,
        READ,
        "The broker an API key is bound to (Bourse)",
        BINDING,
    ),
    Endpoint(
        "DELETE",
        "/api/v3/user/apiKey/bind",
        unbind,
        (P("apiKey", "str"),),
        True,
        WRITE,
        "Unbind an API key from its broker (recorded; the key cannot be bound again) (Bourse)",
        BINDING,
    ),
]
