"""The page a sub-account's one-time login token opens: ``GET /subaccount/once?onceToken=...``.

A broker gets the token from ``GET /api/v3/broker/sub-account/onceToken`` and hands the link to
its user. The first request with the token shows the sub-account (name, UID, balances); every
later one, or one after the token's 5 minutes, gets 400 and "expired or already used". The
page is ``no-store``, so no cache keeps a copy of it.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bourse.domain.money import format_units
from bourse.services.subaccounts.errors import OnceTokenInvalid
from bourse.services.subaccounts.once_tokens import OnceTokens
from bourse.web import pages
from bourse.web.console import timed


def routes(tokens: OnceTokens) -> list[BaseRoute]:
    async def once(request: Request) -> Response:
        token = request.query_params.get("onceToken")
        try:
            view = await run_in_threadpool(tokens.consume, token)
        except OnceTokenInvalid as exc:
            resp: Response = pages.render(
                "once.html", 400, title="Link expired", error=exc.message or str(exc)
            )
        else:
            resp = pages.render(
                "once.html",
                title=view.sub.name,
                sub=view.sub,
                balances=[
                    (a, format_units(free, sc), format_units(locked, sc))
                    for a, sc, free, locked in view.balances
                ],
            )
        resp.headers["Cache-Control"] = "no-store"
        return resp

    return [Route("/subaccount/once", timed(once), methods=["GET"])]
