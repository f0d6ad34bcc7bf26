"""The broker program's own endpoints: apply, see status and rates, and the keys bound to the
calling broker (list them, let one go)."""

from __future__ import annotations

from typing import Any

from bourse.api.mexc import schemas as s
from bourse.api.mexc.broker.common import (
    BINDING,
    BOOL,
    NS,
    READ,
    WRITE,
    call,
    my_broker,
    rate_text,
)
from bourse.api.mexc.context import Ctx, Endpoint
from bourse.api.mexc.params import P
from bourse.domain import brokers as d
from bourse.domain.errors import InvalidParameter
from bourse.services.brokers import Brokers
from bourse.services.brokers.registry import Broker


def _broker_info(b: Broker, brokers: Brokers) -> dict[str, Any]:
    history = brokers.registry.rate_history(b.id)
    return {
        "brokerId": str(b.id),
        "name": b.name,
        "code": b.code,
        "brokerType": b.type.value,
        "status": b.status.value,
        "reason": b.reason,
        "uid": str(b.account_id),
        "rebateUid": str(b.rebate_account_id),
        "rebateRate": rate_text(brokers.registry.rate_at(b.id)),
        "rateHistory": [
            {"rate": rate_text(h.rate_ppm), "effectiveFrom": h.effective_from, "note": h.note}
            for h in history
        ],
        "logoUrl": b.logo_url,
        "callbackUrl": b.callback_url,
        "createTime": b.created,
        "updateTime": b.updated,
    }


async def apply(ctx: Ctx) -> Any:
    p = ctx.params
    brokers = ctx.services.brokers
    rebate_uid = p.get("rebateUid")
    if rebate_uid is not None and rebate_uid != ctx.account:
        # a self-service application routes rebates to the applicant or one of its own
        # sub-accounts, never to another tenant (the operator's `brokers apply` may)
        owner = ctx.account
        parent = await ctx.read(
            lambda e: getattr(e.wallet.accounts.get(rebate_uid), "parent", None)
        )
        if parent != owner:
            raise InvalidParameter("rebateUid must be your own uid or one of your sub-accounts")
    b = await call(
        ctx,
        brokers.registry.apply,
        ctx.account,
        p["brokerType"],
        p["name"],
        rebate_account_id=p.get("rebateUid"),
        code=p.get("code"),
        logo_url=p.get("logoUrl", ""),
        callback_url=p.get("callbackUrl", ""),
        note=p.get("note", ""),
    )
    return await ctx.db(_broker_info, b, brokers)


async def info(ctx: Ctx) -> Any:
    b = await my_broker(ctx)
    return await ctx.db(_broker_info, b, ctx.services.brokers)


async def bound_keys(ctx: Ctx) -> Any:
    b = await my_broker(ctx)
    rows = await ctx.db(
        ctx.services.brokers.bindings.list_for_broker,
        b.id,
        ctx.params.get("includeUnbound") == "true",
    )
    return {"brokerId": str(b.id), "apiKeys": rows}


async def release_key(ctx: Ctx) -> Any:
    b = await my_broker(ctx)
    done = await call(
        ctx,
        ctx.services.brokers.bindings.unbind,
        ctx.params["apiKey"],
        account_id=b.account_id,
        by="broker",
    )
    return {"apiKey": done.api_key, "brokerId": str(done.broker_id), "unbindTime": done.unbound_at}


BROKER_INFO = s.obj(
    {
        "brokerId": s.S,
        "name": s.S,
        "code": NS,
        "brokerType": {"type": "string", "enum": [x.value for x in d.BrokerType]},
        "status": {"type": "string", "enum": [x.value for x in d.BrokerStatus]},
        "uid": s.S,
        "rebateUid": s.S,
        "rebateRate": s.DEC,
        "rateHistory": s.arr(s.obj({"rate": s.DEC, "effectiveFrom": s.INT, "note": s.S})),
        "createTime": s.INT,
    },
    required=["brokerId", "name", "brokerType", "status", "uid", "rebateUid", "rebateRate"],
)

ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "POST",
        "/api/v3/broker/apply",
        apply,
        (
            P("brokerType", "enum", True, enum=tuple(x.value for x in d.BrokerType)),
            P("name", "str", True),
            P("code", "str"),
            P("rebateUid", "int", minimum=0),
            P("logoUrl", "str"),
            P("callbackUrl", "str"),
            P("note", "str"),
        ),
        True,
        WRITE,
        "Apply to become a broker (Bourse)",
        BROKER_INFO,
    ),
    Endpoint(
        "GET",
        "/api/v3/broker/info",
        info,
        (),
        True,
        READ,
        "Broker status and rates (Bourse)",
        BROKER_INFO,
    ),
    Endpoint(
        "GET",
        "/api/v3/broker/apiKey/bound",
        bound_keys,
        (P("includeUnbound", "enum", enum=BOOL),),
        True,
        READ,
        "API keys bound to the calling broker, without secrets (Bourse)",
        s.obj({"brokerId": s.S, "apiKeys": s.arr(s.obj({"apiKey": s.S, "uid": s.S}, extra=True))}),
    ),
    Endpoint(
        "DELETE",
        "/api/v3/broker/apiKey/bound",
        release_key,
        (P("apiKey", "str", True),),
        True,
        WRITE,
        "Release a key bound to the calling broker (Bourse)",
        BINDING,
    ),
]
