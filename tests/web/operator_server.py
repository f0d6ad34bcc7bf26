"""A server with the operator console: the demo's listings, accounts and API broker (no market
maker: nothing trades unless a test makes it), served on loopback with an operator credential,
and helpers to sign in as the operator or as a user."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from starlette.applications import Starlette

from bourse.app import create_app
from bourse.bootstrap import open_platform
from bourse.config import Config, RateLimits
from bourse.sandbox.demo import seed_demo
from bourse.services.apikeys import generate_server_key
from bourse.services.bundle import Services
from tests.support.server import ServerThread

PASSWORD = "a long enough password"


@dataclass
class Operated:
    platform: Services
    url: str
    token: str
    app: Starlette

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)

    def operator(self) -> httpx.Client:
        """A client signed in to the operator console."""
        http = self.client()
        r = http.post(
            "/operator/login",
            data={"token": self.token, "csrf_token": csrf(http.get("/operator/login").text)},
        )
        assert r.status_code == 303 and r.headers["location"] == "/operator", r.text
        return http

    def user(self) -> tuple[httpx.Client, int]:
        """A client signed in as a new web user, and the user's account id."""
        http = self.client()
        email = f"u{secrets.token_hex(4)}@example.com"
        form = {"email": email, "password": PASSWORD, "csrf_token": csrf(http.get("/signup").text)}
        assert http.post("/signup", data=form).status_code == 303
        user = self.platform.users.repo.user_by_email(email)
        assert user is not None
        return http, int(user.account_id)


def csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]*)"', html)
    assert m, "no csrf_token in the page"
    return m.group(1)


@pytest.fixture
def operated(migrated_url: str) -> Iterator[Operated]:
    config = Config(
        database_url=migrated_url, secret_key=generate_server_key(), rate_limits=RateLimits.off()
    )
    token = "bop_" + secrets.token_urlsafe(24)
    with open_platform(config) as platform:
        seed_demo(platform)
        platform.wallet.settings.sandbox = True
        app = create_app(platform, operator_token=token)
        with ServerThread(app) as server:
            platform.config.public_url = server.url
            yield Operated(platform, server.url, token, app)
