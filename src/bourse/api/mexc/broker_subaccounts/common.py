"""What the sub-account endpoints share: the blocking-call runner, the calling tenant
(broker or normal master), MEXC's broker envelope, amount parsing, and the declarations more
than one family uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool

from bourse.api.mexc import schemas as s
from bourse.api.mexc.context import Ctx
from bourse.api.mexc.params import PAGE as PAGE  # re-exported for the sub-account modules
from bourse.api.mexc.params import P
from bourse.domain.money import to_units
from bourse.services.subaccounts import Tenant


async def run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A blocking service call in a worker thread (errors map through ``errors.TABLE``)."""
    return await run_in_threadpool(fn, *args, **kwargs)


async def broker_tenant(ctx: Ctx) -> Tenant:
    tenant: Tenant = await run(ctx.services.subaccounts.tenant_for_broker, ctx.account)
    return tenant


async def master_tenant(ctx: Ctx) -> Tenant:
    tenant: Tenant = await run(ctx.services.subaccounts.tenant_for_master, ctx.account)
    return tenant


def envelope(data: Any) -> dict[str, Any]:
    """MEXC's broker envelope (``code`` is the string ``"0"``)."""
    return {"code": "0", "message": "", "data": data}


def units(ctx: Ctx, asset: str, text: str, field: str = "amount") -> int:
    return to_units(text, ctx.services.wallet.asset(asset).scale, field=field)


def rate_units(text: str, field: str) -> int:
    """A decimal fee rate (``"0.0005"``) as ppm."""
    return to_units(text, 6, field=field)


AR, AW = "SPOT_ACCOUNT_READ", "SPOT_ACCOUNT_WRITE"
TR, TW = "SPOT_TRANSFER_READ", "SPOT_TRANSFER_WRITE"
DR, DW = "SPOT_DEPOSIT_READ", "SPOT_DEPOSIT_WRITE"
WW = "SPOT_WITHDRAW_WRITE"
TYPES = ("SPOT", "FUTURES")
SUB = P("subAccount", description="sub-account name")
SUB_REQ = P("subAccount", required=True, description="sub-account name")
START = P("startTime", "int", minimum=0)
END = P("endTime", "int", minimum=0)
S, NS, INT = s.S, s.NS, s.INT


def env(item: dict[str, Any]) -> dict[str, Any]:
    return s.obj({"code": S, "message": S, "data": s.arr(item)})
