"""A Bourse server on loopback serving REST and ``/ws`` (on ``tests.support``'s server thread and
test accounts), plus a small raw WebSocket client.

``live_ws(...)`` opens a platform on ``migrated_url``, seeds the demo accounts and a
``counterparty``, and serves ``create_app(platform)`` (or, with ``limits``, an app whose ``/ws``
uses those limits) with uvicorn in a thread of the test process.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import httpx
from starlette.applications import Starlette

from bourse.api.ws.limits import StreamLimits
from bourse.api.ws.proto.PushDataV3ApiWrapper_pb2 import PushDataV3ApiWrapper
from bourse.api.ws.routes import ws_routes
from bourse.app import create_app
from bourse.domain.orders import OrderRequest, OrderType
from bourse.engine import commands as c
from bourse.engine.clock import now_ms
from bourse.oauth import clients as cl
from bourse.sandbox.market_maker import MarketMaker
from bourse.services.bundle import Services
from tests.support.live import LiveServer, serve_live

REDIRECT = "https://app.example/callback"
#: the password ``sign_up`` gives its users
PASSWORD = "correct horse battery"


class LiveWs(LiveServer):
    """A ``LiveServer`` that also serves ``/ws``, with a busier market maker by default."""

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/ws"

    def start_market_maker(self, seed: int = 1, interval: float = 0.05) -> MarketMaker:
        return super().start_market_maker(seed, interval)

    def signed(self, method: str, path: str, role: str = "user", **params: Any) -> Any:
        """A SIGNED MEXC request as ``role``; returns the JSON body."""
        creds = self.credentials[role]
        query = urlencode({**params, "timestamp": now_ms()})
        sig = hmac.new(creds["secret"].encode(), query.encode(), hashlib.sha256).hexdigest()
        r = httpx.request(
            method,
            f"{self.url}{path}?{query}&signature={sig}",
            headers={"X-MEXC-APIKEY": creds["api_key"]},
        )
        return r.json()

    def listen_key(self, role: str = "user") -> str:
        key: str = self.signed("POST", "/api/v3/userDataStream", role)["listenKey"]
        return key

    def place(self, role: str, side: int, price: int, qty: int, symbol: str = "BTCUSDT") -> Any:
        """Place a LIMIT order for ``role`` straight through the engine (integer units)."""
        request = OrderRequest(self.accounts[role], symbol, side, OrderType.LIMIT, qty, price)
        return self.platform.engine.execute(c.PlaceOrder(request))


@contextmanager
def live_ws(
    database_url: str, limits: StreamLimits | None = None, **settings: Any
) -> Iterator[LiveWs]:
    """``settings``: further ``Config`` fields (e.g. ``bus_url``)."""

    def app(platform: Services) -> Starlette:
        served = create_app(platform)
        if limits is None:
            return served
        # the same app with /ws served under other limits
        return Starlette(routes=[*ws_routes(platform, limits), *served.routes])

    with serve_live(database_url, LiveWs, app, **settings) as live:
        yield live


class WsClient:
    """A raw client: JSON control frames out; JSON replies and decoded binary frames in."""

    def __init__(self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse):
        self.session = session
        self.ws = ws

    @classmethod
    async def connect(cls, url: str) -> WsClient:
        session = aiohttp.ClientSession()
        return cls(session, await session.ws_connect(url, autoping=True))

    async def send(self, method: str, *params: str, **extra: Any) -> None:
        await self.ws.send_str(json.dumps({"method": method, "params": list(params), **extra}))

    async def recv(self, timeout: float = 5.0) -> Any:
        """The next frame: a dict (JSON), a str (other text), a ``PushDataV3ApiWrapper``, or
        None when the server closed the connection."""
        msg = await self.ws.receive(timeout)
        if msg.type == aiohttp.WSMsgType.BINARY:
            return PushDataV3ApiWrapper.FromString(msg.data)
        if msg.type == aiohttp.WSMsgType.TEXT:
            try:
                return json.loads(msg.data)
            except ValueError:
                return msg.data
        return None

    async def until(self, pred: Any, timeout: float = 10.0) -> Any:
        """Skip frames until ``pred(frame)``; return that frame."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError("no matching frame")
            frame = await self.recv(left)
            if frame is None:
                raise ConnectionError("closed")
            if pred(frame):
                return frame

    async def close(self) -> None:
        await self.ws.close()
        await self.session.close()


def sign_up(http: httpx.Client) -> str:
    """Sign a new user up (and in) on ``http``'s server; returns the e-mail (its account name)."""
    email = f"u{secrets.token_hex(4)}@example.com"
    page = http.get("/signup").text
    csrf = re.search(r'name="csrf_token" value="([^"]*)"', page)
    assert csrf
    data = {"email": email, "password": PASSWORD, "csrf_token": csrf.group(1)}
    assert http.post("/signup", data=data).status_code == 303
    return email


@dataclass
class OAuthApp:
    """A registered OAuth client of a live server (``register``); ``grant`` runs the
    authorization-code flow (PKCE) for the user signed in on an ``httpx.Client``."""

    url: str
    client_id: str
    client_secret: str

    @classmethod
    def register(cls, live: LiveServer, name: str = "Streams") -> OAuthApp:
        reg = cl.register_client(live.platform.oauth, name=name, redirect_uris=[REDIRECT])
        return cls(live.url, reg.client.client_id, reg.client_secret)

    def grant(self, http: httpx.Client, scope: str = "read") -> dict[str, Any]:
        """The token response for the user signed in on ``http``, after approving ``scope``."""
        verifier = secrets.token_urlsafe(48)
        digest = hashlib.sha256(verifier.encode()).digest()
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": REDIRECT,
            "scope": scope,
            "state": "s",
            "code_challenge": base64.urlsafe_b64encode(digest).rstrip(b"=").decode(),
            "code_challenge_method": "S256",
        }
        page = http.get("/oauth/authorize", params=params).text
        form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
        r = http.post("/oauth/authorize", data={**form, "decision": "approve"})
        code = parse_qs(urlsplit(r.headers["location"]).query)["code"][0]
        return self.token(
            grant_type="authorization_code",
            code=code,
            redirect_uri=REDIRECT,
            code_verifier=verifier,
        )

    def token(self, **form: str) -> dict[str, Any]:
        """``POST /oauth/token`` with this client's credentials."""
        auth = {"client_id": self.client_id, "client_secret": self.client_secret}
        r = httpx.post(f"{self.url}/oauth/token", data={**form, **auth}, timeout=10)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def revoke(self, token: str) -> None:
        """``POST /oauth/revoke`` (RFC 7009): ends the token's whole grant."""
        auth = {"client_id": self.client_id, "client_secret": self.client_secret}
        r = httpx.post(f"{self.url}/oauth/revoke", data={"token": token, **auth}, timeout=10)
        assert r.status_code == 200, r.text
