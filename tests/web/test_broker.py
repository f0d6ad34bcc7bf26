"""The broker console over HTTP on a running demo server: applying, the status page, rebates
and bound keys of one broker only (never another's), CSRF refusal, a clear page for an account
that is not a broker, and each page's server-side render time."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import httpx
import pytest

from bourse.domain.brokers import BrokerStatus
from tests.support.mexc import Signer
from tests.web.checks import assert_refused_without_csrf, assert_within_budget
from tests.web.conftest import Demo
from tests.web.test_console import _csrf, _signup

#: seconds to wait for a fill's rebate to show (the live accrual follows each batch)
REBATE_TIMEOUT = 10.0


def _apply(demo: Demo, http: httpx.Client, kind: str = "API", approve: bool = True) -> int:
    """Apply from ``/broker`` (and approve as the operator would); the broker id."""
    csrf = _csrf(http.get("/broker").text)
    r = http.post(
        "/broker/apply",
        data={"csrf_token": csrf, "broker_type": kind, "name": f"{kind} broker"},
    )
    assert r.status_code == 303 and r.headers["location"] == "/broker?applied=1", r.text
    m = re.search(r"<code>(\d+)</code>", http.get("/broker").text)
    assert m
    if approve:
        demo.platform.brokers.registry.approve(int(m.group(1)))
    return int(m.group(1))


@dataclass
class Trader:
    http: httpx.Client
    api_key: str
    secret: str


def _trader_bound_to(demo: Demo, broker_id: int) -> Trader:
    """A new user with test USDT and a BTCUSDT key bound to ``broker_id`` from the console."""
    http = _signup(demo)
    page = http.get("/account").text
    funded = http.post(
        "/account/faucet",
        data={"csrf_token": _csrf(page), "asset": "USDT", "amount": "500", "request_id": "b"},
    )
    assert funded.status_code == 303
    data = {"csrf_token": _csrf(page), "label": "bot", "permissions": ["SPOT_DEAL_WRITE"],
            "symbols": ["BTCUSDT"]}  # fmt: skip
    r = http.post("/account/keys", data=data)
    assert r.status_code == 201, r.text
    key = re.search(r'id="new-key">([^<]+)<', r.text)
    secret = re.search(r'id="new-secret">([0-9a-f]{32})<', r.text)
    assert key and secret
    bound = http.post(
        "/account/keys/bind",
        data={
            "csrf_token": _csrf(page),
            "api_key": key.group(1),
            "broker_id": str(broker_id),
            "confirmed": "1",
        },
    )
    assert bound.status_code == 303, bound.text
    return Trader(http, key.group(1), secret.group(1))


def _market_buy(demo: Demo, trader: Trader, usdt: str) -> None:
    signer = Signer(httpx.Client(base_url=demo.url, timeout=10), trader.api_key, trader.secret)
    r = signer.post("/api/v3/order", symbol="BTCUSDT", side="BUY", type="MARKET",
                    quoteOrderQty=usdt)  # fmt: skip
    assert r.status_code == 200, r.text


def _wait_for_record(http: httpx.Client, trader_uid: str, day: str = "") -> str:
    """The rebates page once it lists the trader's record (and, with ``day``, that day's total:
    the page reads its records and its daily totals side by side, so a record committed
    between the two reads shows in one and not yet in the other)."""
    deadline = time.monotonic() + REBATE_TIMEOUT
    while True:
        page = http.get("/broker/rebates").text
        day_shown = not day or f'data-day="{day}"' in page
        if f"<td>{trader_uid}</td>" in page and day_shown:
            return page
        assert time.monotonic() < deadline, "no rebate record appeared"
        time.sleep(0.1)


def _uid(http: httpx.Client) -> str:
    m = re.search(r"exchange account (\d+)", http.get("/account").text)
    assert m
    return m.group(1)


def test_logged_out_broker_pages_go_to_login(demo: Demo) -> None:
    for path in ("/broker", "/broker/rebates", "/broker/keys"):
        r = httpx.get(demo.url + path)
        assert r.status_code == 303 and r.headers["location"] == f"/login?next={path}"


def test_a_user_applies_and_sees_the_status_and_rate(demo: Demo) -> None:
    http = _signup(demo)
    page = http.get("/broker")
    assert page.status_code == 200 and 'action="/broker/apply"' in page.text
    # not a broker yet: a page that says so (with the form), not an error
    for path in ("/broker/rebates", "/broker/keys"):
        r = http.get(path)
        assert r.status_code == 403 and "Your account is not a broker" in r.text, path
        assert 'action="/broker/apply"' in r.text
    csrf = _csrf(page.text)
    r = http.post("/broker/apply", data={"csrf_token": csrf, "broker_type": "API", "name": " "})
    assert r.status_code == 400 and "Broker name must be 1 to 128 characters." in r.text
    broker_id = _apply(demo, http, approve=False)
    page = http.get("/broker").text
    assert 'id="broker-status">PENDING<' in page and 'action="/broker/apply"' not in page
    # an account applies once: said in words
    r = http.post("/broker/apply", data={"csrf_token": csrf, "broker_type": "API", "name": "x"})
    assert r.status_code == 400 and "has already applied" in r.text
    demo.platform.brokers.registry.approve(broker_id)
    page = http.get("/broker").text
    assert 'id="broker-status">APPROVED<' in page and 'id="rebate-rate">30%<' in page
    assert demo.platform.brokers.registry.get(broker_id).status is BrokerStatus.APPROVED


def test_a_broker_sees_its_own_rebates_and_keys_only(demo: Demo) -> None:
    alice, bob = _signup(demo), _signup(demo)
    a_id, b_id = _apply(demo, alice), _apply(demo, bob)
    trader = _trader_bound_to(demo, a_id)
    _market_buy(demo, trader, "100")
    uid = _uid(trader.http)
    today = time.strftime("%Y-%m-%d", time.gmtime())
    page = _wait_for_record(alice, uid, today)
    row = re.search(r'<tr data-trade="\d+">(.*?)</tr>', page, re.S)
    assert row and "BTCUSDT buy" in row.group(1) and "30%" in row.group(1)
    rebate = re.search(r"<strong>([0-9.]+) BTC</strong>", row.group(1))
    assert rebate and float(rebate.group(1)) > 0
    # the daily total of today is that rebate (one trade); the chart has its points
    day = re.search(rf'<tr data-day="{today}" data-asset="BTC">.*?"num">([0-9.]+)<', page, re.S)
    assert day and day.group(1) == rebate.group(1)
    assert 'class="chart rebate-chart" data-asset="BTC"' in page
    assert trader.api_key in alice.get("/broker/keys").text
    # bob, another broker, sees none of it
    assert f"<td>{uid}</td>" not in bob.get("/broker/rebates").text
    assert "No rebate records yet" in bob.get("/broker/rebates").text
    assert trader.api_key not in bob.get("/broker/keys?all=1").text
    # and cannot release alice's key
    csrf = _csrf(bob.get("/broker/keys").text)
    r = bob.post("/broker/keys/release", data={"csrf_token": csrf, "api_key": trader.api_key})
    assert r.status_code == 400 and "not bound to your broker" in r.text
    assert demo.platform.brokers.bindings.bound_broker(trader.api_key) == a_id
    assert b_id != a_id
    # alice can: the key stays the user's, bound to nobody
    csrf = _csrf(alice.get("/broker/keys").text)
    r = alice.post("/broker/keys/release", data={"csrf_token": csrf, "api_key": trader.api_key})
    assert r.status_code == 303 and r.headers["location"] == "/broker/keys?done=released"
    assert demo.platform.brokers.bindings.bound_broker(trader.api_key) is None
    assert trader.api_key not in alice.get("/broker/keys").text
    assert trader.api_key in alice.get("/broker/keys?all=1").text


def test_broker_forms_without_the_session_csrf_token_change_nothing(demo: Demo) -> None:
    alice = _signup(demo)
    a_id = _apply(demo, alice)
    trader = _trader_bound_to(demo, a_id)
    newcomer = _signup(demo)
    assert_refused_without_csrf(newcomer, [("/broker/apply", {"broker_type": "API", "name": "x"})])
    assert_refused_without_csrf(alice, [("/broker/keys/release", {"api_key": trader.api_key})])
    assert 'action="/broker/apply"' in newcomer.get("/broker").text
    assert demo.platform.brokers.bindings.bound_broker(trader.api_key) == a_id


@pytest.mark.alone
def test_broker_pages_render_within_budget(demo: Demo) -> None:
    alice = _signup(demo)
    a_id = _apply(demo, alice)
    trader = _trader_bound_to(demo, a_id)
    _market_buy(demo, trader, "50")
    _wait_for_record(alice, _uid(trader.http))
    assert_within_budget(alice, ["/broker", "/broker/rebates", "/broker/keys"])
