"""Every MEXC endpoint we serve, and the one request pipeline they share.

For each request: collect parameters (``params.collect``); count a public request against its
IP's budget, a SIGNED one, once authenticated (``auth.authenticate`` or an OAuth Bearer token),
against its account's budget (a failed authentication counts against the IP); validate the
parameters against the endpoint's declaration (undeclared ones are ignored);
run the handler; turn any error into MEXC's ``{"code","msg"}`` with the mapped HTTP status.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bourse.api.mexc import (
    account,
    affiliate,
    broker,
    broker_subaccounts,
    capital,
    market,
    rebate,
    stp_groups,
    trading,
    userdatastream,
)
from bourse.api.mexc.auth import SIGNED_PARAMS, authenticate
from bourse.api.mexc.bearer import bearer_key, is_bearer
from bourse.api.mexc.context import Ctx, Endpoint
from bourse.api.mexc.errors import ApiError, to_response
from bourse.api.mexc.params import collect, validate
from bourse.api.mexc.ratelimit import RateLimiter
from bourse.engine.clock import now_ms
from bourse.engine.trace import set_origin
from bourse.services import throttle
from bourse.services.bundle import Services

ENDPOINTS: list[Endpoint] = [
    *market.ENDPOINTS,
    *trading.ENDPOINTS,
    *account.ENDPOINTS,
    *stp_groups.ENDPOINTS,
    *broker.ENDPOINTS,
    *broker_subaccounts.ENDPOINTS,
    *capital.ENDPOINTS,
    *rebate.ENDPOINTS,
    *affiliate.ENDPOINTS,
    *userdatastream.ENDPOINTS,
]


def client_ip(request: Request, trust_forwarded: bool) -> str:
    peer = request.client.host if request.client else None
    return throttle.client_ip(request.headers.get("x-forwarded-for"), peer, trust_forwarded)


def _endpoint_app(ep: Endpoint, platform: Services, limiter: RateLimiter) -> Any:
    trust = platform.config.trust_forwarded_for
    keys = platform.apikeys
    specs = ep.params
    signed = ep.signed
    path = ep.path

    async def handle(request: Request) -> Response:
        now = now_ms()
        try:
            ip = client_ip(request, trust)
            if not signed:
                limiter.hit("ip:" + ip, path, now)
            query: bytes = request.scope.get("query_string", b"")
            body = b"" if request.method == "GET" else await request.body()
            params, is_form = collect(query, body)
            key = principal = None
            signature = ""
            try:
                if signed and is_bearer(authorization := request.headers.get("authorization")):
                    # OAuth: the access token is the credential (no signature or timestamp)
                    key, principal = await run_in_threadpool(
                        bearer_key,
                        platform,
                        authorization,
                        request.headers.get("source"),
                        ep.permission,
                        now,
                    )
                elif signed:
                    key, signature = authenticate(
                        keys,
                        request.headers.get("x-mexc-apikey"),
                        ip,
                        query,
                        body,
                        is_form,
                        params,
                        ep.permission,
                        now,
                    )
            except ApiError:
                limiter.hit("auth-failed:" + ip, path, now)  # credential guessing, per IP
                raise
            if key is not None:
                limiter.hit(f"uid:{key.account_id}", path, now)
                # who moves money in this request (recorded with each movement it makes)
                set_origin(
                    f"oauth:{principal.client_id}"
                    if principal is not None
                    else f"api_key:{key.api_key}"
                )
            # signed: checked above; public: some clients sign everything, and MEXC ignores it
            for name in SIGNED_PARAMS:
                params.pop(name, None)
            ctx = Ctx(
                platform, request, validate(specs, params), ip, now, key, principal, signature
            )
            result = await ep.handler(ctx)
        except Exception as exc:  # every error becomes a MEXC error body
            return to_response(exc)
        if isinstance(result, Response):
            return result
        return JSONResponse(result)

    handle.__name__ = f"{ep.method.lower()}_{path.strip('/').replace('/', '_')}"
    return handle


def merge(*families: Iterable[Endpoint]) -> list[Endpoint]:
    """Endpoint lists combined in order; a later (method, path) replaces an earlier one."""
    out: dict[tuple[str, str], Endpoint] = {}
    for family in families:
        for ep in family:
            out.pop((ep.method, ep.path), None)
            out[(ep.method, ep.path)] = ep
    return list(out.values())


def routes(
    platform: Services,
    limiter: RateLimiter | None = None,
    endpoints: Iterable[Endpoint] | None = None,
) -> list[Route]:
    """Starlette routes for ``endpoints`` (default ``ENDPOINTS``), one shared limiter."""
    limiter = limiter or RateLimiter(platform.config.rate_limits)
    return [
        Route(ep.path, _endpoint_app(ep, platform, limiter), methods=[ep.method])
        for ep in (ENDPOINTS if endpoints is None else endpoints)
    ]
