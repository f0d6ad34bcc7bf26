"""The operator console: the operator's side of the exchange in a browser, under ``/operator``.

================================  =========  ===============================================
path                              verbs      what
================================  =========  ===============================================
/operator/login                   GET, POST  the operator credential for a session
/operator/logout                  POST       end the session
/operator                         GET        the users page
/operator/users                   GET        find accounts (e-mail or id)
/operator/users/{account}         GET        an account's balances; freeze, unfreeze (POST
                                             .../freeze, .../unfreeze)
/operator/brokers                 GET        broker applications; approve, reject, suspend,
                                             set the rebate rate (POST .../{id}/{verb})
/operator/listings                GET        assets and symbols; list or change (POST
                                             .../asset, .../symbol)
/operator/withdrawals             GET        the review queue; approve, reject (POST
                                             .../{id}/approve, .../{id}/reject)
/operator/ledger                  GET, POST  run the ledger check, show its result
/operator/health                  GET        engine queue, commits/s, stream connections
/operator/audit                   GET        the operator audit log
================================  =========  ===============================================

Every read and every action runs an operation of the registry through ``Invoke`` (the app
hands ``bourse.operations.invoke`` over: this layer cannot import it), so each is written to
``operator_audit`` as the ``bourse`` command's calls are, with actor ``operator (web)`` and the
browser's address. Sign-in is ``bourse.web.operator_session``. Without the operator session
every page sends the browser to the sign-in page and every form does nothing; a user's session
is no operator session. Every form carries the session's CSRF token and works without
JavaScript; refusals are sentences (``bourse.web.messages.say``); every response carries
``Server-Timing``.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bourse.domain.ids import whole_id
from bourse.services.throttle import FailureWindow, request_ip
from bourse.store.repositories.audit import AuditLog
from bourse.store.repositories.operator_sessions import OperatorSessionRepository
from bourse.web import console, messages, operator_pages, pages
from bourse.web.console import CSRF_REFUSED, Handler, redirect
from bourse.web.operator_health import Health, Samples
from bourse.web.operator_session import OperatorSession, OperatorSessions, cookie_name

#: ``(operation, params, source)``: the operation's result, audited; raises ``Refused``
Invoke = Callable[[str, dict[str, Any], str], Any]
ACTOR = "operator (web)"
LOGIN = "/operator/login"
WRONG_TOKEN = (
    "That is not the operator credential. It is the line in operator.token in the server's "
    "BOURSE_HOME (bourse serve prints where)."
)
THROTTLED = "Too many wrong operator credentials from your address; wait a minute and try again."


class Refused(Exception):
    """An operation refused; ``str(exc)`` says why in one line, ``status`` is its HTTP status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _field(form: FormData, name: str, size: int = 200) -> str:
    return str(form.get(name) or "").strip()[:size]


def _int(text: str, what: str) -> int:
    value = whole_id(text)
    if value is None:
        raise Refused(f"{what} must be a whole number, not {text!r}")
    return value


def _redirect_uri(form: FormData) -> dict[str, list[str]]:
    """An OAuth application's approval: the redirect URI the operator typed, if any (the
    callback URL it applied with is shown beside it, never registered unasked)."""
    uri = _field(form, "redirect_uri", 600)
    return {"redirect_uri": [uri]} if uri else {}


@dataclass(frozen=True, slots=True)
class Action:
    """A form: the operation it runs, its parameters from the URL and the form, the page to
    go back to (and to show a refusal on) and what to say when it worked."""

    operation: str
    params: Callable[[Mapping[str, str], FormData], dict[str, Any]]
    page: operator_pages.Builder
    back: str  # the page's path, formatted with the path parameters
    done: str


