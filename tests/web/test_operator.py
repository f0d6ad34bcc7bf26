"""The operator console over HTTP: sign-in with the operator credential (refused, throttled
under concurrent wrong attempts, shared with the operator API), no page or form without the
operator session (a user's is not one), CSRF, each action through the registry and in
operator_audit, and each page's server-side render time."""

from __future__ import annotations

import json
import re
import statistics
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import websockets.sync.client as ws_client
from sqlalchemy import select

from bourse.domain.brokers import BrokerStatus
from bourse.domain.money import to_units
from bourse.domain.wallet import WithdrawalStatus
from bourse.engine import commands as c
from bourse.oauth import clients as cl
from bourse.services.throttle import MAX_FAILURES
from bourse.store.audit_tables import operator_audit
from bourse.store.operator_tables import operator_sessions
from bourse.store.repositories.operator_sessions import OperatorSessionRepository
from bourse.web.operator_session import IDLE_S, MAX_AGE_S, OperatorSessions
from tests.web.operator_server import Operated, csrf

#: the console's budget for building one page, in milliseconds
RENDER_BUDGET_MS = 100.0
PAGES = (
    "/operator",
    "/operator/users",
    "/operator/users/{account}",
    "/operator/brokers",
    "/operator/listings",
    "/operator/withdrawals",
    "/operator/ledger",
    "/operator/health",
    "/operator/audit",
)
FORMS = (
    "/operator/users/{account}/freeze",
    "/operator/users/{account}/unfreeze",
    "/operator/brokers/{broker}/approve",
    "/operator/brokers/{broker}/reject",
    "/operator/brokers/{broker}/suspend",
    "/operator/brokers/{broker}/rate",
    "/operator/listings/asset",
    "/operator/listings/symbol",
    "/operator/withdrawals/1/approve",
    "/operator/withdrawals/1/reject",
    "/operator/ledger",
)


def _audit(o: Operated, operation: str) -> list[dict[str, object]]:
    q = select(operator_audit).where(operator_audit.c.operation == operation)
    with o.platform.db.connect() as conn:
        return [dict(r) for r in conn.execute(q.order_by(operator_audit.c.id)).mappings()]


def _applicant(o: Operated) -> tuple[int, int]:
    """A user who applied to be an API broker: (account, broker id), PENDING."""
    _, account = o.user()
    b = o.platform.brokers.registry.apply(account, "API", "Grid Bots Inc")
    assert b.status is BrokerStatus.PENDING
    return account, b.id


def _units(o: Operated, asset: str, text: str) -> int:
    return to_units(text, o.platform.engine.read(lambda e: e.wallet.assets[asset].scale))


def _try_login(o: Operated, token: str) -> int:
    with o.client() as http:
        form = {"token": token, "csrf_token": csrf(http.get("/operator/login").text)}
        return http.post("/operator/login", data=form).status_code


def test_wrong_token_refused_and_concurrent_attempts_throttled(operated: Operated) -> None:
    o = operated
    with o.client() as http:
        r = http.post(
            "/operator/login",
            data={"token": o.token + "x", "csrf_token": csrf(http.get("/operator/login").text)},
        )
        assert r.status_code == 401 and "not the operator credential" in r.text
        assert "bourse_operator" not in r.headers.get("set-cookie", "")
        # without the form's CSRF token the credential is not even looked at
        r = http.post("/operator/login", data={"token": o.token, "csrf_token": "forged"})
        assert r.status_code == 403 and "expired" in r.text
    with ThreadPoolExecutor(12) as pool:
        codes = list(pool.map(lambda _: _try_login(o, "bop_wrong"), range(12)))
    # one failure above; the budget allows MAX_FAILURES in all, whatever the interleaving
    assert codes.count(401) == MAX_FAILURES - 1 and codes.count(429) == 12 - codes.count(401)
    # the address is blocked for wrong credentials, on the operator API too (one throttle);
    # the right one still signs in (tests/web/test_operator_throttle.py)
    assert _try_login(o, "bop_wrong") == 429
    api = httpx.post(
        o.url + "/admin/v1/accounts/list", json={}, headers={"Authorization": "Bearer bop_wrong"}
    )
    assert api.status_code == 429
    refused = _audit(o, "operator.login")
    assert len(refused) == MAX_FAILURES and {r["outcome"] for r in refused} == {"refused"}
    assert _try_login(o, o.token) == 303


