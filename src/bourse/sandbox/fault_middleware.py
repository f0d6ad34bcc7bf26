"""The gateway middleware that applies the sandbox's injected faults (``bourse.sandbox.faults``).

It wraps the whole ASGI app in demo mode (``bourse.app.create_app``). An HTTP request whose path
matches active faults waits their added latency, then gets the first of maintenance (503, MEXC
code 801), a forced 429 (code 429, ``Retry-After``) or, with the fault's probability, its error
(``{"code", "msg"}`` with its status); otherwise it is served as usual. A WebSocket connection to a
matching path is refused while a ``drop_ws`` fault is active, and an open one is closed (code
1001) within ``WS_POLL_S``. The operator API (``/admin/``) is never faulted, so a fault on
``/*`` can still be cleared.
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

from bourse.sandbox.faults import Fault, FaultTable

#: how often an open WebSocket connection looks for a drop fault (seconds)
WS_POLL_S = 0.5
MAINTENANCE = (503, 801, "System under maintenance, please try again later")
THROTTLED = (429, 429, "Too Many Requests")

Scope = dict[str, Any]


class FaultMiddleware:
    def __init__(self, app: Any, table: FaultTable, rng: random.Random | None = None) -> None:
        self.app = app
        self.table = table
        self.rng = rng or random.Random()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        kind = scope["type"]
        path = scope.get("path", "")
        if kind not in ("http", "websocket") or path.startswith("/admin/"):
            return await self.app(scope, receive, send)
        faults = self.table.active(path)
        if kind == "websocket":
            return await self._websocket(scope, receive, send, path)
        if not faults:
            return await self.app(scope, receive, send)
        delay = max((f.latency_ms for f in faults if f.kind == "latency"), default=0)
        if delay:
            await asyncio.sleep(delay / 1000)
        answer = self._answer(faults)
        if answer is None:
            return await self.app(scope, receive, send)
        status, body, headers = answer
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), *headers],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _answer(self, faults: list[Fault]) -> tuple[int, bytes, list[tuple[bytes, bytes]]] | None:
        for f in faults:
            if f.kind == "maintenance":
                status, code, msg = MAINTENANCE
                return status, _body(code, f.msg or msg), []
        for f in faults:
            if f.kind == "throttle":
                status, code, msg = THROTTLED
                retry = str(f.retry_after_s).encode()
                return status, _body(code, f.msg or msg), [(b"retry-after", retry)]
        for f in faults:
            if f.kind == "error" and self.rng.random() < f.rate:
                return f.status, _body(f.code, f.msg or "Internal error"), []
        return None

    def _dropping(self, path: str) -> bool:
        return any(f.kind == "drop_ws" for f in self.table.active(path))

    async def _websocket(self, scope: Scope, receive: Any, send: Any, path: str) -> None:
        if self._dropping(path):
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1001})  # refuses the handshake
            return
        state = {"accepted": False, "dropped": False}
        pending: asyncio.Future[Any] | None = None

        async def wrapped_send(message: dict[str, Any]) -> None:
            if state["dropped"]:
                return
            if message["type"] == "websocket.accept":
                state["accepted"] = True
            await send(message)

        async def wrapped_receive() -> Any:
            nonlocal pending
            if state["dropped"]:
                return {"type": "websocket.disconnect", "code": 1001}
            if pending is None:
                pending = asyncio.ensure_future(receive())
            while True:
                done, _ = await asyncio.wait({pending}, timeout=WS_POLL_S)
                if done:
                    message, pending = pending.result(), None
                    return message
                if state["accepted"] and self._dropping(path):
                    state["dropped"] = True
                    await send({"type": "websocket.close", "code": 1001})
                    return {"type": "websocket.disconnect", "code": 1001}

        try:
            await self.app(scope, wrapped_receive, wrapped_send)
        finally:
            if pending is not None:
                pending.cancel()


def _body(code: int, msg: str) -> bytes:
    return json.dumps({"code": code, "msg": msg}).encode()


__all__ = ["FaultMiddleware"]
