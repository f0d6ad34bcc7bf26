"""``bourse engine --health-port``: ``/healthz`` and ``/readyz`` of an engine, which serves no
HTTP otherwise, for systemd's and compose's probes.

``/healthz`` answers 200 while the process runs (a standby too). ``/readyz`` is
``api.observability.health``'s: 200 only on the active engine whose engine thread runs and
whose store and bus answer; a standby (waiting for the writer lock) answers 503 ``standby``.
The server runs on a thread of its own, so a busy engine never delays a probe.
"""

from __future__ import annotations

import threading
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bourse.api.observability.health import Check, Readiness, readyz_response
from bourse.cli.serve import _bind, server_config

#: seconds the health server may take to stop
STOP_S = 5.0


class EngineHealth:
    """The probe endpoints on ``host:port`` (0: any free port; ``port`` tells which)."""

    def __init__(self, host: str, port: int) -> None:
        self._sock = _bind(host, port)
        self.port: int = self._sock.getsockname()[1]
        self._readiness: Readiness | None = None
        app = Starlette(
            routes=[
                Route("/healthz", self._healthz, methods=["GET"]),
                Route("/readyz", self._readyz, methods=["GET"]),
            ]
        )
        self._server = uvicorn.Server(server_config(app, "warning", access_log=False))
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            name="bourse-engine-health",
            daemon=True,
        )

    def start(self) -> EngineHealth:
        self._thread.start()
        return self

    def active(self, platform: Any) -> None:
        """The engine took the writer lock: ``/readyz`` checks ``platform`` from now on."""
        self._readiness = Readiness(platform)

    async def _healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def _readyz(self, request: Request) -> Response:
        readiness = self._readiness
        if readiness is None:
            return readyz_response({"engine": Check(False, "standby: waiting for the lock")})
        return readyz_response(await readiness.checks())

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(STOP_S)
        self._sock.close()