ACTIONS: dict[str, Action] = {
    "/operator/users/{account}/freeze": Action(
        "accounts.freeze", lambda p, f: {"account": int(p["account"])}, operator_pages.account,
        "/operator/users/{account}", "The account is frozen; its open orders were cancelled.",
    ),
    "/operator/users/{account}/unfreeze": Action(
        "accounts.unfreeze", lambda p, f: {"account": int(p["account"])},
        operator_pages.account, "/operator/users/{account}", "The account is unfrozen.",
    ),
    "/operator/brokers/{broker}/approve": Action(
        "brokers.approve",
        lambda p, f: {"broker": int(p["broker"]), **_redirect_uri(f)}, operator_pages.brokers,
        "/operator/brokers", "The broker is approved.",
    ),
    "/operator/brokers/{broker}/reject": Action(
        "brokers.reject", lambda p, f: {"broker": int(p["broker"]), "reason": _field(f, "reason")},
        operator_pages.brokers, "/operator/brokers", "The application is rejected.",
    ),
    "/operator/brokers/{broker}/suspend": Action(
        "brokers.suspend",
        lambda p, f: {"broker": int(p["broker"]), "reason": _field(f, "reason")},
        operator_pages.brokers, "/operator/brokers", "The broker is suspended.",
    ),
    "/operator/brokers/{broker}/rate": Action(
        "brokers.set-rate",
        lambda p, f: {"broker": int(p["broker"]), "rate": _field(f, "rate", 24) or "0%"},
        operator_pages.brokers, "/operator/brokers", "The rebate rate is set.",
    ),
    "/operator/listings/asset": Action(
        "listings.add-asset",
        lambda p, f: {"asset": _field(f, "asset", 16), "name": _field(f, "name", 64),
                      "scale": _int(_field(f, "scale", 4), "The scale")},
        operator_pages.listings, "/operator/listings", "The asset is listed.",
    ),
    "/operator/listings/symbol": Action(
        "listings.add-symbol",
        lambda p, f: {
            "base": _field(f, "base", 16), "quote": _field(f, "quote", 16),
            "price_scale": _int(_field(f, "price_scale", 4), "The price scale"),
            "qty_scale": _int(_field(f, "qty_scale", 4), "The quantity scale"),
            **{k: _field(f, k, 40) for k in ("min_qty", "max_qty", "min_notional",
                                                 "max_notional")},
            "trading": _field(f, "trading", 8) == "on",
        },
        operator_pages.listings, "/operator/listings", "The symbol is listed.",
    ),
    "/operator/withdrawals/{withdrawal}/approve": Action(
        "withdrawals.approve", lambda p, f: {"withdrawal": int(p["withdrawal"])},
        operator_pages.withdrawals, "/operator/withdrawals",
        "The withdrawal is approved; it goes to the chain.",
    ),
    "/operator/withdrawals/{withdrawal}/reject": Action(
        "withdrawals.reject", lambda p, f: {"withdrawal": int(p["withdrawal"])},
        operator_pages.withdrawals, "/operator/withdrawals",
        "The withdrawal is rejected; its funds are back in the account.",
    ),
}  # fmt: skip

PAGES: dict[str, operator_pages.Builder] = {
    "/operator": operator_pages.users,
    "/operator/users": operator_pages.users,
    "/operator/users/{account:int}": operator_pages.account,
    "/operator/brokers": operator_pages.brokers,
    "/operator/listings": operator_pages.listings,
    "/operator/withdrawals": operator_pages.withdrawals,
    "/operator/ledger": operator_pages.ledger,
    "/operator/audit": operator_pages.audit,
}


