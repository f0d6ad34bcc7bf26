"""The sub-account endpoints MEXC dropped from its docs, over real HTTP on SQLite and
PostgreSQL: ``sub-account/margin`` (always refused, 730003, on the caller's own sub-accounts
only) and ``sub-account/onceToken`` with the page that consumes the token exactly once, also
under concurrent use, and not after it expired."""

from __future__ import annotations

import threading

import ccxt
import httpx
import pytest

from bourse.services.subaccounts.errors import OnceTokenInvalid
from bourse.services.subaccounts.once_tokens import TTL_MS, OnceTokens
from tests.support.mexc import err, ok, point_at
from tests.support.platforms import IEnv

SUBP = "/api/v3/broker/sub-account"


def test_margin_is_refused_for_own_subaccounts_only(ienv: IEnv) -> None:
    _, _, broker = ienv.broker("Margin One")
    _, other = ienv.broker("Margin Two")[1:]
    ienv.sub(broker, "marginsub01")
    ienv.sub(other, "othersub001")
    e = err(broker.post(f"{SUBP}/margin", subAccount="marginsub01"), 730003)
    assert "margin" in e["msg"]
    err(broker.post(f"{SUBP}/margin", subAccount="othersub001"), 140001)  # not its own
    err(broker.post(f"{SUBP}/margin", subAccount="nobody00000"), 140001)
    r = broker.post(f"{SUBP}/margin")  # subAccount is required
    assert r.status_code == 400 and r.json()["code"] != 730003


def test_normal_subaccount_margin_through_ccxt(ienv: IEnv) -> None:
    user = ienv.open_account(USDT="10")
    signer = ienv.signer(user, ["SPOT_ACCOUNT_READ", "SPOT_ACCOUNT_WRITE"])
    ok(signer.post("/api/v3/sub-account/virtualSubAccount", subAccount="normalsub01", note="n"))
    ex = ccxt.mexc({"apiKey": signer.api_key, "secret": signer.secret, "timeout": 15_000})
    point_at(ex, ienv.url)
    with pytest.raises(ccxt.BaseError) as info:
        ex.spot_private_post_sub_account_margin({"subAccount": "normalsub01"})
    assert "730003" in str(info.value)
    with pytest.raises(ccxt.BaseError) as info:
        ex.spot_private_post_sub_account_margin({"subAccount": "someoneelse"})
    assert "140001" in str(info.value)


def test_once_token_opens_the_subaccount_page_once(ienv: IEnv) -> None:
    _, _, broker = ienv.broker("Once Broker", USDT="1000")
    sub_id, _ = ienv.sub(broker, "oncesub0001")
    _, other = ienv.broker("Other Broker")[1:]
    ienv.sub(other, "oncesub0002")
    ok(
        broker.post(
            f"{SUBP}/universalTransfer",
            toAccount="oncesub0001",
            fromAccountType="SPOT",
            toAccountType="SPOT",
            asset="USDT",
            amount="250",
            clientTranId="once" + "0" * 28,
        )
    )
    err(broker.get(f"{SUBP}/onceToken", subAccount="oncesub0002"), 140001)  # another's
    err(broker.get(f"{SUBP}/onceToken", subAccount="nobody00000"), 140001)
    body = ok(broker.get(f"{SUBP}/onceToken", subAccount="oncesub0001"))
    assert set(body) == {"onceToken"} and len(body["onceToken"]) >= 40
    token = body["onceToken"]
    with httpx.Client(base_url=ienv.url, timeout=15) as browser:
        page = browser.get("/subaccount/once", params={"onceToken": token})
        assert page.status_code == 200, page.text
        assert "oncesub0001" in page.text and f">{sub_id}<" in page.text
        assert "<td>USDT</td><td>250</td>" in page.text
        assert page.headers["cache-control"] == "no-store"
        again = browser.get("/subaccount/once", params={"onceToken": token})
        assert again.status_code == 400 and "already used" in again.text
        assert "oncesub0001" not in again.text
        assert browser.get("/subaccount/once").status_code == 400
        assert browser.get("/subaccount/once", params={"onceToken": "x" * 500}).status_code == 400

    # concurrent uses of one fresh token: exactly one page
    token = ok(broker.get(f"{SUBP}/onceToken", subAccount="oncesub0001"))["onceToken"]
    statuses: list[int] = []
    barrier = threading.Barrier(8)

    def use() -> None:
        with httpx.Client(base_url=ienv.url, timeout=15) as c:
            barrier.wait(10)
            statuses.append(c.get("/subaccount/once", params={"onceToken": token}).status_code)

    threads = [threading.Thread(target=use) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert sorted(statuses) == [200] + [400] * 7

    # a frozen sub-account gets no token
    ok(broker.post(f"{SUBP}/status", subAccount="oncesub0001", status="2"))
    err(broker.get(f"{SUBP}/onceToken", subAccount="oncesub0001"), 140002)


def test_once_token_expires(ienv: IEnv) -> None:
    _, _, broker = ienv.broker("Expiry Broker")
    ienv.sub(broker, "expiresub01")
    subs = ienv.platform.subaccounts
    now = [subs.clock()]
    tokens = OnceTokens(subs.once_tokens.repo, subs, ienv.platform.engine, clock=lambda: now[0])
    master = ienv.platform.apikeys.lookup(broker.api_key)
    assert master is not None
    t = subs.tenant_for_broker(master.account_id)
    fresh, stale = tokens.issue(t, "expiresub01"), tokens.issue(t, "expiresub01")
    now[0] += TTL_MS - 1
    assert tokens.consume(fresh).sub.name == "expiresub01"
    now[0] += 1
    with pytest.raises(OnceTokenInvalid):
        tokens.consume(stale)
    assert isinstance(stale, str) and fresh != stale
