"""The ASGI application: ``create_app(platform)`` serves the MEXC Spot V3 API of a ``Services``.

Besides the MEXC endpoints (``bourse.api.mexc.routes.ENDPOINTS``) it serves ``/openapi.json``,
the OAuth 2.0 authorization server (``bourse.oauth``) and the web pages (``bourse.web``); when
the wallet runs in sandbox mode (``WalletSettings.sandbox`` when the app is built) also the
unsigned ``/sandbox/...`` endpoints that drive the simulated chain (``bourse.sandbox.endpoints``),
and, with the sandbox's controls (``platform.sandbox``), the middleware applying its injected
faults (``bourse.sandbox.fault_middleware``).
Unknown paths and methods answer with MEXC's error shape. The platform's lifecycle belongs to
the caller (``Services.open`` before, ``platform.close()`` after). Every HTTP request gets a
request id (``X-Request-Id``, ``bourse.api.observability.middleware``); ``/healthz`` and
``/readyz`` answer a load balancer (``bourse.api.observability.health``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from bourse.api.exact_router import ExactRouter
from bourse.api.mexc import openapi
from bourse.api.mexc.context import Endpoint
from bourse.api.mexc.errors import NOT_FOUND, ApiError, busy
from bourse.api.mexc.ratelimit import RateLimiter
from bourse.api.mexc.routes import ENDPOINTS, EndpointApp, merge, routes
from bourse.api.observability.health import health_routes
from bourse.api.observability.metrics import Metrics, metrics_routes
from bourse.api.observability.middleware import RequestIds
from bourse.api.ws.limits import StreamStats
from bourse.api.ws.routes import ws_routes
from bourse.engine.trace import set_origin
from bourse.oauth.server import AuthServer, OAuthConfig
from bourse.operations import sandbox as sandbox_operations
from bourse.operations.dispatch import invoke
from bourse.operations.http import admin_routes
from bourse.operations.registry import OperationError
from bourse.sandbox.controls import Sandbox
from bourse.sandbox.endpoints import SANDBOX_ENDPOINTS
from bourse.sandbox.fault_middleware import FaultMiddleware
from bourse.services.bundle import Services
from bourse.services.throttle import FailureWindow
from bourse.store.repositories.audit import AuditLog
from bourse.store.transaction import StoreBusy
from bourse.web import (
    broker,
    broker_oauth,
    broker_subaccounts,
    console,
    operator,
    security,
    trade,
    wallet,
)
from bourse.web.once import routes as once_routes
from bourse.web.routes import all_routes as web_routes

log = logging.getLogger("bourse.operations")


def console_faucet(platform: Services) -> console.Faucet | None:
    """In demo mode, the console's "Get test funds" button: the sandbox faucet operation (the
    same limits and request-id dedup as ``bourse sandbox faucet``), its money movements
    recorded with origin ``sandbox``."""
    if not platform.wallet.settings.sandbox:
        return None

    def give(account: int, asset: str, amount: str, request_id: str) -> None:
        set_origin("sandbox")
        try:
            sandbox_operations.faucet(
                platform, account=account, asset=asset, amount=amount, request_id=request_id
            )
        except OperationError as exc:
            raise console.FaucetRefused(str(exc)) from None

    return give


def operator_invoke(platform: Services) -> operator.Invoke:
    """The operator console's way to run an operation: the registry's ``invoke`` (audited,
    actor ``operator (web)``), its refusals as the console's ``Refused``."""

    def run(name: str, params: dict[str, Any], source: str) -> Any:
        try:
            return invoke(platform, name, params, actor=operator.ACTOR, source=source)
        except OperationError as exc:
            raise operator.Refused(str(exc), exc.status) from None
        except Exception as exc:  # one line for the operator, as the operator API answers
            log.exception("operation %s failed", name)
            raise operator.Refused(f"{name} failed: {type(exc).__name__}: {exc}", 500) from None

    return run


def operator_console(
    platform: Services, token: str, throttle: FailureWindow, meter: Metrics | None, secure: bool
) -> list[BaseRoute]:
    """The operator console (``/operator``), signed in with the operator API's credential and
    sharing its failure throttle; its health page reads ``meter``'s figures."""
    return operator.routes(
        operator_invoke(platform),
        token,
        AuditLog(platform.db),
        secure=secure,
        throttle=throttle,
        samples=meter.samples if meter is not None else None,
        trust_forwarded=platform.config.trust_forwarded_for,
    )


