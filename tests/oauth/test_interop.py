"""requests-oauthlib, a second independent client library, against a real uvicorn server."""

from __future__ import annotations

import itertools
import re
from urllib.parse import parse_qs, urlsplit

import requests
from requests_oauthlib import OAuth2Session
from starlette.applications import Starlette

from bourse.oauth import authenticate_bearer
from bourse.oauth import clients as cl
from bourse.oauth.server import AuthServer, OAuthConfig
from bourse.services.users import Users
from bourse.store.repositories.oauth import OAuthRepository
from bourse.store.repositories.users import UserRepository
from bourse.web.routes import all_routes
from tests.support.server import ServerThread as Server
from tests.support.server import free_port

REDIRECT = "https://app.example/callback"


def _hidden(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))


def test_requests_oauthlib_code_flow_with_pkce(db_engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # oauthlib insists on https for every URL; the server itself runs on loopback http
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    ids = itertools.count(500)
    oauth = OAuthRepository(db_engine)
    server = AuthServer(OAuthConfig(issuer=base), oauth)
    people = Users(UserRepository(db_engine), lambda e: next(ids))
    reg = cl.register_client(oauth, name="Interop", redirect_uris=[REDIRECT], broker_id=5)
    with Server(Starlette(routes=all_routes(server, people)), port):
        user = requests.Session()
        page = user.get(base + "/signup", timeout=10)
        user.post(
            base + "/signup",
            data={"email": "io@example.com", "password": "0123456789ab", **_hidden(page.text)},
            timeout=10,
        )
        app = OAuth2Session(
            reg.client.client_id, redirect_uri=REDIRECT, scope=["read", "trade"], pkce="S256"
        )
        url, state = app.authorization_url(base + "/oauth/authorize")
        consent = user.get(url, timeout=10)
        assert consent.status_code == 200 and "Interop" in consent.text
        r = user.post(
            base + "/oauth/authorize",
            data={**_hidden(consent.text), "decision": "approve"},
            allow_redirects=False,
            timeout=10,
        )
        assert r.status_code == 303
        callback = r.headers["location"]
        assert parse_qs(urlsplit(callback).query)["iss"] == [base]
        token = app.fetch_token(
            base + "/oauth/token",
            authorization_response=callback,
            client_secret=reg.client_secret,
        )
        assert token["scope"] == ["read", "trade"]
        assert authenticate_bearer(oauth, token["access_token"]).broker_id == 5
        new = app.refresh_token(
            base + "/oauth/token", auth=(reg.client.client_id, reg.client_secret)
        )
        assert new["refresh_token"] != token["refresh_token"]
        assert authenticate_bearer(oauth, new["access_token"]).account_id == 500
