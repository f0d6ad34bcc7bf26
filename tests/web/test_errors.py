"""An error in the shape its asker reads (``bourse.web.errors``): an htmx request (a table or
the book refreshed in place) gets the page's alert alone with the page's status, never a whole
page to swap into its element; a session that ended sends the browser to sign in as a whole
page (``HX-Redirect``) rather than into the fragment; the trade page's script gets JSON from
``/stream-key``, as the API answers. A browser's navigation still gets the page, and a page
whose handler failed the site's error page with the request id the traceback is logged under,
never the exception's text."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any, NoReturn

import httpx
import pytest

from bourse.api.observability.logs import JsonFormatter, RequestIdFilter, log_config
from bourse.services.listenkeys import ListenKeys
from bourse.services.users import Users
from bourse.store.transaction import StoreBusy
from bourse.web import figures
from bourse.web.broker import NOT_A_BROKER
from bourse.web.messages import BUSY, FAILED, UNREADABLE
from bourse.web.operator import OperatorConsole
from bourse.web.operator_session import OperatorSessions
from tests.web.operator_server import Operated, csrf

HX = {"HX-Request": "true"}


def _alone(r: httpx.Response, status: int, message: str) -> None:
    """``r`` is the alert alone, for htmx to put inside the element that asked."""
    assert r.status_code == status, r.text
    assert r.text.strip() == f'<p class="error" role="alert">{message}</p>', r.text
    assert r.headers["hx-reswap"] == "innerHTML"
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["x-frame-options"] == "DENY" and "server-timing" in r.headers


def _crash(exc: Exception) -> Any:
    def boom(*_: Any, **__: Any) -> NoReturn:
        raise exc

    return boom


def test_htmx_gets_the_alert_alone(operated: Operated, monkeypatch: pytest.MonkeyPatch) -> None:
    http = operated.client()
    table = http.get("/markets", headers=HX).text.lstrip()
    assert table.startswith('<table class="apps') and 'hx-get="/markets"' in table  # polls on
    _alone(http.get("/markets?q=%00", headers=HX), 400, UNREADABLE)
    _alone(http.get("/trade/NOSUCH/book", headers=HX), 404,
           "That trading pair is not listed here.")  # fmt: skip
    user, _ = operated.user()
    _alone(user.get("/broker/keys", headers=HX), 403, NOT_A_BROKER)
    monkeypatch.setattr(figures, "markets", _crash(RuntimeError("a bug")))
    _alone(http.get("/markets", headers=HX), 500, FAILED)
    monkeypatch.setattr(figures, "markets", _crash(StoreBusy()))
    r = http.get("/markets", headers=HX)
    _alone(r, 503, BUSY)
    assert r.headers["retry-after"] == "1"
    # a browser's navigation still gets the page
    for path, status in (("/markets?q=%00", 400), ("/trade/NOSUCH/book", 404)):
        r = http.get(path)
        assert r.status_code == status and "<html" in r.text and "hx-reswap" not in r.headers
    assert "<html" in user.get("/broker/keys").text


def test_htmx_goes_to_sign_in_as_a_whole_page(operated: Operated) -> None:
    op = operated.operator()
    assert op.get("/operator/health", headers=HX).text.lstrip().startswith("<table")
    op.cookies.clear()  # the session ended
    r = op.get("/operator/health", headers=HX)
    assert r.status_code == 204 and r.headers["hx-redirect"] == "/operator/login" and not r.text
    assert "location" not in r.headers
    r = op.get("/operator/health")
    assert (r.status_code, r.headers["location"]) == (303, "/operator/login")


def test_stream_key_errors_are_json(operated: Operated, monkeypatch: pytest.MonkeyPatch) -> None:
    http, _ = operated.user()
    token = csrf(http.get("/trade/BTCUSDT").text)
    path = "/trade/BTCUSDT/stream-key"

    def ask(**kw: Any) -> httpx.Response:
        r = http.post(path, **kw)
        assert r.headers["content-type"] == "application/json", r.text
        return r

    r = ask(data={"csrf_token": token + "\x00"})
    assert (r.status_code, r.json()) == (400, {"code": 400, "msg": UNREADABLE})
    assert re.fullmatch(r"[0-9a-f]{64}", ask(data={"csrf_token": token}).json()["listenKey"])
    monkeypatch.setattr(ListenKeys, "extend", _crash(RuntimeError("a bug")))
    r = ask(data={"csrf_token": token})
    assert (r.status_code, r.json()) == (500, {"code": 500, "msg": FAILED})
    monkeypatch.setattr(ListenKeys, "extend", _crash(StoreBusy()))
    r = ask(data={"csrf_token": token})
    assert (r.status_code, r.json()) == (503, {"code": 503, "msg": BUSY})
    assert r.headers["retry-after"] == "1"
    r = ask(data={"csrf_token": "forged"})
    assert r.status_code == 403 and r.json()["code"] == 403
    r = httpx.post(operated.url + path, data={"csrf_token": "\x00"})
    assert (r.status_code, r.json()) == (401, {"code": 401, "msg": "Log in first."})


#: how ``bourse serve --log-format text`` writes Bourse's lines
_TEXT = log_config("text")["formatters"]["default"]


class _Lines(logging.Handler):
    """The lines ``bourse serve --log-format json`` would write for a logger's records
    (``lines``), and those of ``--log-format text`` (``texts``)."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[dict[str, Any]] = []
        self.texts: list[str] = []
        self.addFilter(RequestIdFilter())
        self.setFormatter(JsonFormatter())
        self.text_format = _TEXT["()"](_TEXT["fmt"], use_colors=False)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))
        self.texts.append(self.text_format.format(record))


