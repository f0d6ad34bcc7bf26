"""Errors of the parts of a page htmx refreshes, in a real browser (Debian's chromium via
playwright): the message appears inside the part that failed, which keeps refreshing and comes
back when the server does, never a page inside the page; the operator whose session ended while
the health figures refresh lands on the sign-in page; the trade page's script reads the
listen-key endpoint's errors as JSON; on the trade page, a failed refresh of the book while its
stream is down goes when the stream is back. Screenshots go to ``test-artifacts/errors-*.png``."""

from __future__ import annotations

import re
from typing import Any, NoReturn

import pytest
from playwright.sync_api import Page

from bourse.store.transaction import StoreBusy
from bourse.web import figures
from bourse.web.messages import BUSY, FAILED, UNREADABLE
from bourse.web.trade import TradePages
from tests.support.browser import ARTIFACTS, chromium, sign_up, watch
from tests.web.operator_server import Operated

#: what the browser logs for an error answer (its status), and htmx for one it swaps in
EXPECTED = re.compile(r"Failed to load resource: the server responded with a status of (400|500|"
                      r"503) \(.*\)|Response Status Error .*Code 50[03] from /.*")  # fmt: skip


def _crash(exc: Exception) -> Any:
    def boom(*_: Any, **__: Any) -> NoReturn:
        raise exc

    return boom


def _in_place(page: Page, part: str, message: str) -> None:
    """``message`` is shown inside ``part``, alone: no page, header or heading in it, and the
    part still refreshes itself."""
    alert = page.locator(f"{part} > p.error[role=alert]")
    alert.wait_for()
    assert alert.inner_text() == message
    inside = page.locator(part).evaluate("e => e.querySelectorAll('html, body, header, main, h1')")
    assert inside == {} or not inside, inside
    assert page.locator(part).get_attribute("hx-get")
    assert page.locator("header.top").count() == 1 and page.locator("h1").count() == 1


