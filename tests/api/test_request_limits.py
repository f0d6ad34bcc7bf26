"""What a MEXC endpoint does with a request body it should not read whole, over HTTP: one over
``MAX_BODY`` (announced by its Content-Length or sent chunked) is refused with MEXC's error
shape and HTTP 413, the request id on it, before the server holds it in memory; one just under
is read as usual. A client that goes away before its body arrives gets nothing sent and logs no
error (there is no one to answer, and nothing went wrong on the server)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.types import Message

from bourse.api.mexc.errors import PARAM_ERROR
from bourse.api.mexc.routes import MAX_BODY, EndpointApp, routes
from tests.support.mexc import err
from tests.support.platforms import Env


def _too_large(env: Env, **kw: Any) -> None:
    r = env.http.post("/api/v3/order?symbol=BTCUSDT", **kw)
    assert r.status_code == 413, r.text
    assert err(r, PARAM_ERROR, 413)["msg"] == f"The request body is over {MAX_BODY} bytes."
    assert r.headers["x-request-id"]


def test_body_over_the_limit_refused(env: Env) -> None:
    _too_large(env, content=b"a" * (MAX_BODY + 1))
    _too_large(env, content=b"a=" + b"b" * 10_000_000)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the server counts what arrives
        for _ in range(MAX_BODY // 65536 + 2):
            yield b"c" * 65536

    _too_large(env, content=chunks())
    # just under: read and parsed as usual (an unsigned order: the key is missing)
    r = env.http.post("/api/v3/order", content=b"a=" + b"b" * (MAX_BODY - 2))
    assert err(r, 400, 401)["msg"] == "api key required"
    assert env.http.get("/api/v3/ping").json() == {}  # the server serves on


def test_client_gone_before_its_body_answers_nothing(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    order = next(
        r.endpoint
        for r in routes(env.platform)
        if isinstance(r.endpoint, EndpointApp) and r.path == "/api/v3/order"
    )
    scope = {
        "type": "http", "method": "POST", "path": "/api/v3/order", "query_string": b"",
        "headers": [(b"content-length", b"100")], "client": ("127.0.0.1", 1),
    }  # fmt: skip
    arrived: list[Message] = [
        {"type": "http.request", "body": b"x=1", "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return arrived.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    with caplog.at_level(logging.INFO, logger="bourse"):
        status = asyncio.run(order.respond(scope, receive, send, ()))
    assert (status, sent, arrived) == (499, [], [])
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


@pytest.mark.parametrize(
    ("version", "headers", "reads"),
    [
        ("1.1", [], False),  # no Content-Length, no Transfer-Encoding: no body (RFC 9112)
        ("1.1", [(b"content-length", b"0")], False),
        ("1.1", [(b"transfer-encoding", b"chunked")], True),
        ("1.1", [(b"content-length", b"3")], True),
        ("2", [], True),  # HTTP/2 may stream a body without announcing its length
    ],
)
def test_a_request_without_a_body_is_not_read(
    env: Env, version: str, headers: list[tuple[bytes, bytes]], reads: bool
) -> None:
    """A bodiless POST (an order sent in its query, as ccxt and wrk send it) answers without
    waiting on the body; one that may carry a body reads it (here: ``x=1``, ignored)."""
    order = next(
        r.endpoint
        for r in routes(env.platform)
        if isinstance(r.endpoint, EndpointApp) and r.path == "/api/v3/order"
    )
    scope = {
        "type": "http", "method": "POST", "path": "/api/v3/order", "http_version": version,
        "query_string": b"symbol=BTCUSDT", "headers": headers, "client": ("127.0.0.1", 1),
    }  # fmt: skip
    received: list[int] = []

    async def receive() -> Message:
        received.append(1)
        return {"type": "http.request", "body": b"x=1", "more_body": False}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    status = asyncio.run(order.respond(scope, receive, send, ()))
    assert status == 401  # unsigned: the api key is missing, as with or without a body
    assert b"api key required" in sent[-1]["body"]
    assert bool(received) is reads


def test_middleware_added_to_the_app_sees_mexc_requests(env: Env) -> None:
    """``ExchangeApp`` answers a MEXC endpoint before Starlette's stack only while no
    middleware was added: one added later sees those requests too."""
    from bourse.app import create_app

    app = create_app(env.platform)
    seen: list[str] = []

    class Spy:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            seen.append(scope.get("path", ""))
            await self.inner(scope, receive, send)

    assert app.direct is not None
    app.add_middleware(Spy)
    assert app.direct is None
    scope = {
        "type": "http", "method": "GET", "path": "/api/v3/ping", "http_version": "1.1",
        "query_string": b"", "headers": [], "client": ("127.0.0.1", 1), "root_path": "",
    }  # fmt: skip
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 200 and sent[-1]["body"] == b"{}"
    assert seen == ["/api/v3/ping"]