def test_no_page_or_form_without_the_operator_session(operated: Operated) -> None:
    o = operated
    user_http, account = o.user()
    _, broker = _applicant(o)
    anonymous = o.client()
    assert user_http.get("/account").status_code == 200  # a live user session
    user_csrf = csrf(user_http.get("/account").text)
    for client in (anonymous, user_http):
        for page in PAGES:
            r = client.get(page.format(account=account))
            assert r.status_code == 303 and r.headers["location"] == "/operator/login", page
        for form in FORMS:
            r = client.post(
                form.format(account=account, broker=broker),
                data={"csrf_token": user_csrf, "rate": "50%", "asset": "ZZZ", "scale": "2"},
            )
            assert r.status_code == 303 and r.headers["location"] == "/operator/login", form
    assert o.platform.brokers.registry.get(broker).status is BrokerStatus.PENDING
    assert not o.platform.engine.read(lambda e: e.wallet.accounts[account].frozen)
    assert "ZZZ" not in o.platform.engine.read(lambda e: set(e.wallet.assets))
    # signed out, the session opens nothing any more
    op = o.operator()
    assert op.get("/operator/brokers").status_code == 200
    out = op.post("/operator/logout", data={"csrf_token": csrf(op.get("/operator").text)})
    assert out.status_code == 303 and out.headers["location"] == "/operator/login"
    assert op.get("/operator/brokers").status_code == 303


def test_forms_refuse_without_the_sessions_csrf_token(operated: Operated) -> None:
    o = operated
    account, broker = _applicant(o)
    op = o.operator()
    for token in ("", "forged", csrf(o.client().get("/operator/login").text)):
        r = op.post(f"/operator/brokers/{broker}/approve", data={"csrf_token": token})
        assert r.status_code == 403 and "Nothing was changed" in r.text
        r = op.post(f"/operator/users/{account}/freeze", data={"csrf_token": token})
        assert r.status_code == 403
    assert o.platform.brokers.registry.get(broker).status is BrokerStatus.PENDING
    assert not o.platform.engine.read(lambda e: e.wallet.accounts[account].frozen)
    assert _audit(o, "brokers.approve") == []


