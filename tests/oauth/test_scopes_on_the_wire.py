"""What an OAuth token's scopes allow on the MEXC API, through the real application: a ``read``
token sees ``canTrade``/``canWithdraw`` false and is refused a trade with 700007, HTTP 403 and
RFC 6750's ``insufficient_scope``; a ``read trade`` token may trade but not withdraw."""

from __future__ import annotations

from starlette.testclient import TestClient

from bourse.app import create_app
from bourse.bootstrap import open_platform
from bourse.config import AuthLimits, Config, RateLimits
from bourse.oauth import clients as cl
from tests.support.oauth import ISSUER, REDIRECT, Clock, Env, exchange, get_code

ORDER = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001", "price": "1"}


def test_scopes_decide_the_account_flags_and_the_refusal(migrated_url: str) -> None:
    config = Config(
        database_url=migrated_url,
        rate_limits=RateLimits.off(),
        auth_limits=AuthLimits.off(),
        public_url=ISSUER,
        rebate_settle_at=None,
    )
    with open_platform(config) as platform:
        reg = cl.register_client(platform.oauth, name="Viewer", redirect_uris=[REDIRECT])
        with TestClient(create_app(platform), base_url=ISSUER, follow_redirects=False) as http:
            env = Env(platform.db, None, None, Clock(), http, platform.oauth)  # type: ignore[arg-type]
            tokens = {}
            for scope in ("read", "read trade"):
                code, verifier = get_code(env, reg, scope=scope)
                r = exchange(env, reg, code, verifier)
                assert r.status_code == 200, r.text
                tokens[scope] = {"Authorization": "Bearer " + r.json()["access_token"]}

            r = http.get("/api/v3/account", headers=tokens["read"])
            assert r.status_code == 200, r.text
            assert (r.json()["canTrade"], r.json()["canWithdraw"]) == (False, False)
            r = http.post("/api/v3/order/test", params=ORDER, headers=tokens["read"])
            assert r.status_code == 403 and r.json()["code"] == 700007, r.text
            assert 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]

            r = http.get("/api/v3/account", headers=tokens["read trade"])
            assert (r.json()["canTrade"], r.json()["canWithdraw"]) == (True, False)
