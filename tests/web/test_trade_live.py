"""The trade page live over ``/ws`` in Debian's chromium: ``static/pushdata.js`` decodes what our
Python protobuf classes encode; against a demo server the page keeps the book from the depth
stream (an order placed through the REST API shows within two seconds, with no htmx poll of
``/trade/SYM/book`` while the socket is live), shows a trade from the deals stream, falls back
to polling when the server drops the socket and goes live again on its own."""

from __future__ import annotations

import base64
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page

from bourse.api.ws.proto.PushDataV3ApiWrapper_pb2 import PushDataV3ApiWrapper
from bourse.engine.clock import now_ms
from bourse.sandbox.controls import Sandbox
from bourse.sandbox.demo import demo_credentials
from bourse.sandbox.faults import Fault
from bourse.services.listenkeys import ListenKeys
from tests.support.browser import ARTIFACTS, WAIT_MS, chromium, watch
from tests.support.mexc import Signer
from tests.web.conftest import Demo
from tests.web.test_console import _account, _create_key, _csrf
from tests.web.test_trade import _funded

STATIC = Path(__file__).resolve().parents[2] / "src" / "bourse" / "web" / "static"
#: seconds a REST order may take to show in the page's book
LIVE_WITHIN_S = 2.0
LIVE = '[data-live-book][data-live="1"]'


def _frames() -> list[tuple[bytes, dict[str, Any]]]:
    """Frames as the server encodes them, and what the decoder must make of each."""
    out = []
    t = 1_764_000_000_123
    depth = PushDataV3ApiWrapper(channel="spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT",
                                 symbol="BTCUSDT", symbolId="ab" * 16, createTime=t,
                                 sendTime=t + 1)  # fmt: skip
    body = depth.publicAggreDepths
    body.bids.add(price="60000.01", quantity="0.5")
    body.bids.add(price="59999", quantity="0")
    body.asks.add(price="60001.5", quantity="12.000001")
    body.eventType = "spot@public.aggre.depth.v3.api.pb@100ms"
    body.fromVersion, body.toVersion = "4398046511104", str(2**52 + 7)
    body.lastOrderCreateTime = t - 5
    out.append((depth.SerializeToString(), {
        "channel": depth.channel, "symbol": "BTCUSDT", "symbolId": "ab" * 16,
        "createTime": t, "sendTime": t + 1,
        "publicAggreDepths": {
            "bids": [{"price": "60000.01", "quantity": "0.5"}, {"price": "59999", "quantity": "0"}],
            "asks": [{"price": "60001.5", "quantity": "12.000001"}],
            "eventType": body.eventType, "fromVersion": "4398046511104",
            "toVersion": str(2**52 + 7), "lastOrderCreateTime": t - 5,
        },
    }))  # fmt: skip
    deals = PushDataV3ApiWrapper(channel="spot@public.aggre.deals.v3.api.pb@10ms@ETHUSDT",
                                 symbol="ETHUSDT", createTime=t)  # fmt: skip
    deals.publicAggreDeals.deals.add(price="3000", quantity="1.25", tradeType=1, time=t,
                                     tradeId="918273645")  # fmt: skip
    deals.publicAggreDeals.deals.add(price="2999.99", quantity="0.01", tradeType=2, time=t + 9)
    deals.publicAggreDeals.eventType = "spot@public.aggre.deals.v3.api.pb@10ms"
    out.append((deals.SerializeToString(), {
        "channel": deals.channel, "symbol": "ETHUSDT", "symbolId": "", "createTime": t,
        "sendTime": 0,
        "publicAggreDeals": {"eventType": "spot@public.aggre.deals.v3.api.pb@10ms", "deals": [
            {"price": "3000", "quantity": "1.25", "tradeType": 1, "time": t,
             "tradeId": "918273645"},
            {"price": "2999.99", "quantity": "0.01", "tradeType": 2, "time": t + 9, "tradeId": ""},
        ]},
    }))  # fmt: skip
    kline = PushDataV3ApiWrapper(channel="spot@public.kline.v3.api.pb@BTCUSDT@Min1",
                                 symbol="BTCUSDT", sendTime=t)  # fmt: skip
    k = kline.publicSpotKline
    k.interval, k.windowStart, k.windowEnd = "Min1", t // 60_000 * 60, t // 60_000 * 60 + 60
    k.openingPrice, k.closingPrice, k.highestPrice, k.lowestPrice = "1", "2.5", "3", "0.5"
    k.volume, k.amount = "10", "25.5"
    out.append((kline.SerializeToString(), {
        "channel": kline.channel, "symbol": "BTCUSDT", "symbolId": "", "createTime": 0,
        "sendTime": t,
        "publicSpotKline": {"interval": "Min1", "windowStart": k.windowStart,
                            "windowEnd": k.windowEnd, "openingPrice": "1", "closingPrice": "2.5",
                            "highestPrice": "3", "lowestPrice": "0.5", "volume": "10",
                            "amount": "25.5"},
    }))  # fmt: skip
    # a body the page does not read (its fields skipped), and an empty frame
    other = PushDataV3ApiWrapper(channel="spot@public.miniTicker.v3.api.pb@BTCUSDT@UTC+8",
                                 symbol="BTCUSDT")  # fmt: skip
    other.publicMiniTicker.price, other.publicMiniTicker.rate = "60000", "-0.0125"
    out.append((other.SerializeToString(), {
        "channel": other.channel, "symbol": "BTCUSDT", "symbolId": "", "createTime": 0,
        "sendTime": 0,
    }))  # fmt: skip
    out.append((b"", {"channel": "", "symbol": "", "symbolId": "", "createTime": 0,
                      "sendTime": 0}))  # fmt: skip
    return out


