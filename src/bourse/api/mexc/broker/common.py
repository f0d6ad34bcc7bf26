"""What the broker endpoints share: the calling broker, paging and time windows, decimal
rates, and the declarations more than one family uses."""

from __future__ import annotations

from typing import Any

from bourse.api.mexc import schemas as s
from bourse.api.mexc.context import Ctx
from bourse.api.mexc.errors import ApiError, invalid
from bourse.api.mexc.params import PAGE, P
from bourse.domain.money import format_units
from bourse.services.brokers.registry import Broker

READ, WRITE = "SPOT_ACCOUNT_READ", "SPOT_ACCOUNT_WRITE"


async def call(ctx: Ctx, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a blocking broker operation in a worker thread (errors map through the table)."""
    return await ctx.db(fn, *args, **kwargs)


async def my_broker(ctx: Ctx) -> Broker:
    """The broker whose main account owns the calling key (401 No authority otherwise)."""
    b: Broker | None = await ctx.db(ctx.services.brokers.registry.by_account, ctx.account)
    if b is None:
        raise ApiError(401, "No authority", 401)
    return b


def asset_scale(ctx: Ctx, asset: str) -> int:
    a = ctx.services.engine.wallet.assets.get(asset)
    return a.scale if a is not None else 8


def rate_text(ppm: int) -> str:
    return format_units(ppm, 6)


def page_params(p: dict[str, Any], default_size: int) -> tuple[int, int]:
    return p.get("page", 1), p.get("pageSize", default_size)


def time_window(p: dict[str, Any]) -> tuple[int | None, int | None]:
    start, end = p.get("startTime"), p.get("endTime")
    if start is not None and end is not None and start > end:
        raise invalid("startTime", "must not be after endTime")
    return start, end


def page_count(total: int, size: int) -> int:
    return (total + size - 1) // size


WINDOW = (
    P("startTime", "int", minimum=0),
    P("endTime", "int", minimum=0),
    PAGE,
)
NS, NINT = s.NS, s.nullable(s.INT)
BINDING = s.obj({"apiKey": s.S, "brokerId": NS}, required=["apiKey", "brokerId"])
BOOL = ("true", "false")
