"""Every MEXC endpoint we serve, and the one request pipeline they share.

For each request: collect parameters (``params.collect``); count a public request against its
IP's budget, a SIGNED one, once authenticated (``auth.authenticate`` or an OAuth Bearer token),
against its account's budget (a failed authentication counts against the IP); validate the
parameters against the endpoint's declaration (undeclared ones are ignored); claim a signed
request's signature unless it is a read (``Endpoint.claims``, ``replay.claim``: a copy is
refused) or remember a read's that a write could carry (``replay.remember_read``); run the
handler; turn any error into MEXC's ``{"code","msg"}`` with the mapped HTTP status.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

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
from bourse.api.mexc.auth import BODY_OUTSIDE_SIGNATURE, SIGNED_PARAMS, authenticate
from bourse.api.mexc.bearer import bearer_key, is_bearer
from bourse.api.mexc.context import Ctx, Endpoint
from bourse.api.mexc.errors import PARAM_ERROR, ApiError, to_response
from bourse.api.mexc.params import collect, validate
from bourse.api.mexc.ratelimit import RateLimiter
from bourse.api.mexc.replay import claim, remember_read
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


def header_map(raw: Iterable[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    """A request's headers by (lower-case) name; a repeated name keeps its first value, as
    Starlette's ``Headers.get`` answers."""
    out: dict[bytes, bytes] = {}
    for name, value in raw:
        if name not in out:
            out[name] = value
    return out


def _forwarded(raw: Iterable[tuple[bytes, bytes]]) -> list[str]:
    """Every ``X-Forwarded-For`` header of a request, in order (``throttle.client_ip`` takes
    the last hop of the last one)."""
    return [value.decode("latin-1") for name, value in raw if name == b"x-forwarded-for"]


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


#: the largest request body a MEXC endpoint reads (the largest a client sends, a batch of 20
#: orders, is a few kB): a bigger one is refused (HTTP 413) before it is held in memory whole
MAX_BODY = 1 << 20


#: HTTP versions whose request without Content-Length or Transfer-Encoding has no body (an
#: HTTP/2 request may stream one without announcing its length)
_LENGTH_FRAMED = ("1.1", "1.0")


def too_large() -> ApiError:
    return ApiError(PARAM_ERROR, f"The request body is over {MAX_BODY} bytes.", 413)


def _over(length: bytes) -> bool:
    """Whether a Content-Length announces more than ``MAX_BODY`` bytes."""
    return length.isdigit() and (len(length) > 12 or int(length) > MAX_BODY)


