"""One ASGI middleware around the whole app: a request id for every HTTP request, and the
request metrics.

The id is the client's ``X-Request-Id`` when it is sane (1-64 characters of letters, digits and
``._:-``), else a fresh one; it is answered in the ``X-Request-Id`` header, set as the request's
``engine.trace`` (so the engine records it with the money movements the request makes and the
logs carry it) and counted: requests by route template (never the raw path: ``/admin/v1/{group}/
{verb}``, or ``unmatched``), method and status, with a latency histogram. A pure ASGI
middleware: no body buffering, one dict lookup and two metric updates per request.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from bourse.engine.trace import Trace, current

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

HEADER = b"x-request-id"
_SANE = re.compile(rb"[A-Za-z0-9._:\-]{1,64}")
#: called once per HTTP request with (route template, method, status, seconds)
Observer = Callable[[str, str, int, float], None]
#: an app answering a request directly, given the headers to add; returns the HTTP status
Direct = Callable[[Scope, Receive, Send, tuple[tuple[bytes, bytes], ...]], Awaitable[int]]
#: (path, method) -> (the route, as the router would have found it; its direct app)
DirectRoutes = Mapping[tuple[str, str], tuple[Any, Direct]]


class _Ids:
    """Fresh request ids: a random 64-bit prefix per process (renewed in a forked child) and a
    counter, as 32 hex digits. Unique without a syscall per request (``uuid4`` read
    ``os.urandom`` each time: ~3.8 us against ~0.4 us); ids are labels, never secrets."""

    def __init__(self) -> None:
        self.renew()
        os.register_at_fork(after_in_child=self.renew)

    def renew(self) -> None:
        self.prefix = os.urandom(8).hex()
        self.counter = itertools.count(1)

    def next(self) -> str:
        return f"{self.prefix}{next(self.counter) & 0xFFFFFFFFFFFFFFFF:016x}"


_ids = _Ids()


def request_id(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's sane ``X-Request-Id``, else a new one (32 hex digits)."""
    for name, value in headers:
        if name == HEADER:
            if _SANE.fullmatch(value):
                return value.decode()
            break
    return _ids.next()


def route_template(scope: Scope) -> str:
    """The path template of the route that served ``scope`` (``unmatched`` if none did)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class RequestIds:
    """The middleware (see the module docstring); ``observe`` gets each finished request.

    ``direct``: routes answered without the rest of the stack (Starlette's exception
    middleware, router and request/response wrappers), for a request whose (path, method) is
    in it: the MEXC endpoints, which turn every error into their own answer and take the
    request id as a header to send (``bourse.api.mexc.routes.EndpointApp``). The map is read
    per request, so it may be filled after the app is built, and must hold only what the
    router would find first for that path and method (``ExactRouter.index``).
    """

    def __init__(
        self, app: ASGIApp, observe: Observer | None = None, direct: DirectRoutes | None = None
    ) -> None:
        self.app = app
        self.observe = observe
        self.direct: DirectRoutes = direct if direct is not None else {}

    def find(self, scope: Scope) -> tuple[Any, Direct] | None:
        """The direct route of an HTTP request, if it has one."""
        if scope.get("root_path"):
            return None
        return self.direct.get((scope["path"], scope["method"]))

    async def answer(
        self, scope: Scope, receive: Receive, send: Send, hit: tuple[Any, Direct]
    ) -> None:
        """Answer an HTTP request through its direct route (``find``), with its request id."""
        rid = request_id(scope.get("headers") or [])
        token = current.set(Trace(rid))
        status = 500
        started = time.perf_counter()
        route, respond = hit
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        scope["path_params"] = {}
        try:
            status = await respond(scope, receive, send, ((HEADER, rid.encode()),))
        finally:
            current.reset(token)
            if self.observe is not None:
                self.observe(route.path, scope["method"], status, time.perf_counter() - started)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        hit = self.find(scope) if kind == "http" else None
        if hit is not None:
            await self.answer(scope, receive, send, hit)
            return
        rid = request_id(scope.get("headers") or [])
        token = current.set(Trace(rid))
        if kind == "websocket":
            try:
                await self.app(scope, receive, send)
            finally:
                current.reset(token)
            return
        status = 500
        header = (HEADER, rid.encode())
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            current.reset(token)
            if self.observe is not None:
                self.observe(
                    route_template(scope), scope["method"], status, time.perf_counter() - started
                )
