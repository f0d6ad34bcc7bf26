"""Every form and address the app serves refuses text that cannot be stored as sent, before
anything happens, on SQLite and PostgreSQL alike: a NUL character (PostgreSQL text cannot hold
one: it was a 500 there), a lone surrogate (a multipart form declaring ``charset=utf-7``: a 500
on both backends), bytes that are not UTF-8. A page answers 400 with ``messages.UNREADABLE``
and echoes nothing it was sent (the trade page's listen-key endpoint as JSON); the OAuth token
endpoints answer ``invalid_request``. A page that needs a session answers a logged-out visitor
as it answers any (the log-in redirect), whatever it sent, and the redirect carries none of it
back.

The operator API refuses an operation name holding a NUL before auditing it (the audit row
could not hold it on PostgreSQL: it was a 500, for anyone).

The POST routes come from the app's router and their fields from the forms its pages show to
each role (a user, three kinds of broker, the operator, nobody), so a new form, or a new
route, is covered without being listed here.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any, NoReturn
from urllib.parse import quote, urlencode, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from starlette.routing import Route

from bourse.api.mexc.routes import EndpointApp
from bourse.services.users import Users
from bourse.web.messages import UNREADABLE
from tests.web.operator_server import PASSWORD, Operated, csrf

NUL = "\x00"
SUB = "nulsub0001"
CALLBACK = "https://app.example.com/callback"
#: POST routes no page of the set-up shows a form for (the state they need is not made here);
#: they still get each fallback field with a NUL
WITHOUT_A_PAGE = {
    "/oauth/token",  # the OAuth machine endpoints: an app posts to them, no page does
    "/oauth/revoke",
    "/oauth/introspect",
    "/trade/{symbol}/stream-key",  # the trade page's script asks for a listen key
    "/account/withdraw/cancel",  # a withdrawal waiting
    "/broker/subaccounts/{name}/keys/delete",  # a sub-account's key
    "/operator/withdrawals/{withdrawal:int}/approve",  # a withdrawal under review
    "/operator/withdrawals/{withdrawal:int}/reject",
}
#: the routes that need no session (any other sends a visitor without one to log in)
PUBLIC = {
    "/", "/markets", "/docs", "/docs/{name}", "/trade/{symbol}", "/trade/{symbol}/book",
    "/signup", "/login", "/oauth/authorize", "/oauth/token", "/oauth/revoke", "/oauth/introspect", "/subaccount/once",
    "/operator/login",
}  # fmt: skip
#: the fields a POST without a page gets, one at a time with a NUL (besides its CSRF token)
FALLBACK_FIELDS = ("client_id", "client_secret", "code", "token", "name", "amount")


@dataclass
class Form:
    role: str
    action: str  # path, and the query string the form carries
    fields: list[tuple[str, str]]


class _Forms(HTMLParser):
    """The POST forms of a page: action and named fields with the values the page gives."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.page = page
        self.forms: list[tuple[str, list[tuple[str, str]]]] = []
        self._open: list[tuple[str, str]] | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("method", "").lower() == "post":
            self._open = []
            self.forms.append((a.get("action") or self.page, self._open))
        elif self._open is None:
            return
        elif tag in ("input", "textarea") and a.get("name"):
            taken = any(k == a["name"] for k, _ in self._open)
            if a.get("type") != "radio" or "checked" in a or not taken:
                self._open.append((a["name"], a.get("value", "")))
        elif tag == "button" and a.get("name") and all(k != a["name"] for k, _ in self._open):
            self._open.append((a["name"], a.get("value", "")))  # the first button is pressed
        elif tag == "select" and a.get("name"):
            self._select = a["name"]
        elif tag == "option" and self._select is not None:
            self._open.append((self._select, a.get("value", "")))
            self._select = None  # the first option stands for the select

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = None
        elif tag == "select":
            self._select = None


