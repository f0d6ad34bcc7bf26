"""Speaking MEXC to a test server: signed requests (``Signer`` for httpx, ``MexcAuth`` for the
requests sessions schemathesis drives), ccxt pointed at the server, and answer checks."""

from __future__ import annotations

import json
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Any

import httpx
import requests
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from bourse.api.mexc.signing import sign
from bourse.engine.clock import now_ms

#: what schemathesis checks on every answer of a fuzzed MEXC endpoint
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


#: the last default timestamp each API key signed with (``Signer.request``)
_last_stamp: dict[str, int] = {}
_stamp_lock = threading.Lock()


def _fresh_stamp(api_key: str) -> int:
    """The current time in ms, or one past the key's last, so that no two requests a test
    sends without naming a timestamp carry one signature: a signed write's signature serves
    once (code 26 for a copy), and threads of one test sign within the same millisecond as
    separate clients never would. A test that means a copy names its ``timestamp``."""
    with _stamp_lock:
        stamp = max(now_ms(), _last_stamp.get(api_key, 0) + 1)
        _last_stamp[api_key] = stamp
        return stamp


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
        q["timestamp"] = _fresh_stamp(self.api_key) if timestamp is None else timestamp
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


class MexcAuth(requests.auth.AuthBase):
    """Re-sign the prepared request: fresh timestamp, HMAC over the final query + body."""

    def __init__(self, signer: Signer) -> None:
        self.signer = signer

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        url = urllib.parse.urlsplit(str(r.url))
        parts = [
            p
            for p in url.query.split("&")
            if p and not p.startswith(("signature=", "timestamp=", "recvWindow="))
        ]
        parts.append(f"timestamp={now_ms()}")
        query = "&".join(parts)
        body = r.body or b""
        if isinstance(body, str):
            body = body.encode()
        assert isinstance(body, bytes)
        # the body (none in the generated cases) is signed as sent, right after the query
        query += "&signature=" + sign(self.signer.secret, query.encode() + body)
        r.url = urllib.parse.urlunsplit(url._replace(query=query))
        r.headers["X-MEXC-APIKEY"] = self.signer.api_key
        return r


def point_at(exchange: Any, url: str) -> None:
    """Point every API URL of a ccxt ``mexc`` instance at ``url`` (nothing else changes)."""
    api = exchange.urls["api"]
    api["spot"] = {"public": url, "private": url}
    api["spot2"] = {"public": f"{url}/open/api/v2", "private": f"{url}/open/api/v2"}
    api["contract"] = {"public": f"{url}/api/v1/contract", "private": f"{url}/api/v1/private"}
    api["broker"] = {"private": f"{url}/api/v3/broker"}


def ok(r: httpx.Response) -> Any:
    """The JSON of a 200 answer (fails the test on any other status)."""
    assert r.status_code == 200, r.text
    return r.json()


def err(r: httpx.Response, code: int, status: int = 400) -> dict[str, Any]:
    """A MEXC error answer: ``status``, and exactly ``{"code": code, "msg": ...}``."""
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert body["code"] == code, body
    assert set(body) == {"code", "msg"}
    return body