@pytest.fixture
def web_log() -> Iterator[_Lines]:
    handler, logger = _Lines(), logging.getLogger("bourse.web")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def test_a_page_that_failed_is_the_error_page_with_its_request_id(
    operated: Operated, monkeypatch: pytest.MonkeyPatch, web_log: _Lines
) -> None:
    secret = "a bug whose text the visitor must not read"
    monkeypatch.setattr(figures, "markets", _crash(RuntimeError(secret)))
    monkeypatch.setattr(OperatorConsole, "_render", _crash(KeyError(secret)))
    op = operated.operator()
    for http, path, heading in (
        (operated.client(), "/", '<header class="top">'),
        (op, "/operator/users", "Bourse operator</a>"),
    ):
        r = http.get(path)
        rid = r.headers["x-request-id"]
        assert r.status_code == 500, r.text
        assert r.headers["content-type"] == "text/html; charset=utf-8"
        assert r.headers["x-frame-options"] == "DENY" and "server-timing" in r.headers
        assert heading in r.text and "<h1>Something went wrong</h1>" in r.text
        assert f'<p class="error" role="alert">{FAILED}</p>' in r.text
        assert f"Request id: <code>{rid}</code>" in r.text
        for leak in ("Traceback", "Error", secret, "figures.py", "File "):
            assert leak not in r.text, leak
        logged = [line for line in web_log.lines if line["request_id"] == rid]
        assert len(logged) == 1, web_log.lines
        assert logged[0]["level"] == "error" and logged[0]["msg"] == "unhandled error"
        assert logged[0]["exc"].startswith("Traceback (most recent call last):")
        assert secret in logged[0]["exc"] and "boom" in logged[0]["exc"]
        # the text line ends with the id too, before the traceback
        (text,) = [t for t in web_log.texts if rid in t]
        first, then = text.splitlines()[:2]
        assert first.endswith(f"bourse.web: unhandled error {rid}") and then.startswith("Traceback")
    # a busy store is retryable: the page says so, with Retry-After, and names no request id
    monkeypatch.setattr(figures, "markets", _crash(StoreBusy()))
    r = operated.client().get("/")
    assert (r.status_code, r.headers["retry-after"]) == (503, "1")
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert "<h1>The server is busy</h1>" in r.text and BUSY in r.text
    assert "Request id" not in r.text