async def read_body(receive: Receive, limit: int = MAX_BODY) -> bytes:
    """The request body, as Starlette's ``Request.body`` reads it (a client gone: raises
    ``ClientDisconnect``), up to ``limit`` bytes (beyond: raises ``too_large``). Ends with the
    body: the server sends its last chunk with ``more_body`` false, or ``http.disconnect``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "http.request":
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)
        elif kind == "http.disconnect":
            raise ClientDisconnect()


#: what orjson must refuse rather than write differently from ``json`` (which refuses them)
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME


def render(result: Any) -> bytes:
    """``result`` as Starlette's ``JSONResponse`` writes it (compact, UTF-8, no NaN).

    orjson writes the same bytes for what the handlers answer (str keys; str, int, bool, None,
    lists and dicts; no floats: money is exact) in a tenth of the time; anything it refuses
    (an int beyond 64 bits, a non-str key, a float NaN would pass as null: none is ever
    answered) goes through ``json`` as before, which answers or raises as it did."""
    try:
        return orjson.dumps(result, option=_ORJSON_OPTIONS)
    except TypeError:
        return json.dumps(
            result, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
        ).encode("utf-8")


_JSON = (b"content-type", b"application/json")
#: the status a request whose client went away counts as (nginx's "client closed request")
CLIENT_GONE = 499
Headers = tuple[tuple[bytes, bytes], ...]


class EndpointApp:
    """One endpoint's pipeline (see the module docstring) as a pure ASGI app: the request read
    from the ASGI scope and the answer sent as ASGI messages, no Starlette ``Request`` or
    ``Response`` on the way of a JSON answer (the handler still gets a ``Request`` in its
    ``Ctx``). ``respond`` also takes headers to add and returns the status: the request-id
    middleware calls it directly for a route it finds by path and method
    (``bourse.api.observability.middleware``)."""

    def __init__(self, ep: Endpoint, platform: Services, limiter: RateLimiter) -> None:
        self.ep = ep
        self.platform = platform
        self.limiter = limiter
        self.trust = platform.config.trust_forwarded_for
        self.body_may_be_unsigned = (
            platform.config.unsigned_broker_bodies
            and (ep.method, ep.path) in BODY_OUTSIDE_SIGNATURE
        )
        self.claims = ep.claims
        self.__name__ = f"{ep.method.lower()}_{ep.path.strip('/').replace('/', '_')}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.respond(scope, receive, send, ())

    async def respond(self, scope: Scope, receive: Receive, send: Send, extra: Headers) -> int:
        """Serve the request; ``extra`` headers go on the answer; returns its HTTP status."""
        try:
            result = await self.handle(scope, receive)
        except ClientDisconnect:  # gone before its body arrived: no one to answer, no error
            return CLIENT_GONE
        except Exception as exc:  # every error becomes a MEXC error body
            result = to_response(exc)
        if isinstance(result, Response):
            return await _send_response(result, scope, receive, send, extra)
        body = render(result)
        length = (b"content-length", str(len(body)).encode())
        await send(
            {"type": "http.response.start", "status": 200, "headers": [length, _JSON, *extra]}
        )
        await send({"type": "http.response.body", "body": body})
        return 200

    async def handle(self, scope: Scope, receive: Receive) -> Any:
        ep, limiter, path, signed = self.ep, self.limiter, self.ep.path, self.ep.signed
        now = now_ms()
        headers = header_map(scope["headers"])
        peer = scope.get("client")
        ip = throttle.client_ip(
            _forwarded(scope["headers"]) if self.trust else None,
            peer[0] if peer else None,
            self.trust,
        )
        method = ep.method
        if not signed:
            limiter.hit("ip:" + ip, path, now, method=method)
        query: bytes = scope.get("query_string", b"")
        length = headers.get(b"content-length", b"")
        if scope["method"] == "GET":
            body = b""
        elif _over(length):  # announced: refused before any is read
            raise too_large()
        elif (
            length in (b"", b"0")
            and b"transfer-encoding" not in headers
            and scope.get("http_version") in _LENGTH_FRAMED
        ):
            # no body (RFC 9112, 6.3): an order sent in its query waits for no read. The
            # request has arrived whole, so it is served even if its client has gone meanwhile
            # (the read used to see that, by chance of timing, and answer nobody): as for any
            # request whose client goes while it is served, a retry finds the order by its
            # newClientOrderId
            body = b""
        else:
            body = await read_body(receive)
        params, is_form = collect(query, body)
        key = principal = None
        signature = ""
        body_signed = True
        until, window_only = 0, False
        try:
            if signed and is_bearer(authorization := _text(headers.get(b"authorization"))):
                # OAuth: the access token is the credential (no signature or timestamp)
                key, principal = await run_in_threadpool(
                    bearer_key,
                    self.platform,
                    authorization,
                    _text(headers.get(b"source")),
                    ep.permission,
                    now,
                )
            elif signed:
                key, signature, body_signed, until, window_only = authenticate(
                    self.platform.apikeys,
                    _text(headers.get(b"x-mexc-apikey")),
                    ip,
                    query,
                    body,
                    is_form,
                    params,
                    ep.permission,
                    now,
                    self.body_may_be_unsigned,
                )
        except ApiError:
            limiter.hit("auth-failed:" + ip, path, now, method=method)  # guessing, per IP
            raise
        if key is not None:
            # MEXC's budget is the account's; a ban is the credential's that earned it
            limiter.hit(
                f"uid:{key.account_id}",
                path,
                now,
                method=method,
                sender=(
                    f"oauth:{principal.family_id or principal.token_id}"
                    if principal is not None
                    else f"key:{key.api_key}"
                ),
            )
            # who moves money in this request (recorded with each movement it makes)
            set_origin(
                f"oauth:{principal.client_id}"
                if principal is not None
                else f"api_key:{key.api_key}"
            )
        # signed: checked above; public: some clients sign everything, and MEXC ignores it
        for name in SIGNED_PARAMS:
            params.pop(name, None)
        request = Request(scope, receive)
        request._body = body  # read above: a handler asking again gets it
        ctx = Ctx(self.platform, request, {}, ip, now, key, principal, signature, headers)
        spends = self.claims or not body_signed  # the signature serves one request
        if window_only and not spends:  # a read whose signature a write could carry: none
            remember_read(ctx, until)  # may (remembered even if its parameters are refused)
        ctx.params = validate(ep.params, params)
        if spends:  # refused a signature a read showed, but where the endpoint shares it
            await claim(ctx, window_only and not ep.shares_read_signature)
        return await ep.handler(ctx)


async def _send_response(
    response: Response, scope: Scope, receive: Receive, send: Send, extra: Headers
) -> int:
    """Send a Starlette ``response`` with the ``extra`` headers; returns its status."""
    if not extra:
        await response(scope, receive, send)
        return response.status_code

    async def send_extra(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), *extra]
        await send(message)

    await response(scope, receive, send_extra)
    return response.status_code


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
        Route(ep.path, EndpointApp(ep, platform, limiter), methods=[ep.method])
        for ep in (ENDPOINTS if endpoints is None else endpoints)
    ]
