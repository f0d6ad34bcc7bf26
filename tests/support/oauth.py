"""Helpers of the OAuth tests: a movable clock, PKCE pairs, and steps of the
authorization-code flow over HTTP (sign up, consent, exchange, refresh)."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from sqlalchemy import Engine, func, select
from starlette.testclient import TestClient

from bourse.engine.clock import now_ms
from bourse.oauth import clients as cl
from bourse.oauth.server import AuthServer, OAuthConfig
from bourse.services.users import Users
from bourse.store.repositories.oauth import OAuthRepository

ISSUER = "http://127.0.0.1:8000"
REDIRECT = "https://app.example/callback"


class Clock:
    """Milliseconds since the epoch, real time plus an offset tests can move."""

    def __init__(self) -> None:
        self.offset = 0

    def __call__(self) -> int:
        return now_ms() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += int(seconds * 1000)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


@dataclass
class Env:
    db: Engine
    config: OAuthConfig
    server: AuthServer
    clock: Clock
    http: TestClient
    oauth: OAuthRepository
    users: Users | None = None


def register(env: Env, **kw) -> cl.Registered:  # type: ignore[no-untyped-def]
    kw.setdefault("name", "Copy Trader")
    kw.setdefault("redirect_uris", [REDIRECT])
    kw.setdefault("broker_id", 7)
    return cl.register_client(env.oauth, **kw)


def signup(
    http: TestClient, email: str | None = None, password: str = "correct horse battery"
) -> str:
    email = email or f"u{secrets.token_hex(4)}@example.com"
    page = http.get("/signup")
    csrf = form_value(page.text, "csrf_token")
    r = http.post("/signup", data={"email": email, "password": password, "csrf_token": csrf})
    assert r.status_code == 303, r.text
    return email


def form_value(html: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert m, f"no {name} in page"
    return m.group(1)


def authorize_params(reg: cl.Registered, challenge: str, **over: Any) -> dict[str, Any]:
    p: dict[str, Any] = {
        "response_type": "code",
        "client_id": reg.client.client_id,
        "redirect_uri": REDIRECT,
        "scope": "read trade",
        "state": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    p.update(over)
    return {k: v for k, v in p.items() if v is not None}


def consent(http: TestClient, params: dict[str, Any], decision: str = "approve") -> Any:
    """GET the consent page and post the decision; returns the final response."""
    page = http.get("/oauth/authorize?" + urlencode(params))
    assert page.status_code == 200, page.text
    data = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    data["decision"] = decision
    return http.post("/oauth/authorize", data=data)


def redirect_query(resp) -> dict[str, str]:  # type: ignore[no-untyped-def]
    assert resp.status_code in (302, 303), resp.text
    loc = resp.headers["location"]
    return {k: v[0] for k, v in parse_qs(urlsplit(loc).query).items()}


def get_code(env: Env, reg: cl.Registered, **over) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """Sign up (if needed), consent, return ``(code, verifier)``."""
    if "bourse_session" not in env.http.cookies:
        signup(env.http)
    verifier, challenge = pkce_pair()
    q = redirect_query(consent(env.http, authorize_params(reg, challenge, **over)))
    assert "code" in q, q
    return q["code"], verifier


def exchange(env: Env, reg: cl.Registered, code: str, verifier: str | None, **over):  # type: ignore[no-untyped-def]
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
        "client_id": reg.client.client_id,
        "client_secret": reg.client_secret,
    }
    data.update(over)
    return env.http.post("/oauth/token", data={k: v for k, v in data.items() if v is not None})


def refresh(env: Env, reg: cl.Registered, token: str, **over):  # type: ignore[no-untyped-def]
    data = {"grant_type": "refresh_token", "refresh_token": token}
    data.update(over)
    return env.http.post(
        "/oauth/token",
        data={k: v for k, v in data.items() if v is not None},
        auth=(reg.client.client_id, reg.client_secret),
    )


def count(db, table) -> int:  # type: ignore[no-untyped-def]
    with db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())
