"""schemathesis fuzzes every wallet endpoint on a live server, signed with a key that holds every
wallet permission: no 5xx, and every 200 body conforms to the declared schema."""

from __future__ import annotations

import os
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.responses import JSONResponse
from starlette.routing import Route

from bourse.api.mexc import capital, openapi
from bourse.api.mexc.routes import routes as mexc_routes
from bourse.api.mexc.signing import sign
from bourse.bootstrap import open_platform
from bourse.config import Config, RateLimits
from bourse.domain.accounts import AccountKind
from bourse.domain.money import to_units
from bourse.engine import commands as c
from bourse.sandbox.endpoints import SANDBOX_ENDPOINTS
from bourse.services.apikeys import generate_server_key

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MAX_EXAMPLES = int(os.environ.get("BOURSE_FUZZ_EXAMPLES", "25"))
ALL = [*capital.ENDPOINTS, *SANDBOX_ENDPOINTS]
PERMISSIONS = [
    "SPOT_WITHDRAW_READ",
    "SPOT_WITHDRAW_WRITE",
    "SPOT_TRANSFER_READ",
    "SPOT_TRANSFER_WRITE",
    "SPOT_DEPOSIT_READ",
    "SPOT_DEPOSIT_WRITE",
    # the dust conversion endpoints (capital/convert) ask for the account and deal permissions
    "SPOT_ACCOUNT_READ",
    "SPOT_ACCOUNT_WRITE",
    "SPOT_DEAL_READ",
]


class _Auth(requests.auth.AuthBase):
    def __init__(self, key: str, secret: str) -> None:
        self.key, self.secret = key, secret

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        url = urllib.parse.urlsplit(r.url)
        parts = [
            p
            for p in url.query.split("&")
            if p and not p.startswith(("signature=", "timestamp=", "recvWindow="))
        ]
        parts.append(f"timestamp={time.time_ns() // 1_000_000}")
        query = "&".join(parts)
        body = r.body or b""
        if isinstance(body, str):
            body = body.encode()
        query += "&signature=" + sign(self.secret, query.encode() + body)
        r.url = urllib.parse.urlunsplit(url._replace(query=query))
        r.headers["X-MEXC-APIKEY"] = self.key
        return r


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, _Auth]]:
    import uvicorn
    from starlette.applications import Starlette

    from bourse.sandbox.wallet import build_wallet

    tmp = tmp_path_factory.mktemp("wallet-fuzz")
    platform = open_platform(
        Config(
            database_url=f"sqlite:///{tmp / 'w.db'}",
            secret_key=generate_server_key(),
            key_dir=str(tmp),
            rate_limits=RateLimits.off(),
        )
    )
    try:
        wallet = getattr(platform, "wallet", None) or build_wallet(
            platform.engine, platform.db, b"fuzz-server-key", seed=5
        )
        wallet.chain.stop()
        wallet.settings.sandbox = True
        platform.wallet = wallet  # type: ignore[attr-defined]
        engine = platform.engine
        acc = engine.execute(c.OpenAccount(AccountKind.USER)).id
        for i, (coin, amount) in enumerate((("USDT", "100000"), ("BTC", "10"), ("ETH", "50"))):
            scale = engine.wallet.assets[coin].scale
            engine.execute(c.CreditDeposit(acc, coin, to_units(amount, scale), f"fz-{i}"))
        key, secret = platform.apikeys.create_key(acc, PERMISSIONS)
        spec = openapi.build(ALL)

        async def spec_json(request: Any) -> JSONResponse:
            return JSONResponse(spec)

        app = Starlette(
            routes=[
                *mexc_routes(platform, endpoints=[*capital.ENDPOINTS, *SANDBOX_ENDPOINTS]),
                Route("/openapi.json", spec_json, methods=["GET"]),
            ]
        )
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.started
        try:
            # some history to read back
            auth = _Auth(key, secret)
            base = f"http://127.0.0.1:{port}"
            s = requests.Session()
            s.auth = auth
            s.post(f"{base}/sandbox/deposit", params={"coin": "USDT", "account": acc,
                   "amount": "10", "confirm": "true"}, timeout=30)  # fmt: skip
            s.post(f"{base}/api/v3/capital/withdraw", params={"coin": "USDT", "netWork": "TRX",
                   "address": "T" + "E" * 33, "amount": "10"}, timeout=30)  # fmt: skip
            s.post(f"{base}/api/v3/capital/transfer", params={"fromAccountType": "SPOT",
                   "toAccountType": "FUTURES", "asset": "USDT", "amount": "1"}, timeout=30)  # fmt: skip
            yield base, auth
        finally:
            server.should_exit = True
            thread.join(15)
            sock.close()
    finally:
        platform.close()


OPERATIONS = [(ep.method, ep.path, ep.signed) for ep in ALL]


@pytest.mark.parametrize(
    ("method", "path", "signed"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS]
)
def test_fuzz_wallet_endpoint(
    method: str, path: str, signed: bool, served: tuple[str, _Auth]
) -> None:
    base, auth = served
    schema = schemathesis.openapi.from_url(base + "/openapi.json")
    operation = schema[path][method]
    codes: list[int] = []

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        r = case.call(base_url=base, auth=auth if signed else None)
        if r.status_code != 200:
            codes.append(r.json()["code"])
        case.validate_response(r, checks=CHECKS)

    run()
    assert not {700002, 700003, 10072, 700007} & set(codes), codes
