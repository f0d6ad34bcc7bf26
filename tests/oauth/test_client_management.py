"""An approved OAuth broker manages its clients through the Broker API
(``/api/v3/broker/oauth/...``), against the real application on SQLite and PostgreSQL: secret
rotation with a grace period, exact redirect URIs (none implied by the callback URL), scopes
within the approval, and self-service registration bounded under concurrency."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from starlette.testclient import TestClient

from bourse.app import create_app
from bourse.bootstrap import open_platform
from bourse.config import Config, RateLimits
from bourse.domain.accounts import AccountKind
from bourse.engine import commands as c
from bourse.oauth import clients as cl
from bourse.oauth.management import MAX_CLIENTS_PER_BROKER
from bourse.operations import invoke
from bourse.services.apikeys import generate_server_key
from bourse.services.bundle import Services
from tests.support.mexc import Signer, err, ok
from tests.support.oauth import (
    ISSUER,
    REDIRECT,
    Env,
    authorize_params,
    exchange,
    get_code,
    pkce_pair,
    redirect_query,
    refresh,
    signup,
)

CALLBACK = "https://copytrader.example/oauth/callback"
PERMS = ["SPOT_ACCOUNT_READ", "SPOT_ACCOUNT_WRITE"]
P = "/api/v3/broker/oauth"


@dataclass
class World:
    platform: Services
    http: TestClient
    broker_id: int
    broker: Signer
    client_id: str
    client_secret: str

    def env(self) -> Env:
        return Env(self.platform.db, None, None, None, self.http, self.platform.oauth)  # type: ignore[arg-type]

    def reg(self, secret: str | None = None, client_id: str | None = None) -> cl.Registered:
        c = cl.get_client(self.platform.oauth, client_id or self.client_id)
        assert c is not None
        return cl.Registered(c, secret or self.client_secret)


def _oauth_broker(
    platform: Services, http: TestClient, name: str, **approve: Any
) -> tuple[int, Signer, dict[str, Any]]:
    owner = platform.engine.execute(c.OpenAccount(AccountKind.BROKER_MASTER, name=name)).id
    key, secret = platform.apikeys.create_key(owner, PERMS)
    signer = Signer(http, key, secret)
    b = platform.brokers.registry.apply(owner, "OAUTH", name, callback_url=CALLBACK)
    out = invoke(
        platform, "brokers.approve", {"broker": b.id, **approve}, actor="test", source="test"
    )
    return b.id, signer, out


@pytest.fixture
def world(migrated_url: str, tmp_path: Any) -> Iterator[World]:
    config = Config(
        database_url=migrated_url,
        secret_key=generate_server_key(),
        key_dir=str(tmp_path),
        rate_limits=RateLimits.off(),
        public_url=ISSUER,
        rebate_settle_at=None,
    )
    with (
        open_platform(config) as platform,
        TestClient(create_app(platform), base_url=ISSUER, follow_redirects=False) as http,
    ):
        bid, signer, out = _oauth_broker(platform, http, "Copy Trader")
        yield World(platform, http, bid, signer, out["clientId"], out["clientSecret"])


def _authorize(
    w: World, redirect_uri: str, scope: str = "read", client_id: str | None = None
) -> Any:
    if "bourse_session" not in w.http.cookies:
        signup(w.http)
    _, challenge = pkce_pair()
    params = authorize_params(
        w.reg(client_id=client_id), challenge, redirect_uri=redirect_uri, scope=scope
    )
    return w.http.get("/oauth/authorize?" + urlencode(params))


def _refused_page(r: Any) -> None:
    assert r.status_code == 400 and "location" not in r.headers, r.text


def test_callback_url_is_not_a_redirect_uri_until_registered_exactly(world: World) -> None:
    w = world
    (client,) = ok(w.broker.get(f"{P}/clients"))["clients"]
    assert client["clientId"] == w.client_id and client["redirectUris"] == []
    assert client["scopes"] == "read trade"
    # the application's callback URL is refused: nothing became a redirect URI implicitly
    _refused_page(_authorize(w, CALLBACK))
    # registered explicitly, it works; exact match only
    got = ok(w.broker.post(f"{P}/client/redirectUri", clientId=w.client_id, redirectUri=CALLBACK))
    assert got["redirectUris"] == [CALLBACK]
    assert _authorize(w, CALLBACK).status_code == 200
    for near in (
        CALLBACK + "/",
        CALLBACK.upper(),
        CALLBACK + "?x=1",
        CALLBACK.replace("https", "http"),
    ):
        _refused_page(_authorize(w, near))
    # invalid ones cannot be registered; duplicates neither
    for bad in ("http://copytrader.example/cb", "https://*.example/cb", "https://a.example/cb#f"):
        r = w.broker.post(f"{P}/client/redirectUri", clientId=w.client_id, redirectUri=bad)
        assert r.status_code == 400, r.text
    r = w.broker.post(f"{P}/client/redirectUri", clientId=w.client_id, redirectUri=CALLBACK)
    assert r.status_code == 400 and "already" in r.json()["msg"]
    # removed, it is refused again at /oauth/authorize
    ok(w.broker.delete(f"{P}/client/redirectUri", clientId=w.client_id, redirectUri=CALLBACK))
    _refused_page(_authorize(w, CALLBACK))
    r = w.broker.delete(f"{P}/client/redirectUri", clientId=w.client_id, redirectUri=CALLBACK)
    assert r.status_code == 400 and "not registered" in r.json()["msg"]


def test_approval_takes_explicit_redirect_uris(world: World) -> None:
    bid, signer, out = _oauth_broker(
        world.platform, world.http, "Explicit", redirect_uri=[REDIRECT]
    )
    (client,) = ok(signer.get(f"{P}/clients"))["clients"]
    assert client["redirectUris"] == [REDIRECT] and client["clientId"] == out["clientId"]
    reg = cl.Registered(cl.get_client(world.platform.oauth, out["clientId"]), out["clientSecret"])  # type: ignore[arg-type]
    env = world.env()
    code, verifier = get_code(env, reg)
    assert exchange(env, reg, code, verifier).status_code == 200


def test_rotated_secret_works_for_the_grace_period_then_fails(world: World) -> None:
    w = world
    ok(w.broker.post(f"{P}/client/redirectUri", clientId=w.client_id, redirectUri=REDIRECT))
    env = w.env()
    code, verifier = get_code(env, w.reg())
    tok = exchange(env, w.reg(), code, verifier)
    assert tok.status_code == 200, tok.text
    rt = tok.json()["refresh_token"]
    old = w.client_secret
    # the default grace is the configured 24 h
    t0 = int(time.time() * 1000)
    rot = ok(w.broker.post(f"{P}/client/secret", clientId=w.client_id))
    assert rot["clientSecret"] != old
    assert abs(rot["previousSecretExpireTime"] - (t0 + 86_400_000)) < 60_000
    # during the grace period both secrets authenticate
    r = refresh(env, w.reg(old), rt)
    assert r.status_code == 200, r.text
    rt = r.json()["refresh_token"]
    r = refresh(env, w.reg(rot["clientSecret"]), rt)
    assert r.status_code == 200, r.text
    rt = r.json()["refresh_token"]
    # a rotation with a 1 s grace: the secret it replaces fails once that second is over, and
    # the second rotation ended the first one's grace at once
    rot2 = ok(w.broker.post(f"{P}/client/secret", clientId=w.client_id, graceSeconds=1))
    assert refresh(env, w.reg(old), rt).status_code == 401
    r = refresh(env, w.reg(rot["clientSecret"]), rt)
    assert r.status_code == 200, r.text
    rt = r.json()["refresh_token"]
    time.sleep(1.2)
    r = refresh(env, w.reg(rot["clientSecret"]), rt)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = refresh(env, w.reg(rot2["clientSecret"]), rt)
    assert r.status_code == 200, r.text
    # grace 0 (a leaked secret): the old one stops at once; beyond the configured grace: refused
    rot3 = ok(w.broker.post(f"{P}/client/secret", clientId=w.client_id, graceSeconds=0))
    assert rot3["previousSecretExpireTime"] is None
    rt = r.json()["refresh_token"]
    assert refresh(env, w.reg(rot2["clientSecret"]), rt).status_code == 401
    r = w.broker.post(f"{P}/client/secret", clientId=w.client_id, graceSeconds=86_401)
    assert r.status_code == 400
    assert refresh(env, w.reg(rot3["clientSecret"]), rt).status_code == 200


def test_replayed_secret_rotation_is_refused_and_the_owner_keeps_its_secret(
    world: World,
) -> None:
    """A captured signed rotation sent again (same timestamp, same signature) is refused as a
    replay (26): it hands out no secret and the broker's new one stays the client's; of copies
    sent at once exactly one rotates. A replayed registration registers nothing."""
    w = world
    ts = int(time.time() * 1000)
    params = {"clientId": w.client_id, "graceSeconds": 0}
    rot = ok(w.broker.request("POST", f"{P}/client/secret", params, timestamp=ts))
    err(w.broker.request("POST", f"{P}/client/secret", params, timestamp=ts), 26)
    assert w.reg().client.check_client_secret(rot["clientSecret"])
    answers: list[Any] = [None] * 4
    ts = int(time.time() * 1000)
    barrier = threading.Barrier(4, timeout=30)

    def one(i: int) -> None:
        barrier.wait()
        answers[i] = w.broker.request("POST", f"{P}/client/secret", params, timestamp=ts)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    good = [r for r in answers if r.status_code == 200]
    assert len(good) == 1, [r.text for r in answers]
    for r in answers:
        if r is not good[0]:
            err(r, 26)
    assert w.reg().client.check_client_secret(good[0].json()["clientSecret"])
    before = len(ok(w.broker.get(f"{P}/clients"))["clients"])
    ts = int(time.time() * 1000)
    app = {"name": "Replayed App", "redirectUri": CALLBACK}
    ok(w.broker.request("POST", f"{P}/clients", app, timestamp=ts))
    err(w.broker.request("POST", f"{P}/clients", app, timestamp=ts), 26)
    assert len(ok(w.broker.get(f"{P}/clients"))["clients"]) == before + 1


def test_scopes_change_within_the_approval(world: World) -> None:
    w = world
    ok(w.broker.post(f"{P}/client/redirectUri", clientId=w.client_id, redirectUri=REDIRECT))
    assert (
        ok(w.broker.post(f"{P}/client/scopes", clientId=w.client_id, scopes="read"))["scopes"]
        == "read"
    )
    q = redirect_query(_authorize(w, REDIRECT, scope="read trade"))
    assert q["error"] == "invalid_scope"
    assert _authorize(w, REDIRECT, scope="read").status_code == 200
    # beyond the approval ("read trade"): refused, nothing changes
    r = w.broker.post(f"{P}/client/scopes", clientId=w.client_id, scopes="read,transfer")
    assert r.status_code == 400 and "approved" in r.json()["msg"]
    assert cl.get_client(w.platform.oauth, w.client_id).scopes == "read"  # type: ignore[union-attr]
    # the operator widens the approval; then the broker may use it
    invoke(
        w.platform,
        "brokers.oauth-approve-scopes",
        {"broker": w.broker_id, "scopes": "read trade transfer"},
        actor="t",
        source="t",
    )
    got = ok(w.broker.post(f"{P}/client/scopes", clientId=w.client_id, scopes="read transfer"))
    assert got["scopes"] == "read transfer"
    assert _authorize(w, REDIRECT, scope="transfer").status_code == 200
    # narrowing the approval narrows the client
    invoke(
        w.platform,
        "brokers.oauth-approve-scopes",
        {"broker": w.broker_id, "scopes": "read"},
        actor="t",
        source="t",
    )
    c = cl.get_client(w.platform.oauth, w.client_id)
    assert c is not None and c.scopes == "read" and not c.allow_transfer
    q = redirect_query(_authorize(w, REDIRECT, scope="transfer"))
    assert q["error"] == "invalid_scope"


def test_self_service_registration_is_bounded_under_concurrency(world: World) -> None:
    w = world
    results: list[Any] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def register(i: int) -> None:
        barrier.wait(10)
        r = w.broker.post(f"{P}/clients", name=f"app {i}", redirectUri=f"https://app{i}.example/cb")
        with lock:
            results.append(r)

    threads = [threading.Thread(target=register, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    created = [r.json() for r in results if r.status_code == 200]
    refused = [r.json() for r in results if r.status_code != 200]
    assert len(created) == MAX_CLIENTS_PER_BROKER - 1  # the approval made the first one
    assert all(x["code"] == 730003 for x in refused) and len(refused) == 8 - len(created)
    listed = ok(w.broker.get(f"{P}/clients"))["clients"]
    assert len(listed) == MAX_CLIENTS_PER_BROKER
    # a self-registered app works end to end with its own secret and exact redirect URI
    app = created[0]
    assert app["scopes"] == "read trade" and app["clientSecret"].startswith("bcs_")
    reg = cl.Registered(cl.get_client(w.platform.oauth, app["clientId"]), app["clientSecret"])  # type: ignore[arg-type]
    env = w.env()
    code, verifier = get_code(env, reg, redirect_uri=app["redirectUris"][0])
    tok = exchange(env, reg, code, verifier, redirect_uri=app["redirectUris"][0])
    assert tok.status_code == 200, tok.text
    # scopes beyond the approval cannot be registered either
    r = w.broker.post(
        f"{P}/clients", name="x", redirectUri="https://x.example/cb", scopes="transfer"
    )
    assert r.status_code == 400


def test_concurrent_redirect_uri_changes_are_all_kept(world: World) -> None:
    w = world
    uris = [f"https://app.example/cb/{i}" for i in range(6)]
    barrier = threading.Barrier(len(uris))
    codes: list[int] = []

    def add(uri: str) -> None:
        barrier.wait(10)
        codes.append(
            w.broker.post(
                f"{P}/client/redirectUri", clientId=w.client_id, redirectUri=uri
            ).status_code
        )

    threads = [threading.Thread(target=add, args=(u,)) for u in uris]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert codes == [200] * len(uris)
    (client,) = ok(w.broker.get(f"{P}/clients"))["clients"]
    assert sorted(client["redirectUris"]) == sorted(uris)


def test_a_broker_reaches_only_its_own_clients(world: World) -> None:
    w = world
    _, other, other_out = _oauth_broker(w.platform, w.http, "Other")
    err(other.post(f"{P}/client/secret", clientId=w.client_id), 22222)
    err(other.post(f"{P}/client/redirectUri", clientId=w.client_id, redirectUri=REDIRECT), 22222)
    assert [x["clientId"] for x in ok(other.get(f"{P}/clients"))["clients"]] == [
        other_out["clientId"]
    ]
    # an API broker has no OAuth clients; a plain user is no broker at all
    owner = w.platform.engine.execute(c.OpenAccount(AccountKind.BROKER_MASTER)).id
    key, secret = w.platform.apikeys.create_key(owner, PERMS)
    api = Signer(w.http, key, secret)
    ok(api.post("/api/v3/broker/apply", brokerType="API", name="Api"))
    err(api.get(f"{P}/clients"), 730100)
    user = w.platform.engine.execute(c.OpenAccount(AccountKind.USER)).id
    key, secret = w.platform.apikeys.create_key(user, PERMS)
    err(Signer(w.http, key, secret).get(f"{P}/clients"), 401, 401)
    # a suspended broker cannot change its clients
    w.platform.brokers.registry.suspend(w.broker_id)
    err(w.broker.post(f"{P}/client/secret", clientId=w.client_id), 730100)
