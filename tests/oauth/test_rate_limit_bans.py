"""A rate-limit ban falls on the OAuth grant that kept sending after its 429s, not on the
account: the user's own API key keeps trading, and a refreshed token of the banned grant is
banned still."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from starlette.testclient import TestClient

from bourse.app import create_app
from bourse.bootstrap import open_platform
from bourse.config import AuthLimits, Config, RateLimits
from bourse.oauth import clients as cl
from tests.support.mexc import Signer, err, ok
from tests.support.oauth import ISSUER, REDIRECT, Clock, Env, exchange, get_code, refresh, signup

HOUR = 3_600_000  # one window for the whole test
ORDER = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001", "price": "1"}


def test_a_read_token_flooding_the_account_bans_its_grant_not_the_accounts_keys(
    migrated_url: str,
) -> None:
    config = Config(
        database_url=migrated_url,
        rate_limits=RateLimits(
            requests=5, window_ms=HOUR, ban_after=3, special={"/api/v3/account": (2, HOUR)}
        ),
        auth_limits=AuthLimits.off(),
        public_url=ISSUER,
        rebate_settle_at=None,
    )
    with open_platform(config) as platform:
        reg = cl.register_client(platform.oauth, name="Viewer", redirect_uris=[REDIRECT])
        with TestClient(create_app(platform), base_url=ISSUER, follow_redirects=False) as http:
            env = Env(platform.db, None, None, Clock(), http, platform.oauth)  # type: ignore[arg-type]
            email = signup(http)
            code, verifier = get_code(env, reg, scope="read")
            tokens = exchange(env, reg, code, verifier).json()
            bearer = {"Authorization": "Bearer " + tokens["access_token"]}
            account = platform.users.repo.user_by_email(email).account_id
            key, secret = platform.apikeys.create_key(
                account, ["SPOT_ACCOUNT_READ", "SPOT_DEAL_READ", "SPOT_DEAL_WRITE"]
            )
            owner = Signer(http, key, secret)  # type: ignore[arg-type]

            barrier = threading.Barrier(8)

            def flood(_: int) -> list[int]:
                barrier.wait()
                return [http.get("/api/v3/account", headers=bearer).status_code for _ in range(5)]

            with ThreadPoolExecutor(8) as pool:
                statuses = [s for part in pool.map(flood, range(8)) for s in part]
            assert statuses.count(200) == 2 and 418 in statuses, statuses

            # the user's key: the account's budget of /account is spent (429), no ban
            err(owner.get("/api/v3/account"), 429, 429)
            ok(owner.get("/api/v3/openOrders", symbol="BTCUSDT"))
            ok(owner.delete("/api/v3/openOrders", symbol="BTCUSDT"))
            # the grant: banned on every endpoint, and a refreshed token is the same grant
            r = http.get("/api/v3/openOrders", params={"symbol": "BTCUSDT"}, headers=bearer)
            assert r.status_code == 418 and int(r.headers["Retry-After"]) > 0, r.text
            fresh = refresh(env, reg, tokens["refresh_token"]).json()["access_token"]
            r = http.get(
                "/api/v3/openOrders",
                params={"symbol": "BTCUSDT"},
                headers={"Authorization": "Bearer " + fresh},
            )
            assert r.status_code == 418, r.text