def test_actions_run_through_the_registry_and_are_audited(operated: Operated) -> None:
    o = operated
    account, broker = _applicant(o)
    op = o.operator()
    token = csrf(op.get("/operator/brokers").text)

    r = op.post(f"/operator/brokers/{broker}/approve", data={"csrf_token": token})
    assert (
        r.status_code == 303 and r.headers["location"] == "/operator/brokers?done=brokers.approve"
    )
    page = op.get(r.headers["location"]).text
    assert "The broker is approved." in page
    assert re.search(rf'<tr data-broker="{broker}">.*?APPROVED', page, re.S)
    assert o.platform.brokers.registry.get(broker).status is BrokerStatus.APPROVED
    r = op.post(f"/operator/brokers/{broker}/rate", data={"csrf_token": token, "rate": "35%"})
    assert r.status_code == 303
    assert o.platform.brokers.registry.rate_at(broker) == 350_000
    r = op.post(f"/operator/brokers/{broker}/rate", data={"csrf_token": token, "rate": "lots"})
    assert r.status_code == 400 and "Rate is not a valid number." in r.text, r.text

    # the user's account: shown with balances, frozen (orders cancelled), unfrozen
    o.platform.engine.execute(c.CreditDeposit(account, "USDT", _units(o, "USDT", "12.5"), "t:1"))
    found = op.get("/operator/users", params={"q": str(account)}).text
    assert f'<tr data-account="{account}">' in found
    page = op.get(f"/operator/users/{account}").text
    assert re.search(r'<tr data-asset="USDT">.*?12\.5', page, re.S)
    r = op.post(f"/operator/users/{account}/freeze", data={"csrf_token": token})
    assert r.status_code == 303
    assert o.platform.engine.read(lambda e: e.wallet.accounts[account].frozen)
    assert 'id="status">frozen' in op.get(r.headers["location"]).text
    op.post(f"/operator/users/{account}/unfreeze", data={"csrf_token": token})
    assert not o.platform.engine.read(lambda e: e.wallet.accounts[account].frozen)
    assert op.get("/operator/users/999999").status_code == 404

    # listings: an asset, then a symbol on it; a changed precision is refused in words
    form = {"csrf_token": token, "asset": "OPW", "name": "Operator Web", "scale": "8"}
    assert op.post("/operator/listings/asset", data=form).status_code == 303
    symbol = {
        "csrf_token": token, "base": "OPW", "quote": "USDT", "price_scale": "2",
        "qty_scale": "4", "min_qty": "0.001", "max_qty": "1000", "min_notional": "1",
        "max_notional": "100000", "trading": "on",
    }  # fmt: skip
    assert op.post("/operator/listings/symbol", data=symbol).status_code == 303
    assert "OPWUSDT" in o.platform.engine.read(lambda e: set(e.exchange.symbols))
    # the row's own button pauses trading (the same operation, its limits unchanged)
    row = re.search(
        r'<tr data-symbol="OPWUSDT">(.*?)</tr>', op.get("/operator/listings").text, re.S
    )
    assert row and "Pause trading" in row.group(1)
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', row.group(1)))
    assert op.post("/operator/listings/symbol", data=fields).status_code == 303
    paused = o.platform.engine.read(lambda e: e.exchange.symbols["OPWUSDT"])
    assert not paused.trading and paused.max_notional == _units(o, "USDT", "100000")
    r = op.post("/operator/listings/asset", data={**form, "scale": "6"})
    assert r.status_code == 400 and "The scale of OPW cannot change." in r.text

    for name, params in (
        ("brokers.approve", {"broker": broker}),
        ("brokers.set-rate", {"broker": broker, "rate": "35%"}),
        ("accounts.freeze", {"account": account}),
        ("accounts.unfreeze", {"account": account}),
        ("listings.add-asset", {"asset": "OPW", "name": "Operator Web", "scale": 8}),
    ):
        rows = [r for r in _audit(o, name) if r["outcome"] == "ok"]
        assert len(rows) == 1, name
        assert rows[0]["actor"] == "operator (web)" and rows[0]["source"] == "127.0.0.1"
        sent = json.loads(str(rows[0]["params"]))
        assert all(sent.get(k) == v for k, v in params.items()), rows[0]
    assert [r["outcome"] for r in _audit(o, "listings.add-asset")] == ["ok", "refused"]
    # ... and the audit page shows them
    page = op.get("/operator/audit", params={"operation": "brokers.approve"}).text
    assert page.count('<tr data-operation="brokers.approve">') == 1
    page = op.get("/operator/audit").text  # actions only, unless reads are asked for
    assert (
        'data-operation="brokers.list"' not in page and 'data-operation="accounts.freeze"' in page
    )
    assert 'data-operation="brokers.list"' in op.get("/operator/audit?reads=on").text