def test_a_failed_refresh_shows_its_message_in_place(
    operated: Operated, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = operated.url
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    with chromium() as browser:
        page = watch(browser.new_page(viewport={"width": 1100, "height": 800}), errors)
        # the home page's markets table: the server fails, then is back
        page.goto(base + "/")
        monkeypatch.setattr(figures, "markets", _crash(RuntimeError("a bug")))
        _in_place(page, "#markets", FAILED)
        page.screenshot(path=str(ARTIFACTS / "errors-markets.png"), full_page=True)
        monkeypatch.undo()
        page.locator('#markets tr[data-symbol="BTCUSDT"]').wait_for()
        assert page.locator("#markets p.error").count() == 0
        with page.expect_request(base + "/markets"):  # the table it swapped in polls too
            pass

        # the trade page's book, polled while there is no stream: the store is busy, then not
        sign_up(page, base, "book")
        page.add_init_script("delete window.WebSocket")  # the book polls (no /ws)
        page.goto(base + "/trade/BTCUSDT")
        monkeypatch.setattr(TradePages, "_book", _crash(StoreBusy()))
        _in_place(page, "#book", BUSY)
        page.screenshot(path=str(ARTIFACTS / "errors-book.png"), full_page=True)
        monkeypatch.undo()
        page.locator("#book tbody.bids").wait_for()
        assert page.locator("#book p.error").count() == 0

        # the page's script reads the listen-key endpoint's refusal as JSON
        answer = page.evaluate("""() => fetch("/trade/BTCUSDT/stream-key", {
            method: "POST", body: new URLSearchParams({csrf_token: "\\u0000"}),
          }).then(r => r.json().then(j => [r.status, j]))""")
        assert answer == [400, {"code": 400, "msg": UNREADABLE}]
    assert errors and all(EXPECTED.fullmatch(e) for e in errors), errors


def test_an_ended_session_sends_the_health_page_to_sign_in(operated: Operated) -> None:
    base = operated.url
    errors: list[str] = []
    with chromium() as browser:
        context = browser.new_context()
        page = watch(context.new_page(), errors)
        page.goto(base + "/operator/login")
        page.fill("input[name=token]", operated.token)
        page.keyboard.press("Enter")
        page.wait_for_url(base + "/operator")
        page.goto(base + "/operator/health")
        page.locator("#health").wait_for()
        context.clear_cookies()  # the session ends; the next refresh (2 s) finds none
        page.wait_for_url(base + "/operator/login")
        assert page.locator("input[name=token]").count() == 1
        assert page.locator("header.top").count() == 1 and page.locator("h1").count() == 1
    assert not errors, errors


def test_a_failed_book_refresh_goes_when_the_stream_is_back(
    operated: Operated, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trade page's stream is down, so htmx refreshes the book; a refresh fails and its
    message shows inside the book. A refresh that works replaces it; and once the stream is
    back (htmx's refreshes stopped), the live book replaces it too, rather than leaving the
    message there until the page is reloaded."""
    base = operated.url
    errors: list[str] = []
    down = [True]

    def ws(route: Any) -> None:  # the stream: refused while down, the server's once back
        if down:
            route.close()
        else:
            route.connect_to_server()

    with chromium() as browser:
        page = watch(browser.new_page(viewport={"width": 1100, "height": 800}), errors)
        page.route_web_socket("**/ws", ws)
        page.goto(base + "/trade/BTCUSDT")
        book = page.locator("#book")
        # a refresh fails, and the next one works
        monkeypatch.setattr(TradePages, "_book", _crash(RuntimeError("a bug")))
        _in_place(page, "#book", FAILED)
        monkeypatch.undo()
        page.locator("#book tbody.bids").wait_for()
        assert book.locator("p.error").count() == 0
        # a refresh fails, and then the stream is back: the live book takes the message's place
        monkeypatch.setattr(TradePages, "_book", _crash(RuntimeError("a bug")))
        _in_place(page, "#book", FAILED)
        down.clear()
        page.wait_for_selector('[data-live-book][data-live="1"]', timeout=20_000)
        page.screenshot(path=str(ARTIFACTS / "errors-book-live.png"), full_page=True)
        assert book.locator("p.error").count() == 0
        # the live copy's drawing of the (empty) book and trades
        shown = [book.locator(f"{part} tr").all_inner_texts()
                 for part in ("tbody.asks", "tbody.bids", "#trades tbody")]  # fmt: skip
        assert shown == [["No sellers"], ["No buyers"], ["No trades yet"]], shown
    assert errors and all(EXPECTED.fullmatch(e) for e in errors), errors


def test_a_signed_in_visitor_goes_on_from_the_error_page(
    operated: Operated, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page whose handler raised is the site's error page with its request id, and a
    signed-in visitor keeps the navigation there: on to another page, or out by its log-out
    form."""
    base = operated.url
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    with chromium() as browser:
        page = watch(browser.new_page(viewport={"width": 1100, "height": 800}), errors)
        sign_up(page, base, "failed")
        monkeypatch.setattr(figures, "balances", _crash(RuntimeError("a bug")))
        answer = page.goto(base + "/account")
        assert answer is not None and answer.status == 500
        assert page.inner_text("h1") == "Something went wrong"
        assert page.inner_text("main p.error[role=alert]") == FAILED
        assert page.inner_text("main p.muted code") == answer.headers["x-request-id"]
        assert page.locator('nav a[href="/account"]').inner_text() == "Dashboard"
        page.screenshot(path=str(ARTIFACTS / "errors-page-signed-in.png"), full_page=True)
        page.click("nav >> text=Deposit")
        page.wait_for_url(base + "/account/deposit")
        assert page.locator("#deposit-address").count() == 1
        page.goto(base + "/account")
        with page.expect_navigation():
            page.click('nav button:has-text("Log out")')
        page.wait_for_url(base + "/login")
        monkeypatch.undo()
        page.goto(base + "/account")
        page.wait_for_url(base + "/login?next=/account")
    assert errors and all(EXPECTED.fullmatch(e) for e in errors), errors


#: the words of an element's text (its ``code`` aside) that a line break splits
_SPLIT_WORDS = """e => {
  const split = [];
  const walker = document.createTreeWalker(e, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (n.parentElement.closest("code")) continue;
    for (const m of n.data.matchAll(/\\S+/g)) {
      const r = document.createRange();
      r.setStart(n, m.index);
      r.setEnd(n, m.index + m[0].length);
      if ([...r.getClientRects()].filter(x => x.width > 0).length > 1) split.push(m[0]);
    }
  }
  return split;
}"""
#: how far an element reaches past its container's right edge and past the window's, and on
#: how many lines it is drawn
_FIT = """(e, box) => [
  e.getBoundingClientRect().right - e.closest(box).getBoundingClientRect().right,
  e.getBoundingClientRect().right - document.documentElement.clientWidth,
  e.getClientRects().length,
]"""
#: how far the page reaches past the window's right edge
_PAGE_OVERFLOW = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
#: narrow screens, a phone's among them
_WIDTHS = range(280, 424, 8)


def test_small_print_wraps_between_words_and_long_ids_still_fit(
    operated: Operated, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a narrow screen the error page's request-id line wraps between its words, never
    inside one ("Q / uote"), while its id and an API key in the keys table still wrap to fit
    (``.small``: ``overflow-wrap: anywhere``, not ``word-break: break-all``). The keys table
    stacks its cells on such a screen, and the key is held to its cell."""
    base = operated.url
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 320, "height": 800})
        page = watch(context.new_page(), errors)
        sign_up(page, base, "narrow")
        page.goto(base + "/account/keys")
        page.fill("input[name=label]", "narrow")
        page.click('button:has-text("Create key")')
        key = page.locator(f'tr[data-key="{page.inner_text("#new-key")}"] code.small')
        monkeypatch.setattr(figures, "balances", _crash(RuntimeError("a bug")))
        failed = watch(context.new_page(), errors)
        answer = failed.goto(base + "/account")
        assert answer is not None and answer.status == 500
        line = failed.locator("main p.muted", has_text="Request id")
        assert "Quote it when you report this" in line.inner_text()
        wrapped = 0
        for width in _WIDTHS:
            for p in (page, failed):
                p.set_viewport_size({"width": width, "height": 800})
            assert line.evaluate(_SPLIT_WORDS) == [], width
            over, out, _ = line.locator("code").evaluate(_FIT, "p")
            assert over <= 0.5 and out <= 0.5, (width, over, out)
            assert failed.evaluate(_PAGE_OVERFLOW) <= 0, width
            over, out, lines = key.evaluate(_FIT, "td")
            assert over <= 0.5 and out <= 0.5, (width, over, out)
            wrapped = max(wrapped, lines)
        assert wrapped > 1  # on the narrowest screens the key wraps rather than widening its cell
        failed.screenshot(path=str(ARTIFACTS / "errors-page-narrow.png"), full_page=True)
        page.screenshot(path=str(ARTIFACTS / "keys-narrow.png"), full_page=True)
    assert errors and all(EXPECTED.fullmatch(e) for e in errors), errors
