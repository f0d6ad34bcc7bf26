"""A Bourse server on loopback (uvicorn in a thread) on SQLite and PostgreSQL, plus a signing
HTTP client for MEXC-style requests."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from bourse.api.mexc.signing import sign
from bourse.app import create_app
from bourse.bootstrap import open_platform
from bourse.config import Config, RateLimits
from bourse.domain.accounts import AccountKind
from bourse.domain.money import to_units
from bourse.engine import commands as c
from bourse.services.apikeys import generate_server_key
from bourse.services.bundle import Services


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerThread:
    """uvicorn serving ``app`` on 127.0.0.1:<free port> in a daemon thread."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(cfg)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@dataclass
class Signer:
    """Signs MEXC requests for one key, the way the official demos and ccxt do."""

    http: httpx.Client
    api_key: str
    secret: str

    def request(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        body: dict[str, Any] | None = None,
        json_body: dict[str, Any] | None = None,
        timestamp: int | None = None,
        recv_window: int | None = None,
        headers: dict[str, str] | None = None,
        signature: str | None = None,
    ) -> httpx.Response:
        """Query params in the query string; ``body`` form-encoded; ``json_body`` as JSON.
        ``timestamp`` goes in the query; the signature covers query + body as sent."""
        q = dict(params or {})
        q["timestamp"] = now_ms() if timestamp is None else timestamp
        if recv_window is not None:
            q["recvWindow"] = recv_window
        query = urllib.parse.urlencode(q)
        raw_body = b""
        hdrs = {"X-MEXC-APIKEY": self.api_key, **(headers or {})}
        if body is not None:
            raw_body = urllib.parse.urlencode(body).encode()
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        elif json_body is not None:
            raw_body = json.dumps(json_body).encode()
            hdrs["Content-Type"] = "application/json"
        sig = signature if signature is not None else sign(self.secret, query.encode() + raw_body)
        url = f"{path}?{query}&signature={sig}"
        return self.http.request(method, url, content=raw_body or None, headers=hdrs)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.request("GET", path, params)

    def post(self, path: str, **params: Any) -> httpx.Response:
        return self.request("POST", path, params)

    def delete(self, path: str, **params: Any) -> httpx.Response:
        return self.request("DELETE", path, params)


@dataclass
class Env:
    platform: Services
    url: str
    http: httpx.Client

    def open_account(self, **funds: str) -> int:
        engine = self.platform.engine
        acc = engine.execute(c.OpenAccount(AccountKind.USER))
        for i, (asset, amount) in enumerate(funds.items()):
            scale = engine.wallet.assets[asset].scale
            engine.execute(
                c.CreditDeposit(acc.id, asset, to_units(amount, scale), f"fund-{acc.id}-{i}")
            )
        return acc.id

    def signer(self, account: int, permissions: list[str] | None = None, **kw: Any) -> Signer:
        key, secret = self.platform.apikeys.create_key(
            account,
            permissions
            or ["SPOT_DEAL_READ", "SPOT_DEAL_WRITE", "SPOT_ACCOUNT_READ", "SPOT_WITHDRAW_READ"],
            **kw,
        )
        return Signer(self.http, key, secret)


def open_env(url: str, tmp_path: Any, rate_limits: RateLimits | None = None) -> Iterator[Env]:
    cfg = Config(
        database_url=url,
        secret_key=generate_server_key(),
        key_dir=str(tmp_path),
        rate_limits=rate_limits or RateLimits.off(),
    )
    platform = open_platform(cfg)
    try:
        with (
            ServerThread(create_app(platform)) as srv,
            httpx.Client(base_url=srv.url, timeout=15) as http,
        ):
            yield Env(platform, srv.url, http)
    finally:
        platform.close()


@pytest.fixture
def env(migrated_url: str, tmp_path: Any) -> Iterator[Env]:
    """A served platform on SQLite and on PostgreSQL (rate limits off)."""
    yield from open_env(migrated_url, tmp_path)


def ok(r: httpx.Response) -> Any:
    assert r.status_code == 200, r.text
    return r.json()


def err(r: httpx.Response, code: int, status: int = 400) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] == code, body
    assert set(body) == {"code", "msg"}
    return body
