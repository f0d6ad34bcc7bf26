"""``ExactRouter`` answers as Starlette's linear router does, one dict lookup for plain paths."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Match, Mount, Route

from bourse.api.exact_router import ExactRouter
from bourse.app import create_app
from tests.support.platforms import Env
from tests.support.server import ServerThread


def _say(text: str) -> object:
    async def endpoint(request: Request) -> Response:
        return PlainTextResponse(f"{text} {request.scope['route'].path} {request.path_params}")

    return endpoint


def test_the_first_full_match_wins_as_in_the_linear_scan() -> None:
    app = Starlette(
        routes=[
            Route("/a/{x}", _say("param"), methods=["GET"]),  # shadows GET /a/b below
            Route("/a/b", _say("plain"), methods=["GET", "POST"]),
            Route("/a/b", _say("second"), methods=["POST"]),  # never reached
            Mount("/m", routes=[Route("/c", _say("mounted"))]),
            Route("/m/c", _say("shadowed by the mount")),
            Route("/z", _say("z"), methods=["PUT"]),
        ]
    )
    app.router = ExactRouter(app.router.routes)
    with ServerThread(app) as srv, httpx.Client(base_url=srv.url, timeout=15) as http:
        assert http.get("/a/b").text == "param /a/{x} {'x': 'b'}"
        assert http.post("/a/b").text == "plain /a/b {}"
        assert http.get("/m/c").text.startswith("mounted")
        assert http.put("/z").text == "z /z {}"
        assert http.get("/z").status_code == 405  # Starlette's own partial match
        assert http.get("/nowhere").status_code == 404
    assert set(app.router._index) == {("/a/b", "POST"), ("/z", "PUT")}  # HEAD /a/b: the GET


def test_the_apps_index_agrees_with_the_linear_scan(env: Env) -> None:
    app = create_app(env.platform)
    router = app.router
    assert isinstance(router, ExactRouter)
    index = router._build()
    assert ("/api/v3/order", "POST") in index and ("/api/v3/ping", "GET") in index
    for (path, method), route in index.items():
        scope = {"type": "http", "path": path, "method": method, "root_path": "", "headers": []}
        first = next(r for r in router.routes if r.matches(scope)[0] is Match.FULL)
        assert first is route, (path, method)
    order = env.http.post("/api/v3/order")  # served through the index: MEXC's error, not 404
    assert order.status_code != 404 and "code" in order.json()