def test_oauth_application_shown_and_approved_with_a_redirect_uri(operated: Operated) -> None:
    """The operator reviews what an OAuth applicant wrote (callback URL, note: as text, never
    markup) and may name its app's first redirect URI at approval; none given, the page has
    said that /oauth/authorize refuses the app until one is added."""
    o = operated
    reg = o.platform.brokers.registry
    ids = []
    for name in ("Copy Trader", "Mirror"):
        _, account = o.user()
        ids.append(
            reg.apply(
                account, "OAUTH", name, callback_url=f"https://{name[0].lower()}.example/cb",
                note="We copy <b>trades</b> since 2019.",
            ).id
        )  # fmt: skip
    first, second = ids
    op = o.operator()
    page = op.get("/operator/brokers").text
    row = re.search(rf'<tr data-broker="{first}">(.*?)</tr>', page, re.S)
    assert row, page
    assert '<code class="callback">https://c.example/cb</code>' in row.group(1)
    assert "We copy &lt;b&gt;trades&lt;/b&gt; since 2019." in row.group(1)
    assert 'name="redirect_uri"' in row.group(1) and "refuses its app" in row.group(1)
    token = csrf(page)

    # a bad URI is refused in words and changes nothing
    r = op.post(
        f"/operator/brokers/{first}/approve",
        data={"csrf_token": token, "redirect_uri": "http://c.example/cb"},
    )
    assert r.status_code == 400 and "https" in r.text
    assert reg.get(first).status is BrokerStatus.PENDING
    r = op.post(
        f"/operator/brokers/{first}/approve",
        data={"csrf_token": token, "redirect_uri": " https://c.example/oauth "},
    )
    assert r.status_code == 303
    (client,) = cl.list_clients(o.platform.oauth, broker_id=first)
    assert client.redirect_uris == ("https://c.example/oauth",)
    # without one the app exists with none (the callback URL is not registered unasked)
    assert (
        op.post(f"/operator/brokers/{second}/approve", data={"csrf_token": token}).status_code
        == 303
    )
    (client,) = cl.list_clients(o.platform.oauth, broker_id=second)
    assert client.redirect_uris == ()
    page = op.get("/operator/brokers").text
    row = re.search(rf'<tr data-broker="{second}">(.*?)</tr>', page, re.S)
    assert row and "APPROVED" in row.group(1) and 'name="redirect_uri"' not in row.group(1)


def test_withdrawal_review_queue(operated: Operated) -> None:
    o = operated
    _, account = o.user()
    wallet = o.platform.wallet
    wallet.settings.review_above["USDT"] = "10"
    o.platform.engine.execute(c.CreditDeposit(account, "USDT", _units(o, "USDT", "100"), "t:w"))
    dest = "0x" + "ab" * 20
    held = wallet.withdraw(account, "USDT", "ETH", dest, _units(o, "USDT", "40"))
    other = wallet.withdraw(account, "USDT", "ETH", dest, _units(o, "USDT", "20"))
    assert held.status is other.status is WithdrawalStatus.REVIEW
    op = o.operator()
    page = op.get("/operator/withdrawals").text
    assert f'<tr data-withdrawal="{held.id}">' in page and ">37 USDT" in page  # 40 less the fee
    token = csrf(page)
    r = op.post(f"/operator/withdrawals/{held.id}/reject", data={"csrf_token": token})
    assert r.status_code == 303
    assert "its funds are back" in op.get(r.headers["location"]).text
    r = op.post(f"/operator/withdrawals/{other.id}/approve", data={"csrf_token": token})
    assert r.status_code == 303
    states = o.platform.engine.read(
        lambda e: {i: w.status for i, w in e.wallet.withdrawals.items()}
    )
    assert held.id not in states and states[other.id] is WithdrawalStatus.PENDING
    r = op.post(f"/operator/withdrawals/{held.id}/reject", data={"csrf_token": token})
    assert r.status_code == 409 and "not in review" in r.text
    assert [r["outcome"] for r in _audit(o, "withdrawals.reject")] == ["ok", "refused"]


def test_racing_reviews_conflict_through_the_operator_api(operated: Operated) -> None:
    """Concurrent approvals of one withdrawal in review through the operator API: one is done,
    every other one is a 409 (whether it lost before or inside the engine), never a 400 or a
    500; what the state refuses is a 409 too (a demo server without its sandbox)."""
    o = operated
    _, account = o.user()
    wallet = o.platform.wallet
    wallet.settings.review_above["USDT"] = "10"
    o.platform.engine.execute(c.CreditDeposit(account, "USDT", _units(o, "USDT", "100"), "t:r"))
    held = wallet.withdraw(account, "USDT", "ETH", "0x" + "cd" * 20, _units(o, "USDT", "40"))
    assert held.status is WithdrawalStatus.REVIEW
    auth = {"Authorization": f"Bearer {o.token}"}

    def call(verb: str, **params: object) -> httpx.Response:
        return httpx.post(f"{o.url}/admin/v1/{verb}", json=params, headers=auth, timeout=10)

    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(lambda _: call("withdrawals/approve", withdrawal=held.id), range(8))
        )
    assert sorted(r.status_code for r in answers) == [200] + [409] * 7, [r.text for r in answers]
    assert all(r.json()["code"] == 700003 for r in answers if r.status_code == 409)
    r = call("withdrawals/reject", withdrawal=held.id)
    assert r.status_code == 409 and r.json() == {
        "code": 700003,
        "msg": f"withdrawal {held.id} is PENDING, not in review",
    }
    r = call("sandbox/status")
    assert r.status_code == 409 and "no sandbox runs here" in r.json()["msg"], r.text


