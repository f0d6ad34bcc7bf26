"""``/ws``: the WebSocket route, on the same host and port as the REST API."""

from __future__ import annotations

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from bourse.api.ws.connection import serve
from bourse.api.ws.hub import StreamHub
from bourse.api.ws.limits import StreamLimits
from bourse.bus import InProcessBus
from bourse.services.bundle import Services


def ws_routes(platform: Services, limits: StreamLimits | None = None) -> list[WebSocketRoute]:
    """The ``/ws`` route of ``platform``'s streams (one hub per app, on an in-process bus)."""
    limits = limits or StreamLimits()
    hub = StreamHub(platform.engine, platform.marketdata, InProcessBus())

    async def endpoint(ws: WebSocket) -> None:
        await serve(ws, hub, limits)

    return [WebSocketRoute("/ws", endpoint)]