def _fill(path: str, values: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        name = m.group(1).split(":")[0]
        assert name in values, f"give the path parameter {name!r} a value in World.values"
        return values[name]

    return re.sub(r"\{([^}]+)\}", one, path)


def _routes(o: Operated) -> list[Route]:
    """The app's routes but the APIs' (the MEXC API refuses in ``bourse.api.mexc.params``;
    the operator API takes JSON under its credential)."""
    return [
        r
        for r in o.app.router.routes
        if isinstance(r, Route)
        and not isinstance(r.endpoint, EndpointApp)
        and not r.path.startswith("/admin/")
    ]


def _route_of(routes: list[Route], path: str) -> Route:
    hits = [r for r in routes if "POST" in (r.methods or ()) and r.path_regex.match(path)]
    assert hits, f"a page posts to {path}, which no route takes"
    return hits[0]


def _broker(o: Operated, kind: str, **extra: str) -> tuple[httpx.Client, int]:
    http, _ = o.user()
    form = {"csrf_token": csrf(http.get("/broker").text), "broker_type": kind,
            "name": f"{kind} nul broker", **extra}  # fmt: skip
    assert http.post("/broker/apply", data=form).status_code == 303
    m = re.search(r"<code>(\d+)</code>", http.get("/broker").text)
    assert m
    o.platform.brokers.registry.approve(int(m.group(1)))
    return http, int(m.group(1))


def _post(http: httpx.Client, url: str, form: dict[str, str], **kw: Any) -> httpx.Response:
    r = http.post(url, data=form, **kw)
    alert = re.search(r'role="alert">([^<]*)<', r.text)
    assert r.status_code == 303, f"{url}: {r.status_code} {alert and alert.group(1)}"
    return r


@dataclass
class World:
    clients: dict[str, httpx.Client]
    values: dict[str, str]  # a value of each path parameter
    extra_pages: dict[str, list[str]]  # pages no GET route without a query string shows


def _world(o: Operated) -> World:
    """A user with a key bound to an API broker and an authorised OAuth app, an independent
    broker with a sub-account, an OAuth broker with its app, a pending broker, the operator."""
    user, account = o.user()
    page = user.get("/account/keys").text
    keys = []
    for label in ("bound", "free"):  # a key bound to a broker, and one to bind
        r = user.post("/account/keys", data={"csrf_token": csrf(page), "label": label,
                                             "permissions": ["SPOT_DEAL_READ"]})  # fmt: skip
        key = re.search(r'id="new-key">([^<]+)<', r.text)
        assert r.status_code == 201 and key, r.text
        keys.append(key.group(1))
    _post(user, "/account/faucet", {"csrf_token": csrf(page), "asset": "USDT", "amount": "100",
                                    "request_id": "nul"})  # fmt: skip
    order = {"csrf_token": csrf(page), "request_id": "nul", "side": "BUY", "type": "LIMIT",
             "price": "1000", "quantity": "0.01"}  # fmt: skip
    _post(user, "/trade/BTCUSDT/order", order)  # an open order to cancel
    api, api_id = _broker(o, "API")
    _post(user, "/account/keys/bind", {"csrf_token": csrf(page), "api_key": keys[0],
                                       "broker_id": str(api_id), "confirmed": "1"})  # fmt: skip
    independent, _ = _broker(o, "INDEPENDENT")
    page = independent.get("/broker/subaccounts").text
    _post(independent, "/broker/subaccounts", {"csrf_token": csrf(page), "name": SUB,
                                               "note": "nul"})  # fmt: skip
    oauth, _ = _broker(o, "OAUTH", callback_url=CALLBACK)
    r = oauth.post("/broker/app/register", data={
        "csrf_token": csrf(oauth.get("/broker/app").text), "name": "Nul app",
        "redirect_uri": CALLBACK, "scopes": ["read"], "password": PASSWORD})  # fmt: skip
    client_id = re.search(r'id="client-id">([^<]+)<', r.text)
    assert r.status_code == 201 and client_id, r.text
    challenge = base64.urlsafe_b64encode(hashlib.sha256(b"verifier" * 6).digest()).decode()
    authorize = "/oauth/authorize?" + urlencode({
        "response_type": "code", "client_id": client_id.group(1), "redirect_uri": CALLBACK,
        "scope": "read", "state": "s", "code_challenge": challenge.rstrip("="),
        "code_challenge_method": "S256"})  # fmt: skip
    parser = _Forms(authorize)
    parser.feed(user.get(authorize).text)
    (_, fields), *_ = (f for f in parser.forms if f[0] == "/oauth/authorize")
    consent = [*((k, v) for k, v in fields if k != "decision"), ("decision", "approve")]
    r = user.post("/oauth/authorize", data=dict(consent))
    assert r.status_code == 303 and r.headers["location"].startswith(CALLBACK), r.text
    _, applicant = o.user()
    pending = o.platform.brokers.registry.apply(applicant, "API", "Nul pending broker").id
    operator = o.operator()
    frozen = f"/operator/users/{applicant}"  # a frozen account, to unfreeze
    _post(operator, frozen + "/freeze", {"csrf_token": csrf(operator.get(frozen).text)})
    return World(
        clients={
            "nobody": o.client(),
            "user": user,
            "api": api,
            "independent": independent,
            "oauth": oauth,
            "operator": operator,
        },
        values={
            "symbol": "BTCUSDT",
            "name": SUB,
            "account": str(account),
            "broker": str(pending),
            "withdrawal": "1",
        },
        extra_pages={"user": [authorize], "operator": [frozen]},
    )


def _crawl(world: World, routes: list[Route]) -> tuple[list[Form], set[str]]:
    """Every POST form the pages show to each role, once per (role, route, fields), and the
    GET routes that answer with a page."""
    gets = {_fill(r.path, world.values): r.path for r in routes if "GET" in (r.methods or ())}
    seen: set[tuple[str, str, tuple[str, ...]]] = set()
    out: list[Form] = []
    pages: set[str] = set()
    for role, http in world.clients.items():
        for page in [*gets, *world.extra_pages.get(role, [])]:
            r = http.get(page)
            assert r.status_code < 500, f"GET {page} as {role}: {r.status_code}"
            if "html" not in r.headers.get("content-type", ""):
                continue
            if page in gets:
                pages.add(gets[page])
            parser = _Forms(page)
            parser.feed(r.text)
            for action, fields in parser.forms:
                url = urlsplit(action)
                target = url.path + (f"?{url.query}" if url.query else "")
                key = (role, _route_of(routes, url.path).path, tuple(k for k, _ in fields))
                if key not in seen:
                    seen.add(key)
                    out.append(Form(role, target, fields))
    return out, pages


def _signed_out(role: str, route: str) -> bool:
    """Whether ``role`` has no session on ``route``, which needs one (the operator's session
    is the operator console's, a user's the rest)."""
    operator = route.split("/")[1] == "operator"
    return route not in PUBLIC and (role == "nobody" or (role == "operator") != operator)


def _refused(r: httpx.Response, where: str, signed_out: httpx.Response | None = None) -> None:
    """``r`` is the 400 page; or, sent by a visitor without the session its page needs, the
    answer the same visitor gets for the request without the unreadable text."""
    assert NUL not in r.text and "\ufffd" not in r.text, f"{where}: echoed"
    if signed_out is not None:
        assert signed_out.status_code in (303, 401), f"{where}: {signed_out.status_code}"
        got = (r.status_code, r.headers.get("location"), r.text)
        assert got == (signed_out.status_code, signed_out.headers.get("location"),
                       signed_out.text), f"{where}: {got}"  # fmt: skip
        return
    assert r.status_code == 400, f"{where}: {r.status_code} {r.text[:300]}"
    if r.headers["content-type"].startswith("application/json"):  # OAuth's, or a script's
        refusal = r.json().get("error") == "invalid_request" or r.json() == {
            "code": 400, "msg": UNREADABLE}  # fmt: skip
        assert refusal, f"{where}: {r.text}"
    else:
        assert UNREADABLE in r.text, f"{where}: {r.text[:300]}"


def _multipart(fields: list[tuple[str, bytes]]) -> tuple[bytes, dict[str, str]]:
    """``fields`` as a multipart form declaring charset UTF-7 (which decodes ``+2AA-`` to
    the lone surrogate U+D800)."""
    parts = [
        b'--b0\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (k.encode(), v)
        for k, v in fields
    ]
    return b"".join(parts) + b"--b0--\r\n", {
        "content-type": "multipart/form-data; charset=utf-7; boundary=b0"
    }


def _attempts(form: Form) -> Iterator[tuple[str, dict[str, Any]]]:
    """(what, ``httpx`` arguments) of every unreadable version of ``form``."""
    fields = form.fields
    for i, (name, _) in enumerate(fields):
        sent = [(k, v + NUL if j == i else v) for j, (k, v) in enumerate(fields)]
        yield f"NUL in {name}", {"content": urlencode(sent).encode(), "headers": FORM}
    yield "NUL in a name", {"content": urlencode([*fields, ("x" + NUL, "1")]), "headers": FORM}
    raw = urlencode(fields) + "&x=%FF%FE"
    yield "bytes not UTF-8", {"content": raw.encode(), "headers": FORM}
    yield "NUL in the query", {"content": urlencode(fields).encode(), "headers": FORM,
                               "params": {"x": NUL}}  # fmt: skip
    for i, (name, _) in enumerate(fields):
        if name != "csrf_token":
            body, headers = _multipart(
                [(k, b"+2AA-" if j == i else v.encode()) for j, (k, v) in enumerate(fields)]
            )
            yield f"lone surrogate in {name}", {"content": body, "headers": headers}
            break


FORM = {"content-type": "application/x-www-form-urlencoded"}


def _snapshot(o: Operated) -> dict[str, list[str]]:
    """Every row of every table, as text, but a session's idle clock (``last_seen``: a signed-in
    visitor's request restarts it, readable or not, when its page looks the session up)."""
    meta = sa.MetaData()
    with o.platform.db.connect() as conn:
        meta.reflect(conn)
        return {
            name: sorted(
                repr(tuple(row))
                for row in conn.execute(sa.select(*(c for c in table.c if c.name != "last_seen")))
            )
            for name, table in meta.tables.items()
        }


def test_no_form_or_address_takes_text_it_cannot_store(operated: Operated) -> None:
    o = operated
    routes = _routes(o)
    world = _world(o)
    forms, pages = _crawl(world, routes)
    posts = {r.path for r in routes if "POST" in (r.methods or ())}
    found = {_route_of(routes, urlsplit(f.action).path).path for f in forms}
    assert posts - found == WITHOUT_A_PAGE - found, sorted(posts - found)
    assert not (found & WITHOUT_A_PAGE), "a page shows this form now: drop it from the list"
    tokens = {f.role: v for f in reversed(forms) for k, v in f.fields if k == "csrf_token"}
    for path in sorted(WITHOUT_A_PAGE):
        for role in world.clients:
            fields = [("csrf_token", tokens.get(role, "")), *((k, "1") for k in FALLBACK_FIELDS)]
            forms.append(Form(role, _fill(path, world.values), fields))

    before = _snapshot(o)
    for form in forms:
        http = world.clients[form.role]
        plain = None
        if _signed_out(form.role, _route_of(routes, urlsplit(form.action).path).path):
            plain = http.post(form.action, content=urlencode(form.fields).encode(), headers=FORM)
        for what, kw in _attempts(form):
            r = http.post(form.action, **kw)
            _refused(r, f"{form.role} POST {form.action}: {what}", plain)
    http = world.clients["user"]
    for route in routes:
        if route.path not in pages:
            continue
        path = _fill(route.path, world.values)
        plain = http.get(path) if _signed_out("user", route.path) else None
        _refused(http.get(path, params={"q": NUL}), f"GET {path}?q=NUL", plain)
        _refused(http.get(path + "?q=%ED%A0%80"), f"GET {path}?q=surrogate", plain)
        if "{" in route.path and ":int}" not in route.path:
            nul = _fill(route.path, {k: quote(v + NUL) for k, v in world.values.items()})
            _refused(http.get(nul), f"GET {nul}")
    assert _snapshot(o) == before
    # the same people still get their pages
    assert world.clients["user"].get("/account/keys").status_code == 200
    assert world.clients["operator"].get("/operator/users").status_code == 200


def test_http_basic_credentials_not_utf8_are_refused(operated: Operated) -> None:
    http = operated.client()
    for raw in (b"app" + NUL.encode() + b":secret", b"\xff\xfe:secret", b"\xed\xa0\x80:x"):
        auth = {"authorization": "Basic " + base64.b64encode(raw).decode()}
        for path in ("/oauth/token", "/oauth/revoke", "/oauth/introspect"):
            r = http.post(path, data={"grant_type": "refresh_token", "token": "t"}, headers=auth)
            _refused(r, f"{path} {raw!r}")


def test_the_operator_api_refuses_a_name_no_audit_row_can_hold(operated: Operated) -> None:
    http = operated.client()
    before = _snapshot(operated)["operator_audit"]
    for auth in ({}, {"authorization": f"Bearer {operated.token}"}):
        for path in ("/admin/v1/accounts%00/list", "/admin/v1/accounts/li%00st"):
            r = http.post(path, json={}, headers=auth)
            assert r.status_code == 404 and r.json()["msg"] == "no such operation", r.text
    assert _snapshot(operated)["operator_audit"] == before


def test_a_logged_out_visitor_is_sent_to_log_in_whatever_it_sent(operated: Operated) -> None:
    """A page that needs a session sends a visitor without one to log in, unreadable text or
    not (it was a 400 page for that visitor alone); the log-in address never carries the text
    back, not even one that comes from the path. Public pages still refuse it."""
    nobody = operated.client()
    nobody.cookies.set("bourse_session", "ended-or-forged")  # a cookie is not a session
    surrogate, headers = _multipart([("csrf_token", b"x"), ("asset", b"+2AA-")])
    for method, path, kw, location in [
        ("GET", "/account", {"params": {"q": NUL}}, "/login?next=/account"),
        ("GET", "/account/keys?done=%ED%A0%80", {}, "/login?next=/account/keys"),
        ("GET", "/broker/subaccounts/a%00b", {}, "/login"),  # the next would hold the NUL
        ("POST", "/account/keys", {"data": {"label": NUL}}, "/login?next=/account/keys"),
        ("POST", "/account/faucet", {"content": surrogate, "headers": headers},
         "/login?next=/account"),
        ("POST", "/trade/BTCUSDT/order?x=%FF", {}, "/login?next=/trade/BTCUSDT"),
        ("POST", "/trade/BTC%00USDT/order", {"data": {"side": "BUY"}}, "/login"),
        ("POST", "/logout", {"data": {"csrf_token": NUL}}, "/login"),
        ("GET", "/operator/users", {"params": {"q": NUL}}, "/operator/login"),
        ("POST", "/operator/ledger", {"data": {"csrf_token": NUL}}, "/operator/login"),
    ]:  # fmt: skip
        r = nobody.request(method, path, **kw)
        assert (r.status_code, r.headers.get("location")) == (303, location), (path, r.text)
    # the same answer as without the unreadable text (the NUL's path aside)
    plain = nobody.post("/trade/BTCUSDT/order", data={"side": "BUY"})
    assert plain.headers["location"] == "/login?next=/trade/BTCUSDT"
    r = nobody.post("/trade/BTC%00USDT/stream-key", data={"csrf_token": NUL})
    assert r.status_code == 401 and r.json() == {"code": 401, "msg": "Log in first."}
    assert nobody.get("/trade/BTCUSDT/mine?q=%00").status_code == 401
    # a user is logged out of the operator console, and the operator of the user's pages
    user, _ = operated.user()
    r = user.get("/operator/users", params={"q": NUL})
    assert (r.status_code, r.headers["location"]) == (303, "/operator/login")
    r = operated.operator().get("/account/keys", params={"q": NUL})
    assert (r.status_code, r.headers["location"]) == (303, "/login?next=/account/keys")
    # public pages, and pages of a visitor with the session, refuse it
    public = ("/login?next=/account%00", "/signup?q=%00", "/?q=%00", "/trade/BTCUSDT?q=%00",
              "/oauth/authorize?client_id=%00", "/operator/login?q=%00", "/markets?q=%00")  # fmt: skip
    for path in public:
        _refused(nobody.get(path), path)
    _refused(nobody.post("/login", data={"email": NUL, "password": "x"}), "POST /login")
    _refused(user.get("/account/keys", params={"q": NUL}), "a user's own page")


#: the console's signed-in navigation and its log-out form, and the operator's (the base pages)
_NAV = ('<a href="/account">Dashboard</a>', '<form method="post" action="/logout" class="inline">')
_OPERATOR_NAV = ('<a href="/operator/users">Users</a>',
                 '<form method="post" action="/operator/logout" class="inline">')  # fmt: skip


def test_the_400_page_of_a_signed_in_visitor_has_the_navigation(
    operated: Operated, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 400 page keeps a signed-in visitor's navigation, as the error page does (the
    operator's, the operator's); a visitor without a session gets none, and a session that
    cannot be read leaves the page without it, never failing it."""
    user, _ = operated.user()
    operator = operated.operator()
    for http, path, nav in [
        (user, "/account/keys?q=%00", _NAV),  # a page that needs the session
        (user, "/markets?q=%00", _NAV),  # a public page
        (operator, "/operator/users?q=%00", _OPERATOR_NAV),
    ]:
        r = http.get(path)
        _refused(r, path)
        assert all(part in r.text for part in nav), (path, r.text)
    r = user.post("/account/keys", data={"csrf_token": csrf(user.get("/account/keys").text),
                                         "label": NUL})  # fmt: skip
    _refused(r, "POST /account/keys")
    assert all(part in r.text for part in _NAV), r.text
    r = operated.client().get("/markets?q=%00")
    _refused(r, "anonymous")
    assert _NAV[0] not in r.text and 'action="/logout"' not in r.text

    def down(*_: Any, **__: Any) -> NoReturn:
        raise RuntimeError("the database is down")

    monkeypatch.setattr(Users, "load_session", down)
    r = user.get("/markets?q=%00")
    _refused(r, "session unreadable")
    assert "the database is down" not in r.text and 'action="/logout"' not in r.text
