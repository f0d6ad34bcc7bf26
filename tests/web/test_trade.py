"""The trade page over HTTP on a demo server: the book and trades render, a limit order is
placed, shows in the book and the open orders, and is cancelled; forged and foreign requests
change nothing; refusals come in words."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx

from tests.web.conftest import Demo
from tests.web.test_console import _account, _csrf, _signup


def _funded(demo: Demo) -> httpx.Client:
    http = _signup(demo)
    page = http.get("/account").text
    r = http.post("/account/faucet", data={"csrf_token": _csrf(page), "asset": "USDT",
                                           "amount": "5000", "request_id": "f"})  # fmt: skip
    assert r.status_code == 303
    return http


def test_place_see_and_cancel_a_limit_order(demo: Demo) -> None:
    http = _funded(demo)
    page = httpx.get(demo.url + "/trade/BTCUSDT").text
    assert "Log in to trade" in page and "Recent trades" in page
    assert re.search(r'class="num (up|down)">[0-9.]+</td>', page)  # a trade row
    price = demo.quiet_bid("BTCUSDT")
    page = http.get("/trade/btcusdt").text
    r = http.post("/trade/BTCUSDT/order", data={"csrf_token": _csrf(page), "side": "BUY",
                  "type": "LIMIT", "price": price, "quantity": "0.0123"})  # fmt: skip
    assert r.status_code == 303, r.text
    order_id = int(r.headers["location"].rsplit("=", 1)[1])
    page = http.get("/trade/BTCUSDT").text
    assert f'<tr data-order="{order_id}">' in page
    bids = page.split('<tbody class="bids">')[1].split("</tbody>")[0]
    first = re.search(r'<td class="num up">([0-9.]+)</td><td class="num">([0-9.]+)</td>', bids)
    assert first and first.groups() == (price, "0.0123"), bids
    account = _account(demo, http)
    locked = demo.platform.engine.read(
        lambda e: tuple(e.exchange.ledger.balances[(account, "USDT")])
    )
    assert locked[1] > 0
    # another user cannot cancel it
    other = _signup(demo)
    r = other.post("/trade/BTCUSDT/cancel", data={"csrf_token": _csrf(other.get(
        "/trade/BTCUSDT").text), "order_id": str(order_id)})  # fmt: skip
    assert r.status_code == 400 and "no longer open" in r.text
    # nor can a form without the owner's CSRF token
    r = http.post("/trade/BTCUSDT/cancel", data={"order_id": str(order_id)})
    assert r.status_code == 403
    assert f'<tr data-order="{order_id}">' in http.get("/trade/BTCUSDT").text
    r = http.post("/trade/BTCUSDT/cancel", data={"csrf_token": _csrf(page),
                                                 "order_id": str(order_id)})  # fmt: skip
    assert r.status_code == 303
    page = http.get("/trade/BTCUSDT").text
    assert f'data-order="{order_id}"' not in page and "no open orders" in page
    assert demo.platform.engine.read(
        lambda e: tuple(e.exchange.ledger.balances[(account, "USDT")])
    ) == (
        locked[0] + locked[1], 0)  # fmt: skip


def _notice(page: str) -> str:
    m = re.search(r'<p class="ok" role="status" id="placed">([^<]*)</p>', page)
    return m.group(1) if m else ""


def test_the_page_says_what_became_of_the_order_just_placed_and_only_to_its_owner(
    demo: Demo,
) -> None:
    """A filled market order is in no open-order table: the redirect's ``?placed=<id>``
    is read back from the order itself. Another account's id shows nothing, nor does a
    logged-out visitor's page."""
    http = _funded(demo)
    r = http.post("/trade/BTCUSDT/order", data={"csrf_token": _csrf(http.get(
        "/trade/BTCUSDT").text), "side": "BUY", "type": "MARKET", "quantity": "0.001"})  # fmt: skip
    assert r.status_code == 303, r.text
    order_id = int(r.headers["location"].rsplit("=", 1)[1])
    said = _notice(http.get(r.headers["location"]).text)
    m = re.fullmatch(rf"Order {order_id} placed: filled, bought 0\.001 BTC at ([0-9.]+) USDT on "
                     r"average\.", said)  # fmt: skip
    assert m, said
    order = demo.platform.queries.order(_account(demo, http), "BTCUSDT", order_id)
    assert order is not None and order.filled_quote > 0
    sym = demo.platform.engine.read(lambda e: e.exchange.symbols["BTCUSDT"])
    exact = Decimal(order.filled_quote).scaleb(-sym.quote.scale) / Decimal(
        order.filled_qty).scaleb(-sym.qty_scale)  # fmt: skip
    assert 0 <= exact - Decimal(m.group(1)) < Decimal(1).scaleb(-sym.price_scale), exact
    price = demo.quiet_bid("BTCUSDT")
    r = http.post("/trade/BTCUSDT/order", data={"csrf_token": _csrf(http.get(
        "/trade/BTCUSDT").text), "side": "BUY", "type": "LIMIT", "price": price,
        "quantity": "0.002"})  # fmt: skip
    limit_id = int(r.headers["location"].rsplit("=", 1)[1])
    said = _notice(http.get(r.headers["location"]).text)
    assert said == f"Order {limit_id} placed: open in the book, buy 0.002 BTC at {price} USDT."
    other = _funded(demo)
    for oid in (order_id, limit_id):
        for who in (other, httpx.Client(base_url=demo.url)):
            page = who.get(f"/trade/BTCUSDT?placed={oid}")
            assert page.status_code == 200 and 'id="placed"' not in page.text
            assert f"Order {oid}" not in page.text
    for junk in ("", "x", "9" * 40, "²", str(order_id) + "0"):
        assert 'id="placed"' not in http.get(f"/trade/BTCUSDT?placed={junk}").text
    assert 'id="placed"' not in http.get(f"/trade/ETHUSDT?placed={order_id}").text