class ExchangeApp(Starlette):
    """Starlette, but a MEXC endpoint's request goes to its direct answer
    (``RequestIds.answer``) before Starlette's middleware stack: that stack's outer layers
    (its app call, the server-error middleware wrapping every ``send``) do nothing for an
    endpoint that turns every error into its own answer, and an order paid for them. Off
    (``direct`` None) once a middleware is added (``add_middleware``): it must see every
    request, as the sandbox's faults do.
    """

    direct: RequestIds | None = None

    def add_middleware(self, middleware_class: Any, *args: Any, **kwargs: Any) -> None:
        """A middleware added to the app must see every request: no direct answers then."""
        self.direct = None
        super().add_middleware(middleware_class, *args, **kwargs)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ids = self.direct
        if ids is not None and scope["type"] == "http":
            hit = ids.find(scope)
            if hit is not None:
                scope["app"] = self
                await ids.answer(scope, receive, send, hit)
                return
        await super().__call__(scope, receive, send)


def create_app(
    platform: Services,
    extra_endpoints: Iterable[Endpoint] = (),
    *,
    operator_token: str | None = None,
    metrics: bool = True,
) -> ExchangeApp:
    """A Starlette app serving ``platform`` (MEXC Spot V3 REST + ``/openapi.json``).

    ``extra_endpoints`` (other endpoint families, e.g. wallet or broker) go through the same
    pipeline and into the same OpenAPI document; one with the same method and path as a core
    endpoint replaces it. With ``operator_token`` the operator API (``/admin/v1/...``,
    ``bourse.operations.http``) is served too, guarded by that credential, and so are the
    Prometheus metrics (``/metrics``; ``metrics=False`` collects none: the benchmark's baseline).
    """
    sandbox = SANDBOX_ENDPOINTS if platform.wallet.settings.sandbox else ()
    endpoints = merge(ENDPOINTS, sandbox, extra_endpoints)
    oauth_config = OAuthConfig.from_public_url(
        platform.config.public_url, trust_forwarded_for=platform.config.trust_forwarded_for
    )
    oauth = AuthServer(oauth_config, platform.oauth, platform.users.throttle)
    spec = openapi.build(endpoints)

    async def openapi_json(request: Request) -> Response:
        return JSONResponse(spec)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        msg = "Not Found" if status == 404 else "Method Not Allowed" if status == 405 else "Error"
        headers = dict(getattr(exc, "headers", None) or {})
        return ApiError(NOT_FOUND if status == 404 else status, msg, status, headers).response()

    async def store_busy(request: Request, exc: Exception) -> Response:
        return busy().response()  # pages and OAuth too: a busy database is retryable, not a 500

    secure, faucet = bool(oauth_config.secure_cookies), console_faucet(platform)
    ws = StreamStats()
    meter = Metrics(platform, ws) if metrics else None
    throttle = FailureWindow()  # failed operator credentials: the API's, console's, /metrics'
    trust = platform.config.trust_forwarded_for
    limiter = RateLimiter(
        platform.config.rate_limits, on_refusal=meter.refused if meter is not None else None
    )
    direct: dict[tuple[str, str], tuple[Any, Any]] = {}  # filled once the router is built
    observe = meter.observe_request if meter is not None else None
    app = ExchangeApp(
        routes=[
            *routes(platform, limiter, endpoints=endpoints),
            Route("/openapi.json", openapi_json, methods=["GET"]),
            *ws_routes(platform, stats=ws),
            *console.routes(platform, secure, faucet),
            *trade.routes(platform, secure),
            *broker.routes(platform, secure, faucet),
            *broker_subaccounts.routes(platform, secure, faucet),
            *broker_oauth.routes(platform, secure),
            *wallet.routes(platform, secure, faucet),
            *security.routes(platform, secure),
            *web_routes(oauth, platform.users, platform.referrals),
            *once_routes(platform.subaccounts.once_tokens),
            *(admin_routes(platform, operator_token, throttle) if operator_token else []),
            *(
                operator_console(platform, operator_token, throttle, meter, secure)
                if operator_token
                else []
            ),
            *health_routes(platform),
            *(metrics_routes(meter, operator_token, throttle, trust) if meter is not None else []),
        ],
        exception_handlers={HTTPException: http_error, StoreBusy: store_busy},
        middleware=[Middleware(RequestIds, observe=observe, direct=direct)],
    )
    app.router = ExactRouter(app.router.routes)  # the same routes, found by path and method
    # the MEXC endpoints the router would find by path and method: answered by the request-id
    # middleware directly (their pipeline maps every error itself), not through the stack
    for key, route in app.router.index().items():
        if isinstance(route.endpoint, EndpointApp):
            direct[key] = (route, route.endpoint.respond)
    app.state.platform = platform
    app.state.metrics = meter
    # the same answers as through the stack's request-id middleware, found sooner
    app.direct = RequestIds(app.router, observe=observe, direct=direct)
    if isinstance(platform.sandbox, Sandbox):  # demo mode: the injected faults apply (to all)
        app.add_middleware(FaultMiddleware, table=platform.sandbox.faults)
    return app