#: the console's signed-in navigation, and its log-out form (``base.html``)
_NAV = '<a href="/account">Dashboard</a>'
_LOG_OUT = '<form method="post" action="/logout" class="inline">'


def test_the_error_page_of_a_signed_in_visitor_has_the_navigation(
    operated: Operated, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signed-in visitor whose page failed keeps the navigation every other page gives
    them, with a log-out form that works (the session's CSRF token); the operator's page keeps
    the operator's. A visitor without a session gets the page without it."""
    user, account = operated.user()
    op = operated.operator()
    assert _NAV in user.get("/").text
    monkeypatch.setattr(figures, "markets", _crash(RuntimeError("a bug")))
    monkeypatch.setattr(figures, "balances", _crash(RuntimeError("a bug")))
    monkeypatch.setattr(OperatorConsole, "_render", _crash(KeyError("a bug")))
    for path in ("/", "/account"):  # a public page, and one that needs the session
        r = user.get(path)
        assert r.status_code == 500 and "<h1>Something went wrong</h1>" in r.text, path
        assert f"Request id: <code>{r.headers['x-request-id']}</code>" in r.text
        assert _NAV in r.text and _LOG_OUT in r.text, path
    r = op.get("/operator/users")
    assert (
        r.status_code == 500 and f"Request id: <code>{r.headers['x-request-id']}</code>" in r.text
    )
    assert '<a href="/operator/users">Users</a>' in r.text
    assert '<form method="post" action="/operator/logout" class="inline">' in r.text
    anonymous = operated.client().get("/")
    assert anonymous.status_code == 500 and "Request id" in anonymous.text
    assert _NAV not in anonymous.text and 'action="/logout"' not in anonymous.text
    # the error page's log-out form ends the session
    r = user.post("/logout", data={"csrf_token": csrf(user.get("/account").text)})
    assert r.status_code == 303
    assert user.get("/account").headers["location"] == "/login?next=/account"


def test_an_error_page_whose_session_cannot_be_read_goes_without_navigation(
    operated: Operated, monkeypatch: pytest.MonkeyPatch, web_log: _Lines
) -> None:
    """Reading the session is what failed (the database is down): the page that failed gets
    the 500 page with its request id all the same, without the navigation, and the log says
    why the navigation is missing. A busy store is not asked again for the busy page."""
    user, _ = operated.user()
    op = operated.operator()
    reads: list[str] = []

    def failing(exc: Exception) -> Any:
        def read(*_: Any, **__: Any) -> NoReturn:
            reads.append(str(exc))
            raise exc

        return read

    down = failing(RuntimeError("the database is down"))

    monkeypatch.setattr(Users, "load_session", down)
    monkeypatch.setattr(OperatorSessions, "load", down)
    for http, path in ((user, "/"), (user, "/account"), (op, "/operator/users")):
        reads.clear()
        r = http.get(path)
        rid = r.headers["x-request-id"]
        assert r.status_code == 500, (path, r.text)
        assert f'<p class="error" role="alert">{FAILED}</p>' in r.text
        assert f"Request id: <code>{rid}</code>" in r.text
        assert "the database is down" not in r.text
        assert "logout" not in r.text and _NAV not in r.text, path
        assert len(reads) == 2, path  # the handler's read, then the navigation's
        logged = [
            (line["level"], line["msg"]) for line in web_log.lines if line["request_id"] == rid
        ]
        assert logged == [
            ("error", "unhandled error"),
            ("warning", "error page without navigation: the session could not be read"),
        ], logged
    # the store is busy: the busy page does not ask it for the session again
    reads.clear()
    monkeypatch.setattr(Users, "load_session", failing(StoreBusy()))
    r = user.get("/")
    assert (r.status_code, r.headers["retry-after"]) == (503, "1")
    assert "<h1>The server is busy</h1>" in r.text and _NAV not in r.text
    assert len(reads) == 1  # the handler's alone
