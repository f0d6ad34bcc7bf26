"""``/ws``: the WebSocket route, on the same host and port as the REST API.

``/ws`` serves the public channels; ``/ws?listenKey=<key>`` also the private ones of the key's
account. An unknown or expired key, or one whose creating credential ended (a deleted API key,
a revoked OAuth grant: ``services.listenkeys``), gets MEXC's text frame ``Invalid listen key``
and the connection is closed; so is a sixth simultaneous connection on one key, and a
connection whose key stops being valid while it is open (``keywatch``: at once on a revocation
this process hears of, else within ``listen_key_check_s``).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from bourse.api.ws.connection import Connection
from bourse.api.ws.hub import StreamHub
from bourse.api.ws.keywatch import KeyWatch
from bourse.api.ws.limits import StreamLimits, StreamStats
from bourse.bus import InProcessBus
from bourse.engine.clock import now_ms
from bourse.services.bundle import Services

INVALID_KEY = "Invalid listen key"
TOO_MANY = "Too many connections for this listen key"


def ws_routes(
    platform: Services, limits: StreamLimits | None = None, stats: StreamStats | None = None
) -> list[WebSocketRoute]:
    """The ``/ws`` route of ``platform``'s streams (one hub per app, on an in-process bus fed by
    the engine, or by the ``Mirror`` when this process follows another one's engine); the hub
    counts its connections in ``stats`` (the metrics'), if given."""
    lim = limits or StreamLimits()
    mirror = platform.mirror
    hub = StreamHub(
        platform.engine,
        platform.marketdata,
        InProcessBus(),
        attach=mirror.attach if mirror is not None else None,
    )
    if stats is not None:
        hub.stats = stats
    keys = platform.listen_keys
    watch = KeyWatch(keys, lim.listen_key_check_s, INVALID_KEY)

    async def endpoint(ws: WebSocket) -> None:
        hub.ensure_started()
        key = ws.query_params.get("listenKey")
        account = None
        wakes = watch.wakes
        if key is not None:
            account = await run_in_threadpool(keys.account_for, key, now_ms())
        await ws.accept()
        if key is not None and (
            account is None or len(watch.open.get(key, ())) >= lim.connections_per_listen_key
        ):
            await ws.send_text(INVALID_KEY if account is None else TOO_MANY)
            await ws.close(1008, INVALID_KEY if account is None else TOO_MANY)
            return
        if key is None:
            await Connection(ws, hub, lim).serve()
            return
        conn = Connection(ws, hub, lim, account)
        watch.add(key, conn)
        if watch.wakes != wakes:  # a revocation came while the key was looked up
            watch.wake()
        try:
            await conn.serve()
        finally:
            watch.remove(key, conn)

    return [WebSocketRoute("/ws", endpoint)]
