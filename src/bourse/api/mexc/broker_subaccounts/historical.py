"""The two sub-account endpoints MEXC has dropped from its broker docs, answered as a spot-only
venue answers them (docs/decisions.md, "Sub-account margin and once-tokens"):

* ``POST /api/v3/broker/sub-account/margin`` (and the normal ``POST /api/v3/sub-account/margin``
  ccxt still lists): the sub-account must be the caller's (140001 otherwise), then always
  730003 "unsupported operation": Bourse has no margin trading;
* ``GET /api/v3/broker/sub-account/onceToken``: ``{"onceToken": "..."}``, a one-time login token
  for the sub-account, good for 5 minutes and one use of ``/subaccount/once?onceToken=...``
  (``bourse.web.once``), the sub-account's page (sub-accounts made by API have no web log-in).
"""

from __future__ import annotations

from typing import Any

from bourse.api.mexc import schemas as s
from bourse.api.mexc.broker_subaccounts.common import (
    AW,
    SUB_REQ,
    S,
    broker_tenant,
    env,
    master_tenant,
    run,
)
from bourse.api.mexc.context import Ctx, Endpoint


async def broker_margin(ctx: Ctx) -> Any:
    t = await broker_tenant(ctx)
    await run(ctx.services.subaccounts.enable_margin, t, ctx.params.get("subAccount"))


async def normal_margin(ctx: Ctx) -> Any:
    t = await master_tenant(ctx)
    await run(ctx.services.subaccounts.enable_margin, t, ctx.params.get("subAccount"))


async def once_token(ctx: Ctx) -> Any:
    t = await broker_tenant(ctx)
    token = await run(ctx.services.subaccounts.once_tokens.issue, t, ctx.params.get("subAccount"))
    return {"onceToken": token}


MARGIN = env(s.obj({"subAccount": S, "isMarginEnabled": s.B, "timestamp": S}))

ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "POST",
        "/api/v3/broker/sub-account/margin",
        broker_margin,
        (SUB_REQ,),
        True,
        AW,
        "Enable margin for a sub-account: always refused, 730003 (spot-only venue)",
        MARGIN,
    ),
    Endpoint(
        "POST",
        "/api/v3/sub-account/margin",
        normal_margin,
        (SUB_REQ,),
        True,
        AW,
        "Enable margin for a sub-account: always refused, 730003 (spot-only venue)",
        MARGIN,
    ),
    Endpoint(
        "GET",
        "/api/v3/broker/sub-account/onceToken",
        once_token,
        (SUB_REQ,),
        True,
        AW,
        "A one-time login token for a sub-account's web page (MEXC broker, historical)",
        s.obj({"onceToken": S}),
        claims_signature=True,  # it mints a login token
    ),
]
