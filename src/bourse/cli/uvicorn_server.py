"""The uvicorn server ``bourse serve`` runs: one that says when it stopped serving."""

from __future__ import annotations

import socket
from collections.abc import Callable

import uvicorn


class Server(uvicorn.Server):
    """uvicorn's server, calling ``on_shutdown`` once it stopped serving: uvicorn re-raises
    SIGTERM/SIGINT after its shutdown, so code after ``run`` may never execute."""

    def __init__(self, config: uvicorn.Config, on_shutdown: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_shutdown = on_shutdown

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().shutdown(sockets)
        finally:
            self._on_shutdown()
