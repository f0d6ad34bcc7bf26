"""How the wallet endpoints reach ``bourse.services.wallet.WalletService``: find it on the
request's services, run its blocking calls in a worker thread, parse amounts in a coin's units.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool

from bourse.api.mexc.context import Ctx
from bourse.api.mexc.errors import ApiError
from bourse.domain.money import to_units
from bourse.services.wallet import WalletService


def wallet_of(ctx: Ctx) -> WalletService:
    svc: WalletService | None = getattr(ctx.services, "wallet", None)
    if svc is None:
        raise ApiError(503, "service not available, please try again", 503)
    return svc


async def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a blocking service call in a worker thread (errors map through ``errors.TABLE``)."""
    return await run_in_threadpool(fn, *args, **kwargs)


def units(svc: WalletService, coin: str, text: str, field: str = "amount") -> int:
    return to_units(text, svc.asset(coin).scale, field=field)