class OperatorConsole:
    def __init__(
        self,
        invoke: Invoke,
        token: str,
        audit: AuditLog,
        *,
        secure: bool,
        throttle: FailureWindow | None = None,
        samples: Samples | None = None,
        trust_forwarded: bool = False,
    ) -> None:
        self.invoke = invoke
        self.trust_forwarded = trust_forwarded
        self.expected = token.encode()
        self.audit = audit
        self.secure = secure
        self.throttle = throttle or FailureWindow()
        self.sessions = OperatorSessions(OperatorSessionRepository(audit.db))
        self.health_view = Health(samples) if samples is not None else None

    def _source(self, request: Request) -> str:
        """The client's address, as the operator API takes it (``request_ip``)."""
        return request_ip(request, self.trust_forwarded) or "unknown"

    def _render(
        self, name: str, session: OperatorSession | None, status: int = 200, **ctx: Any
    ) -> Response:
        return pages.render(name, status, scripts=True, csrf=session.csrf if session else "", **ctx)

    def _refused_csrf(self, session: OperatorSession | None) -> Response:
        return self._render(
            "operator_error.html", session, 403,
            title="This request could not be verified", message=CSRF_REFUSED,
        )  # fmt: skip

    def _record(self, source: str, operation: str, outcome: str, detail: str) -> None:
        self.audit.record(
            time=int(time.time() * 1000), actor=ACTOR if outcome == "ok" else "unauthenticated",
            source=source, operation=operation, params={}, outcome=outcome, detail=detail,
        )  # fmt: skip

    # --- sign-in -------------------------------------------------------------------------------
    def _login_page(self, request: Request, status: int = 200, error: str = "") -> Response:
        token, fresh = pages.pre_session_csrf(request, self.secure)
        resp = pages.render(
            "operator_login.html", status, title="Operator sign-in", login_csrf=token, error=error
        )
        if fresh:
            pages.set_pre_session_cookie(resp, token, self.secure)
        return resp

    async def login(self, request: Request) -> Response:
        if request.method == "GET":
            if await run_in_threadpool(self.sessions.of, request, self.secure) is not None:
                return redirect("/operator")
            return self._login_page(request)
        form = await request.form()
        source = self._source(request)
        _, csrf_cookie = pages.cookie_names(self.secure)
        if not pages.check_csrf(request.cookies.get(csrf_cookie), _field(form, "csrf_token")):
            return self._login_page(request, 403, "The form expired; please try again.")
        given = str(form.get("token") or "").strip().encode()
        # the credential first (constant time): the throttle answers only a wrong one, with no
        # await between its check and its count (concurrent wrong attempts counted one by one
        # on the event loop, as the operator API's are)
        if not hmac.compare_digest(given, self.expected):
            if self.throttle.blocked(source):
                resp = self._login_page(request, 429, THROTTLED)
                resp.headers["Retry-After"] = str(int(self.throttle.window_s))
                return resp
            self.throttle.failed(source)
            await run_in_threadpool(
                self._record, source, "operator.login", "refused",
                "wrong or missing operator credential (web console)",
            )  # fmt: skip
            return self._login_page(request, 401, WRONG_TOKEN)
        sid, _ = await run_in_threadpool(self.sessions.create)
        await run_in_threadpool(self._record, source, "operator.login", "ok", "web console")
        resp = redirect("/operator")
        self.sessions.set_cookie(resp, sid, self.secure)
        return resp

    async def _posted(self, request: Request) -> tuple[OperatorSession, FormData]:
        """The session and the form of a POST. Without a session the request goes to the
        sign-in page, without the session's CSRF token it is refused: raised as
        ``pages.Answered``, which ``timed`` sends."""
        session = await run_in_threadpool(self.sessions.of, request, self.secure)
        form = await request.form()
        if session is None:
            raise pages.Answered(redirect(LOGIN))
        if not pages.check_csrf(session.csrf, _field(form, "csrf_token")):
            raise pages.Answered(self._refused_csrf(session))
        return session, form

    async def logout(self, request: Request) -> Response:
        await self._posted(request)
        await run_in_threadpool(self.sessions.revoke, request.cookies.get(cookie_name(self.secure)))
        await run_in_threadpool(
            self._record, self._source(request), "operator.logout", "ok", "web console"
        )
        resp = redirect(LOGIN)
        self.sessions.clear_cookie(resp, self.secure)
        return resp

    # --- pages and actions ---------------------------------------------------------------------
    def _runner(self, request: Request) -> operator_pages.Run:
        source = self._source(request)
        return lambda name, params: self.invoke(name, params, source)

    async def _show(
        self,
        request: Request,
        session: OperatorSession,
        build: operator_pages.Builder,
        status: int = 200,
        **ctx: Any,
    ) -> Response:
        path = {k: str(v) for k, v in request.path_params.items()}
        query = dict(request.query_params)
        try:
            name, data = await run_in_threadpool(build, self._runner(request), path, query)
        except Refused as exc:
            return self._render(
                "operator_error.html", session, exc.status if exc.status >= 400 else 400,
                title="That did not work", message=messages.say(exc),
            )  # fmt: skip
        return self._render(name, session, status, **data, **ctx)

    def page(self, build: operator_pages.Builder) -> Callable[[Request], Any]:
        async def handle(request: Request) -> Response:
            session = await run_in_threadpool(self.sessions.of, request, self.secure)
            if session is None:
                return redirect(LOGIN)
            done = request.query_params.get("done", "")
            return await self._show(request, session, build, done=DONE.get(done, ""))

        return handle

    def action(self, act: Action) -> Callable[[Request], Any]:
        async def handle(request: Request) -> Response:
            session, form = await self._posted(request)
            path = {k: str(v) for k, v in request.path_params.items()}
            try:
                params = act.params(path, form)
                await run_in_threadpool(self._runner(request), act.operation, params)
            except Refused as exc:
                status = exc.status if exc.status >= 400 else 400
                return await self._show(request, session, act.page, status, error=messages.say(exc))
            return redirect(act.back.format(**path) + "?done=" + act.operation)

        return handle

    async def ledger_check(self, request: Request) -> Response:
        session, _ = await self._posted(request)
        try:
            result = await run_in_threadpool(self._runner(request), "ledger.check", {})
        except Refused as exc:
            return self._render(
                "operator_ledger.html", session, 500, title="Ledger check", result=None,
                error=messages.say(exc),
            )  # fmt: skip
        return self._render("operator_ledger.html", session, title="Ledger check", result=result)

    async def health(self, request: Request) -> Response:
        session = await run_in_threadpool(self.sessions.of, request, self.secure)
        if session is None:
            return redirect(LOGIN)
        view = self.health_view
        figures = await run_in_threadpool(view.figures) if view is not None else None
        name = "_operator_health.html" if request.headers.get("hx-request") else None
        return self._render(name or "operator_health.html", session, title="Health", health=figures)


