"""What a master's key may do to its sub-accounts' keys (``bourse.domain.keyscope``, the rule of
a user's own keys), over real HTTP on SQLite and PostgreSQL, through both MEXC APIs that make
them (the broker's ``/api/v3/broker/sub-account/apiKey``, the normal
``/api/v3/sub-account/apiKey``): the signing key creates and deletes only keys no wider than
itself (permissions, pairs, IPs, lifetime), a key ever bound to a broker creates none nor
deletes an unbound one, and the 30-key limit holds under concurrent creations. The console (the owner) is not
held to the rule."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest

from bourse.engine.clock import now_ms
from bourse.sandbox.demo import FULL_SPOT_PERMISSIONS
from bourse.services.subaccounts import Tenant
from tests.support.mexc import Signer, err, ok
from tests.support.platforms import IEnv

DAY = 86_400_000
MANAGE = ["SPOT_ACCOUNT_READ", "SPOT_ACCOUNT_WRITE"]
TRADE = [*MANAGE, "SPOT_DEAL_READ", "SPOT_DEAL_WRITE"]
ORDER = dict(side="BUY", type="LIMIT", quantity="0.001", price="1000")
APIS = ("broker", "normal")


@dataclass
class Master:
    account: int
    owner: Signer  # every permission, 127.0.0.1: makes the sub-account
    tenant: Tenant
    keys: str  # the API's sub-account key path
    sub: str  # the sub-account's name


def _master(ienv: IEnv, api: str, sub: str = "scoped001") -> Master:
    if api == "broker":
        _, acc, owner = ienv.broker()
        prefix = "/api/v3/broker/sub-account"
        tenant = ienv.platform.subaccounts.tenant_for_broker(acc)
    else:
        acc = ienv.open_account()
        owner = ienv.signer(acc, list(FULL_SPOT_PERMISSIONS), ip_whitelist=["127.0.0.1"])
        prefix = "/api/v3/sub-account"
        tenant = ienv.platform.subaccounts.tenant_for_master(acc)
    ok(owner.post(f"{prefix}/virtualSubAccount", subAccount=sub, note="n"))
    return Master(acc, owner, tenant, f"{prefix}/apiKey", sub)


def _sub_keys(ienv: IEnv, m: Master) -> dict[str, dict[str, object]]:
    _, keys = ienv.platform.subaccounts.keys.list(m.tenant, m.sub)
    return {str(k["apiKey"]): k for k in keys}


def _by_owner(ienv: IEnv, m: Master, permissions: str, ip: str | None = None) -> str:
    """A sub-account key made by the owner (the console's path: no signing key to bound it)."""
    made = ienv.platform.subaccounts.keys.create(m.tenant, m.sub, permissions, ip, "owner")
    return str(made["apiKey"])


@pytest.mark.parametrize("api", APIS)
def test_a_master_key_creates_only_sub_account_keys_no_wider_than_itself(
    ienv: IEnv, api: str
) -> None:
    m = _master(ienv, api)
    end = now_ms() + 5 * DAY
    weak = ienv.signer(
        m.account, TRADE, symbols=["BTCUSDT"], ip_whitelist=["127.0.0.0/24"], expires=end
    )

    def create(permissions: str = "SPOT_DEAL_READ,SPOT_DEAL_WRITE", **kw: str) -> httpx.Response:
        return weak.post(m.keys, subAccount=m.sub, note="k", permissions=permissions, **kw)

    # wider than the signer: refused like every key-scope refusal (700007, HTTP 401)
    for kw in (
        {"permissions": "SPOT_DEAL_WRITE,SPOT_WITHDRAW_WRITE"},
        {"ip": "10.0.0.1"},
        {"ip": "127.0.0.0/16"},
        {"ip": "127.0.0.1,192.168.0.1"},
        {"ip": "::1"},
    ):
        body = err(create(**kw), 700007, 401)
        assert "secretKey" not in body, kw
    assert _sub_keys(ienv, m) == {}
    # a badly written address or too many are still MEXC's own codes
    err(create(ip="127.0.0.300"), 730704)
    err(create(ip=",".join(f"127.0.0.{i}" for i in range(1, 22))), 730703)

    # ip left out: the signer's whitelist and pairs, ending by the signer's expiry (not 90 days
    # from now without IPs, as a key with no signer to bound it)
    made = ok(create())
    assert (made["ip"], made["expireTime"]) == ("127.0.0.0/24", end)
    kept = _sub_keys(ienv, m)[made["apiKey"]]
    assert (kept["ip"], kept["symbols"]) == (["127.0.0.0/24"], ["BTCUSDT"])
    new = Signer(ienv.http, made["apiKey"], made["secretKey"])
    err(new.post("/api/v3/order", symbol="ETHUSDT", **ORDER), 70011, 401)
    # narrower addresses: fine, and with IPs still no later than the signer
    assert ok(create(ip="127.0.0.1"))["expireTime"] == end
    assert ok(create(ip="127.0.0.128/25"))["ip"] == "127.0.0.128/25"
    assert len(_sub_keys(ienv, m)) == 3


@pytest.mark.parametrize("api", APIS)
def test_an_empty_ip_asks_for_no_whitelist_never_the_signing_keys(ienv: IEnv, api: str) -> None:
    """``ip`` sent naming no address (``ip=``, ``ip=,``; pymexc's normal sub-account call
    sends ``ip=`` for ``ip=""``) asks for a key without a whitelist, MEXC's meaning: a
    whitelisted signing key cannot make one (700007, no key), and never gives its own
    whitelist in its place; a signing key without a whitelist makes it, ending within 90 days
    and by its own expiry."""
    m = _master(ienv, api)
    end = now_ms() + 5 * DAY
    fenced = ienv.signer(m.account, TRADE, ip_whitelist=["127.0.0.1"])
    open_ = ienv.signer(m.account, TRADE, expires=end)
    for empty in ("", ",", " , "):
        r = fenced.post(m.keys, subAccount=m.sub, note="k", permissions="SPOT_DEAL_READ", ip=empty)
        err(r, 700007, 401)
    assert _sub_keys(ienv, m) == {}
    made = ok(open_.post(m.keys, subAccount=m.sub, note="k", permissions="SPOT_DEAL_READ", ip=""))
    assert (made["ip"], made["expireTime"]) == ("", end)
    assert _sub_keys(ienv, m)[made["apiKey"]]["ip"] == []
    # left out, the fenced key's own whitelist, as before
    kept = ok(fenced.post(m.keys, subAccount=m.sub, note="k", permissions="SPOT_DEAL_READ"))
    assert kept["ip"] == "127.0.0.1"
    assert len(_sub_keys(ienv, m)) == 2


@pytest.mark.parametrize("api", APIS)
def test_a_master_key_deletes_only_sub_account_keys_no_wider_than_itself(
    ienv: IEnv, api: str
) -> None:
    m = _master(ienv, api)
    weak = ienv.signer(m.account, TRADE, ip_whitelist=["127.0.0.1"])
    wider = {
        "withdrawals": _by_owner(ienv, m, "SPOT_WITHDRAW_WRITE", "127.0.0.1"),
        "any address": _by_owner(ienv, m, "SPOT_DEAL_WRITE"),
        "a wider network": _by_owner(ienv, m, "SPOT_DEAL_WRITE", "127.0.0.0/8"),
    }
    for name, target in wider.items():
        r = weak.delete(m.keys, subAccount=m.sub, apiKey=target)
        assert r.status_code == 401 and r.json()["code"] == 700007, (name, r.text)
    assert set(_sub_keys(ienv, m)) == set(wider.values())
    found = ienv.platform.apikeys.lookup(wider["withdrawals"])
    assert found is not None and not found.revoked
    # a key no wider than the signer: deleted (and dead at once)
    narrow = ok(weak.post(m.keys, subAccount=m.sub, note="n", permissions="SPOT_DEAL_READ"))
    assert ok(weak.delete(m.keys, subAccount=m.sub, apiKey=narrow["apiKey"])) == {
        "subAccount": m.sub
    }
    dead = Signer(ienv.http, narrow["apiKey"], narrow["secretKey"])
    assert dead.get("/api/v3/account").status_code == 401
    # an unknown key is still 730706; the owner (the console's path) deletes the wider ones
    err(weak.delete(m.keys, subAccount=m.sub, apiKey="mx0nope"), 730706)
    for target in wider.values():
        ienv.platform.subaccounts.keys.delete(m.tenant, m.sub, target)
    assert _sub_keys(ienv, m) == {}


@pytest.mark.parametrize("api", APIS)
def test_a_master_key_given_to_a_broker_creates_no_sub_account_key_nor_deletes_an_unbound_one(
    ienv: IEnv, api: str
) -> None:
    m = _master(ienv, api)
    other = ienv.open_account()
    osig = ienv.signer(other, MANAGE, ip_whitelist=["127.0.0.1"])
    bid = int(ok(osig.post("/api/v3/broker/apply", brokerType="API", name="Acme"))["brokerId"])
    ienv.platform.brokers.registry.approve(bid)
    held = ienv.signer(m.account, TRADE, ip_whitelist=["127.0.0.1"])  # the key given to Acme
    ok(m.owner.post("/api/v3/user/apiKey/bind", brokerId=bid, apiKey=held.api_key))
    target = _by_owner(ienv, m, "SPOT_DEAL_READ", "127.0.0.1")

    def refused() -> None:
        err(
            held.post(m.keys, subAccount=m.sub, note="k", permissions="SPOT_DEAL_READ"), 700007, 401
        )
        err(held.delete(m.keys, subAccount=m.sub, apiKey=target), 700007, 401)
        assert set(_sub_keys(ienv, m)) == {target}

    refused()
    # unbinding does not take the key back from the broker: still none
    ok(held.delete("/api/v3/user/apiKey/bind", apiKey=held.api_key))
    refused()
    # a key the master never gave away does both
    made = ok(m.owner.post(m.keys, subAccount=m.sub, note="k", permissions="SPOT_DEAL_READ"))
    ok(m.owner.delete(m.keys, subAccount=m.sub, apiKey=made["apiKey"]))


def test_concurrent_creations_keep_the_scope_and_the_30_key_limit(ienv: IEnv) -> None:
    m = _master(ienv, "broker")
    weak = ienv.signer(m.account, TRADE, ip_whitelist=["127.0.0.1"])

    def create(ip: str) -> httpx.Response:
        return weak.post(m.keys, subAccount=m.sub, note="k", permissions="SPOT_DEAL_READ", ip=ip)

    asked = ["127.0.0.1"] * 40 + ["10.0.0.1", "127.0.0.0/8"] * 10
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(create, asked))
    codes = [
        (ip, r.status_code, r.json().get("code")) for ip, r in zip(asked, answers, strict=True)
    ]
    within = [(status, code) for ip, status, code in codes if ip == "127.0.0.1"]
    wider = [(status, code) for ip, status, code in codes if ip != "127.0.0.1"]
    assert within.count((200, None)) == 30, within
    assert within.count((400, 730705)) == 10, within
    assert wider == [(401, 700007)] * 20, wider
    keys = _sub_keys(ienv, m)
    assert len(keys) == 30 and all(k["ip"] == ["127.0.0.1"] for k in keys.values())
