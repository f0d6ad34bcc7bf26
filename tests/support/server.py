"""Real servers on loopback for the tests.

``ServerThread(app)`` serves an ASGI app with uvicorn on ``127.0.0.1`` in a daemon thread. The
socket is bound when the object is made (port 0: the OS picks a free one), so ``port`` and
``url`` are known before the server starts and no other process can take the port in between.
Use it as a context manager, or call ``start()`` / ``stop()``; starting waits (bounded) until
uvicorn serves, and fails loudly if it does not.

``Callback()`` is an OAuth client's redirect URI: a tiny HTTP server recording the paths it gets.
"""

from __future__ import annotations

import http.server
import socket
import threading
import time
from typing import Any

import uvicorn

#: seconds to wait for a server to start, or to stop
TIMEOUT = 15.0


def free_port() -> int:
    """A port free on 127.0.0.1 right now (prefer ``ServerThread``, which keeps it bound)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerThread:
    """uvicorn serving ``app`` on 127.0.0.1:``port`` (0: a free port) in a daemon thread;
    ``config``: uvicorn's settings (default: its own, with ``proxy_headers`` off)."""

    def __init__(self, app: Any, port: int = 0, config: uvicorn.Config | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.port: int = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        # X-Forwarded-For is the app's to read, as under ``bourse serve`` (cli.serve.server_config)
        if config is None:  # else ``config`` serves (``bourse serve``'s: cli.serve.server_config)
            config = uvicorn.Config(app, log_level="warning", access_log=False, proxy_headers=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + TIMEOUT
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the test server on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(TIMEOUT)
        self.sock.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Callback:
    """An app's redirect URI: a tiny HTTP server that records the paths it receives."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        hits = self.hits

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                hits.append(self.path)
                body = b"<html><body><h1>App callback received</h1></body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port: int = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}/callback"

    def __enter__(self) -> Callback:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(TIMEOUT)