#: ?done=<action> -> what the page says
DONE: dict[str, str] = {a.operation: a.done for a in ACTIONS.values()}


def routes(
    invoke: Invoke,
    token: str,
    audit: AuditLog,
    *,
    secure: bool,
    throttle: FailureWindow | None = None,
    samples: Samples | None = None,
    trust_forwarded: bool = False,
) -> list[BaseRoute]:
    """The operator console's routes, guarded by the operator credential ``token``."""
    c = OperatorConsole(
        invoke,
        token,
        audit,
        secure=secure,
        throttle=throttle,
        samples=samples,
        trust_forwarded=trust_forwarded,
    )

    async def session(request: Request) -> OperatorSession | None:
        return await run_in_threadpool(c.sessions.of, request, secure)

    async def nav(request: Request) -> dict[str, Any]:
        """The operator's navigation (``operator_base.html``: its sign-out form's token)."""
        signed_in = await session(request)
        return {"csrf": signed_in.csrf} if signed_in else {}

    def timed(handler: Handler, signed: bool = True) -> Handler:
        """An unreadable form or a failure gets the operator's error page, with the operator's
        navigation when signed in; every page but the sign-in page needs the session (a
        visitor without one is sent to sign in, whatever it sent)."""
        return console.timed(
            handler,
            error_page="operator_error.html",
            session=session if signed else None,
            nav=nav,
        )

    out: list[BaseRoute] = [
        Route(LOGIN, timed(c.login, signed=False), methods=["GET", "POST"]),
        Route("/operator/logout", timed(c.logout), methods=["POST"]),
        Route("/operator/ledger", timed(c.ledger_check), methods=["POST"]),
        Route("/operator/health", timed(c.health), methods=["GET"]),
    ]
    out += [Route(p, timed(c.page(b)), methods=["GET"]) for p, b in PAGES.items()]
    out += [
        Route(p.replace("}", ":int}"), timed(c.action(a)), methods=["POST"])
        for p, a in ACTIONS.items()
    ]
    return out