def test_order_refusals_in_words(demo: Demo) -> None:
    http = _funded(demo)
    csrf = _csrf(http.get("/trade/BTCUSDT").text)
    for data, words in (
        ({"side": "BUY", "type": "LIMIT", "price": "60000", "quantity": "1"}, "balance is too low"),
        ({"side": "BUY", "type": "LIMIT", "price": "", "quantity": "0.01"}, "Enter the price"),
        ({"side": "SELL", "type": "LIMIT", "price": "1", "quantity": "0.01"}, "too far from"),
        ({"side": "BUY", "type": "LIMIT", "price": "1.123", "quantity": "0.01"}, "decimals"),
    ):
        r = http.post("/trade/BTCUSDT/order", data={"csrf_token": csrf, **data})
        assert r.status_code == 400 and words in r.text, (data, re.findall(r'alert">[^<]*', r.text))
        assert f'value="{data["quantity"]}"' in r.text  # the form keeps what was typed
    r = http.post("/trade/BTCUSDT/order", data={"side": "BUY", "type": "MARKET", "quantity": "1"})
    assert r.status_code == 403
    assert "no open orders" in http.get("/trade/BTCUSDT").text
    assert httpx.get(demo.url + "/trade/NOPE").status_code == 404


def test_market_order_fills_against_the_book(demo: Demo) -> None:
    http = _funded(demo)
    csrf = _csrf(http.get("/trade/BTCUSDT").text)
    r = http.post("/trade/BTCUSDT/order", data={"csrf_token": csrf, "side": "BUY",
                  "type": "MARKET", "quantity": "0.001"})  # fmt: skip
    assert r.status_code == 303, re.findall(r'alert">[^<]*', r.text)
    row = re.search(r'<tr data-asset="BTC">\s*<th scope="row">BTC</th>\s*<td class="num">([0-9.]+)<',
                    http.get("/account").text)  # fmt: skip
    assert row and Decimal("0.00099") <= Decimal(row.group(1)) <= Decimal("0.001")  # less the fee


def test_ids_that_are_not_ascii_digits_or_overflow_are_refused_in_words(demo: Demo) -> None:
    """``str.isdigit`` admits "²" (``int`` fails) and any length (the store's 64 bits, Python's
    4300-digit limit): each was a 500. Users race each other's forms, so several at once."""
    http = _funded(demo)
    csrf = _csrf(http.get("/trade/BTCUSDT").text)
    bad = ("²", "9" * 30, "9" * 5000)
    with ThreadPoolExecutor(len(bad)) as pool:
        codes = list(pool.map(lambda v: http.post("/trade/BTCUSDT/cancel", data={
            "csrf_token": csrf, "order_id": v}), bad))  # fmt: skip
    assert [(r.status_code, "Choose an order" in r.text) for r in codes] == [(400, True)] * 3
    page = http.get("/account/keys").text
    r = http.post("/account/keys", data={"csrf_token": _csrf(page), "label": "k",
                                         "permissions": "SPOT_ACCOUNT_READ"})  # fmt: skip
    key = re.findall(r'name="api_key" value="([^"]+)"', r.text)[0]
    for v in bad:
        r = http.post("/account/keys/bind", data={"csrf_token": csrf, "api_key": key,
                                                  "broker_id": v})  # fmt: skip
        assert r.status_code == 400, (v[:8], r.status_code)


def test_a_double_submitted_order_form_places_one_order(demo: Demo) -> None:
    """The form carries a one-time id (the client order id): the same form sent four times
    at once, as a double-click or a resent request does, places one order."""
    http = _funded(demo)
    price = demo.quiet_bid("BTCUSDT")
    page = http.get("/trade/BTCUSDT").text
    rid = re.search(r'name="request_id" value="([^"]+)"', page)
    assert rid
    data = {"csrf_token": _csrf(page), "request_id": rid.group(1), "side": "BUY",
            "type": "LIMIT", "price": price, "quantity": "0.001"}  # fmt: skip
    with ThreadPoolExecutor(4) as pool:
        sent = list(pool.map(lambda _: http.post("/trade/BTCUSDT/order", data=data), range(4)))
    assert {r.status_code for r in sent} == {303}
    assert len({r.headers["location"] for r in sent}) == 1
    page = http.get("/trade/BTCUSDT").text
    assert len(re.findall(r'<tr data-order="\d+">', page)) == 1