def test_session_cookie_and_expiry(operated: Operated) -> None:
    o = operated
    with o.client() as http:
        form = {"token": o.token, "csrf_token": csrf(http.get("/operator/login").text)}
        cookie = http.post("/operator/login", data=form).headers["set-cookie"].lower()
    assert cookie.startswith("bourse_operator=") and o.token.lower() not in cookie
    for flag in ("httponly", "samesite=strict", "path=/", f"max-age={MAX_AGE_S}"):
        assert flag in cookie, cookie
    now = [1_000_000]
    sessions = OperatorSessions(OperatorSessionRepository(o.platform.db), clock=lambda: now[0])
    sid, session = sessions.create()
    now[0] += (IDLE_S - 1) * 1000
    assert sessions.load(sid) == session  # a request restarts the idle clock
    now[0] += (IDLE_S - 1) * 1000
    assert sessions.load(sid) == session and sessions.load(sid + "x") is None
    now[0] += (IDLE_S + 1) * 1000
    assert sessions.load(sid) is None  # idle too long
    sid, _ = sessions.create()  # (pruning the dead one)
    for _ in range(MAX_AGE_S // (IDLE_S - 1) + 1):
        now[0] += (IDLE_S - 1) * 1000
        sessions.load(sid)
    assert sessions.load(sid) is None  # busy, but signed in too long ago
    with o.platform.db.connect() as conn:  # only digests are stored, never an id
        stored = {r.id_hash for r in conn.execute(select(operator_sessions))}
    assert sid not in stored and all(len(h) == 64 for h in stored)


def test_ledger_check_and_health(operated: Operated) -> None:
    o = operated
    op = o.operator()
    page = op.get("/operator/ledger").text
    r = op.post("/operator/ledger", data={"csrf_token": csrf(page)})
    assert r.status_code == 200 and "The ledger is sound" in r.text
    assert len(_audit(o, "ledger.check")) == 1
    _, account = o.user()
    o.platform.engine.execute(c.CreditDeposit(account, "USDT", 1, "t:h"))  # a commit to count
    health = op.get("/operator/health")
    for figure in ("queue-depth", "commits-per-s", "ws-connections"):
        assert f'id="{figure}">' in health.text
    again = op.get("/operator/health", headers={"HX-Request": "true"})
    assert again.text.lstrip().startswith("<table") and "<html" not in again.text
    rate = re.search(r'id="commits-per-s">([0-9.]+|measuring)<', again.text)
    assert rate, again.text
    # the figures are the ones /metrics serves: an open stream shows on both
    ws_url = o.url.replace("http://", "ws://") + "/ws"
    with ws_client.connect(ws_url, open_timeout=10):
        health = op.get("/operator/health", headers={"HX-Request": "true"}).text
        scrape = httpx.get(o.url + "/metrics", headers={"Authorization": f"Bearer {o.token}"})
    assert re.search(r'id="ws-connections">1<', health), health
    assert re.search(r"^bourse_ws_connections 1\.0$", scrape.text, re.M)
    depth = re.search(r"^bourse_engine_queue_depth (\d+)", scrape.text, re.M)
    assert depth and f'id="queue-depth">{depth.group(1)}<' in health


@pytest.mark.alone
def test_pages_render_within_budget(operated: Operated) -> None:
    o = operated
    account, _ = _applicant(o)
    op = o.operator()
    slow = {}
    for page in PAGES:
        times = []
        for _ in range(5):
            r = op.get(page.format(account=account))
            assert r.status_code == 200, (page, r.text)
            m = re.fullmatch(r"render;dur=([0-9.]+)", r.headers["server-timing"])
            assert m
            times.append(float(m.group(1)))
        slow[page] = statistics.median(times)
    print("operator console render medians, ms:", {p: round(t, 1) for p, t in slow.items()})
    assert max(slow.values()) < RENDER_BUDGET_MS, slow