def _decode(page: Page, frame: bytes) -> Any:
    return page.evaluate(
        "b64 => BoursePush.decode(Uint8Array.from(atob(b64), c => c.charCodeAt(0)))",
        base64.b64encode(frame).decode(),
    )


def test_decoder_reads_what_python_encodes() -> None:
    with chromium() as browser:
        page = browser.new_page()
        page.add_script_tag(path=str(STATIC / "pushdata.js"))
        for frame, expected in _frames():
            assert _decode(page, frame) == expected
        # a frame cut short is refused, not misread
        depth = _frames()[0][0]
        for cut in (1, 7, len(depth) // 2, len(depth) - 1):
            refused = page.evaluate(
                "b64 => { try { BoursePush.decode(Uint8Array.from(atob(b64), "
                "c => c.charCodeAt(0))); return false } catch (e) { return true } }",
                base64.b64encode(depth[:cut]).decode(),
            )
            assert refused, cut


def _top(page: Page, side: str) -> list[str]:
    return str(page.locator(f"tbody.{side} tr").first.inner_text()).split()


def test_live_book_trades_and_reconnect(demo: Demo) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    keys = demo_credentials(demo.platform)["accounts"]
    http = httpx.Client(base_url=demo.url, timeout=10)
    user = Signer(http, keys["user"]["api_key"], keys["user"]["secret"])
    other = keys["independent_broker"]
    seller = Signer(http, other["api_key"], other["secret"])
    sandbox = demo.platform.sandbox
    assert isinstance(sandbox, Sandbox)
    with closing(http), chromium() as browser:
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        errors: list[str] = []
        watch(page, errors)
        polls: list[float] = []
        page.on("request", lambda r: polls.append(time.monotonic())
                if r.url.endswith("/trade/BTCUSDT/book") else None)  # fmt: skip
        sockets: list[Any] = []
        page.on("websocket", lambda ws: sockets.append(ws))

        page.goto(demo.url + "/trade/BTCUSDT")
        page.wait_for_selector(LIVE)
        assert page.inner_text("#book-status") == "Live"
        assert len(sockets) == 1 and sockets[0].url == demo.url.replace("http", "ws") + "/ws"
        live_since = time.monotonic()

        # a bid inside the spread, placed through the REST API, tops the page's book
        price = demo.quiet_bid("BTCUSDT")
        placed = time.monotonic()
        r = user.post("/api/v3/order", symbol="BTCUSDT", side="BUY", type="LIMIT",
                      price=price, quantity="0.0137")  # fmt: skip
        assert r.status_code == 200, r.text
        page.wait_for_function(
            "p => document.querySelector('tbody.bids tr td').textContent === p", arg=price
        )
        took = time.monotonic() - placed
        assert took < LIVE_WITHIN_S, took
        assert _top(page, "bids") == [price, "0.0137"]

        # another account sells into it: a trade in recent trades, the bid partly filled
        r = seller.post("/api/v3/order", symbol="BTCUSDT", side="SELL", type="LIMIT",
                        price=price, quantity="0.0037")  # fmt: skip
        assert r.status_code == 200, r.text
        trade = page.locator("#trades tbody tr").first
        page.wait_for_function(
            "p => { const td = document.querySelector('#trades tbody tr td');"
            " return td && td.textContent === p && td.nextElementSibling.textContent"
            " === '0.0037' }",
            arg=price,
        )
        assert "down" in (trade.locator("td").first.get_attribute("class") or "")  # a sell
        page.wait_for_function("() => document.querySelector('tbody.bids tr td')"
                               ".nextElementSibling.textContent === '0.01'")  # fmt: skip
        # the kline stream brings the chart's current candle to the trade's price
        page.wait_for_selector(f'#chart[data-last-close="{price}"]')
        assert not [t for t in polls if t > live_since], "htmx polled the live book"
        page.screenshot(path=str(ARTIFACTS / "console-trade-live.png"), full_page=True)

        # the server drops the socket: the page polls meanwhile, then is live again
        faults = sandbox.faults
        faults.add(Fault(faults.next_id(), "/ws", "drop_ws", time.time() + 2.0))
        page.wait_for_selector('[data-live-book][data-live="0"]')
        dropped = time.monotonic()
        with page.expect_request(lambda r: r.url.endswith("/trade/BTCUSDT/book")):
            pass  # the fallback: htmx polls every 2 s
        page.wait_for_selector(LIVE, timeout=20_000)
        back = time.monotonic()
        assert len(sockets) >= 2 and back - dropped < 15
        assert page.inner_text("#book-status") == "Live"
        # the new socket carries the book: the order's cancel (REST) shows, without a poll
        r = user.delete("/api/v3/order", symbol="BTCUSDT", orderId=_open_order_id(user, price))
        assert r.status_code == 200, r.text
        page.wait_for_function(
            "p => document.querySelector('tbody.bids tr td').textContent !== p", arg=price
        )
        assert not [t for t in polls if t > back + 0.1], "htmx polled the live book"
        # the only errors: the refused handshakes while the fault was on
        assert all(e.startswith("WebSocket connection to") for e in errors), errors


def _open_order_id(user: Signer, price: str) -> str:
    """The id of the user's open BTCUSDT order at ``price``."""
    try:
        orders = user.get("/api/v3/openOrders", symbol="BTCUSDT").json()
    except httpx.RemoteProtocolError:  # its kept-alive connection idled out (5 s) as it asked
        orders = user.get("/api/v3/openOrders", symbol="BTCUSDT").json()
    return next(str(o["orderId"]) for o in orders if o["price"] == price)


def _book(page: Page, side: str) -> list[list[str]]:
    rows = page.locator(f"tbody.{side} tr").all_inner_texts()
    return [str(r).split() for r in rows]


def test_a_lost_depth_push_fetches_the_snapshot_again(demo: Demo) -> None:
    """A depth push lost on the way (dropped by a route between page and server) is a version
    gap: the page fetches the snapshot again, and its book ends equal to the server's."""
    sandbox = demo.platform.sandbox
    assert isinstance(sandbox, Sandbox) and sandbox.maker is not None
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.set_default_timeout(WAIT_MS)
        snapshots: list[str] = []
        page.on("request", lambda r: snapshots.append(r.url)
                if "/api/v3/depth?" in r.url else None)  # fmt: skip
        dropped: list[str] = []
        armed: list[bool] = []  # once the page is live
        # pushes let through once armed before one is dropped: a push made before the page's
        # snapshot but delivered after it is already in the snapshot, and losing it is no gap
        passed: list[str] = []

        def route(ws: Any) -> None:
            server = ws.connect_to_server()
            ws.on_message(server.send)

            def down(message: str | bytes) -> None:
                if isinstance(message, bytes) and armed and not dropped:
                    frame = PushDataV3ApiWrapper.FromString(message)
                    if frame.HasField("publicAggreDepths"):
                        if len(passed) < 2:
                            passed.append(frame.publicAggreDepths.fromVersion)
                        else:
                            dropped.append(frame.publicAggreDepths.fromVersion)
                            return
                ws.send(message)

            server.on_message(down)

        page.route_web_socket("**/ws", route)
        page.goto(demo.url + "/trade/BTCUSDT")
        page.wait_for_selector(LIVE)
        armed.append(True)
        deadline = time.monotonic() + 10
        while len(snapshots) < 2 and time.monotonic() < deadline:
            page.wait_for_timeout(100)  # the market maker moves the book every 0.2 s
        assert dropped and len(snapshots) >= 2, (passed, dropped, snapshots)
        page.wait_for_selector(LIVE)
        sandbox.maker.pause()
        # the maker's last pushes reach the page within a few windows of 100 ms
        deadline = time.monotonic() + 5
        while True:
            r = httpx.get(demo.url + "/api/v3/depth", params={"symbol": "BTCUSDT", "limit": 10})
            rest, shown = r.json(), (_book(page, "bids"), _book(page, "asks"))
            if shown == (rest["bids"], rest["asks"][::-1]) or time.monotonic() > deadline:
                break
            page.wait_for_timeout(100)
        assert shown == (rest["bids"], rest["asks"][::-1])


def test_without_javascript_the_page_is_the_servers_snapshot(demo: Demo) -> None:
    with chromium() as browser:
        page = browser.new_context(java_script_enabled=False).new_page()
        sockets: list[Any] = []
        page.on("websocket", lambda ws: sockets.append(ws))
        page.goto(demo.url + "/trade/BTCUSDT")
        assert page.locator("tbody.bids tr").count() > 0
        assert page.locator("#trades tbody tr").count() > 0
        link = page.locator("#book-status a")
        assert link.inner_text() == "refresh" and link.get_attribute("href") == "/trade/BTCUSDT"
        page.wait_for_timeout(1000)
        assert not sockets and page.get_attribute("[data-live-book]", "data-live") is None


def test_stream_key_needs_a_session_and_its_csrf_token_and_is_reused(demo: Demo) -> None:
    http = _funded(demo)
    path = "/trade/BTCUSDT/stream-key"
    anonymous = httpx.post(demo.url + path, data={"csrf_token": "x"})
    assert anonymous.status_code == 401 and anonymous.json()["code"] == 401
    assert http.post(path, data={"csrf_token": "forged"}).status_code == 403
    assert httpx.get(demo.url + "/trade/BTCUSDT/mine").status_code == 401
    csrf = _csrf(http.get("/trade/BTCUSDT").text)

    def ask(_: int) -> str:
        r = http.post(path, data={"csrf_token": csrf})
        assert r.status_code == 200, r.text
        return str(r.json()["listenKey"])

    with ThreadPoolExecutor(8) as pool:  # page loads at once still share one key
        keys = list(pool.map(ask, range(16)))
    assert len(set(keys)) == 1 and len(keys[0]) == 64
    account = _account(demo, http)
    assert ListenKeys(demo.platform.db).account_for(keys[0], now_ms()) == account
    mine = http.get("/trade/BTCUSDT/mine").text
    assert mine.startswith('<section id="mine"') and "no open orders" in mine


def test_own_orders_and_fills_follow_the_private_stream(demo: Demo) -> None:
    http = _funded(demo)
    key = _create_key(http)
    stored = demo.platform.apikeys.lookup(key)
    assert stored is not None
    user = Signer(http, key, stored.secret)
    keys = demo_credentials(demo.platform)["accounts"]["independent_broker"]
    seller = Signer(http, keys["api_key"], keys["secret"])
    with closing(http), chromium() as browser:
        context = browser.new_context(viewport={"width": 1100, "height": 1200})
        context.add_cookies([{"name": c.name, "value": c.value or "", "url": demo.url}
                             for c in http.cookies.jar])  # fmt: skip
        page = context.new_page()
        errors: list[str] = []
        watch(page, errors)
        page.goto(demo.url + "/trade/BTCUSDT")
        page.wait_for_selector('#mine[data-live="1"]')
        page.wait_for_selector(LIVE)
        assert "You have no open orders" in page.inner_text("#mine")

        price = demo.quiet_bid("BTCUSDT")
        r = user.post("/api/v3/order", symbol="BTCUSDT", side="BUY", type="LIMIT",
                      price=price, quantity="0.02")  # fmt: skip
        assert r.status_code == 200, r.text
        order_id = r.json()["orderId"]
        row = page.locator(f'#open-orders tr[data-order="{order_id}"]')
        row.wait_for(timeout=int(LIVE_WITHIN_S * 1000))
        assert row.inner_text().split()[:6] == [order_id, "Buy", "Limit", price, "0.02", "0"]

        r = seller.post("/api/v3/order", symbol="BTCUSDT", side="SELL", type="LIMIT",
                        price=price, quantity="0.005")  # fmt: skip
        assert r.status_code == 200, r.text
        page.wait_for_function(
            "id => { const tr = document.querySelector(`#open-orders tr[data-order='${id}']`);"
            " return tr && tr.children[5].textContent === '0.005' }",
            arg=order_id,
        )
        fill = page.locator("#my-trades tbody tr").first
        assert fill.inner_text().split()[3:6] == [order_id, "Buy", price]
        page.screenshot(path=str(ARTIFACTS / "console-trade-mine-live.png"), full_page=True)

        r = user.delete("/api/v3/order", symbol="BTCUSDT", orderId=order_id)
        assert r.status_code == 200, r.text
        row.wait_for(state="detached", timeout=int(LIVE_WITHIN_S * 1000))
        assert "You have no open orders" in page.inner_text("#mine")
        assert "partially canceled" in page.inner_text("#order-history")
        assert not errors, errors
