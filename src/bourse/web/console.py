"""The web console: the public home page, and a logged-in user's dashboard and API keys.

=========================  =========  ==================================================
path                       verbs      what
=========================  =========  ==================================================
/                          GET        what Bourse is, the market overview, links
/markets                   GET        the overview table alone (htmx refreshes it); typed
                                      in the address bar, a redirect to ``/``
/docs                      GET        where the API, its reference and the guides are
/docs/{name}               GET        a guide of ``docs/``, rendered (``bourse.web.guides``)
/account                   GET        dashboard: balances free/locked, total in USDT
/account/faucet            POST       demo mode: credit test funds (the sandbox faucet)
/account/keys              GET, POST  the user's API keys; create one (secret shown once; one
                                      that can withdraw asks for the password and 2FA code)
/account/keys/delete       POST       delete a key (its binding closes), after a confirmation
                                      step
/account/keys/renew        POST       extend a key's expiry, or give it a new secret (shown
                                      once); either asks for the password and 2FA code
/account/keys/bind         POST       bind a key to an approved broker (once, ever), after a
                                      confirmation step that says it cannot be undone
/account/keys/release      POST       release a key from its broker
=========================  =========  ==================================================

The money pages (deposit, withdraw, transfers) are in ``bourse.web.wallet``, the security page
in ``bourse.web.security``, the trade pages in ``bourse.web.trade``; they build on ``Console``.
A fragment fetched in place is served by ``bourse.web.fragments`` (a navigation goes to its page).

Pages call the services the API calls (``Services``), never SQL. Every form carries the
session's CSRF token and works without JavaScript; htmx (vendored, ``/static/htmx.min.js``)
only refreshes the market table in place. Refusals are shown in sentences
(``bourse.web.messages``). Every response says how long the server took to build it in a
``Server-Timing: render;dur=<ms>`` header (the console's render budget is 100 ms).

A stolen session must not be enough to move money off the account: the forms that hand out
that power ask the step-up a withdrawal asks (``_confirm``: the log-in password, and a current
2FA code when 2FA is on, throttled as log-in): a key that can withdraw (``SPOT_WITHDRAW_WRITE``
also sends transfers to other users), and a key's renewal or new secret (a secret shown once,
or a longer life for a key that may already be in other hands); an OAuth broker's new app, app
secret and redirect URI too (``bourse.web.broker_oauth``). A refusal says what happened
(``refusal``): nothing typed, or wrong (with 2FA on, not which of the two, as log-in).

An action that cannot be taken back (binding a key, deleting one; revoking an app in
``bourse.web.routes``) asks once more: the first POST is checked and answered with a page
that says what will happen (``confirm.html``), whose form sends the same fields with
``confirmed=1``; only that second POST acts. It needs no JavaScript (the pages' CSP forbids
inline code, and a ``confirm()`` dialog is easy to click through).

The faucet is a sandbox service, which production code does not import: the app hands a
``Faucet`` callable in demo mode (``bourse.app``), and without one the button is not shown.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial, wraps
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bourse.domain.brokers import BrokerStatus, KeyNotBound, NotKeyOwner
from bourse.domain.errors import DomainError
from bourse.domain.ids import whole_id
from bourse.domain.wallet import Withdrawal
from bourse.engine.clock import now_ms
from bourse.services import users as us
from bourse.services.apikeys import PERMISSIONS, ip_whitelist_of
from bourse.services.brokers.keys import renew_key
from bourse.services.bundle import Services
from bourse.services.throttle import Throttled, request_ip
from bourse.web import errors, figures, guides, messages, pages, readable
from bourse.web.fragments import hosted_by

#: ``(account, asset, amount, request_id)``: credit test funds; raises ``FaucetRefused``
Faucet = Callable[[int, str, str, str], None]

#: the permissions the key form offers, with what each lets a key do
OFFERED_PERMISSIONS = (
    ("SPOT_ACCOUNT_READ", "Read balances"),
    ("SPOT_DEAL_READ", "Read orders and trades"),
    ("SPOT_DEAL_WRITE", "Place and cancel orders"),
    ("SPOT_TRANSFER_WRITE", "Transfer between accounts"),
    ("SPOT_WITHDRAW_WRITE", "Withdraw (such a key cannot be bound to a broker)"),
)
assert {p for p, _ in OFFERED_PERMISSIONS} <= set(PERMISSIONS)
#: the permission that lets a key move money off the account (withdrawals, and transfers to
#: other users): a key holding it is created only after the step-up
MONEY_PERMISSION = "SPOT_WITHDRAW_WRITE"
DEFAULT_CHECKED = frozenset({"SPOT_ACCOUNT_READ", "SPOT_DEAL_READ", "SPOT_DEAL_WRITE"})
MAX_SYMBOLS_PER_KEY = 30
CSRF_REFUSED = "The form was not sent from this page, or it expired. Nothing was changed."
#: why the key forms ask for the step-up, said when they refuse (``{them}``: see ``refusal``)
KEY_WHY = "a key that can withdraw, a renewal and a new secret ask for {them}, as a withdrawal does"

Handler = Callable[[Request], Awaitable[Response]]
#: the template context of a page's navigation for the request's session (``pages.nav``)
Nav = Callable[[Request], Awaitable[Mapping[str, Any]]]


@dataclass(frozen=True, slots=True)
class Confirmation:
    """The confirmation step of an action that cannot be taken back (``confirm.html``): what
    will happen (``said``, and a ``warning`` in bold), and the form that does it: ``fields``
    POSTed to ``action`` with ``confirmed=1``; ``back`` is where "Cancel" goes."""

    title: str
    said: list[str]
    action: str
    fields: dict[str, str]
    button: str
    back: str
    warning: str = ""
    danger: bool = False


class FaucetRefused(Exception):
    """The faucet refused a credit; ``str(exc)`` says why, for a person."""


@dataclass(frozen=True, slots=True)
class NotConfirmed:
    """Why ``Console._confirm`` refused: the status, what to say, and (throttled) when to retry."""

    status: int
    message: str
    retry_after: int = 0

    def headers(self, resp: Response) -> Response:
        if self.retry_after:
            resp.headers["Retry-After"] = str(self.retry_after)
        return resp


def timed(
    handler: Handler,
    error_page: str = "error.html",
    *,
    session: Callable[[Request], Awaitable[object | None]] | None = None,
    nav: Nav | None = None,
    json: bool = False,
) -> Handler:
    """Add ``Server-Timing: render;dur=<ms>``: the time the server spent on the response. A
    path, query string or form holding text that cannot be stored as sent (a NUL character,
    bytes that are not UTF-8) gets the 400 page in template ``error_page`` (the console's or
    the operator console's) before the handler runs (``readable.check``), and a helper that
    raised ``pages.Answered`` its response: every page is served through here.

    A page that needs a session passes ``session`` (it finds the request's). A logged-out
    visitor of such a page gets what every logged-out visitor gets, readable or not: the
    handler's answer before it reads anything (the log-in redirect), minus the unreadable text
    that answer would carry back (``readable.logged_out``). Only a signed-in visitor, or one
    of a public page, gets the 400 page, which echoes nothing, with the navigation ``nav``
    gives (as the error page below has it).

    An error goes to an htmx request as a fragment, and as JSON from an endpoint a script
    fetches (``json``), raised ones too; an exception the handler raised goes to a browser's
    navigation as ``error_page`` (``bourse.web.errors``), with the navigation ``nav`` gives
    for the request's session (``pages.nav``), as the site's other pages have it."""

    async def answer(request: Request) -> Response:
        try:
            return await handler(request)
        except pages.Answered as given:
            return given.response

    async def checked(request: Request) -> Response:
        try:
            await readable.check(request)
        except readable.Unreadable:
            if session is None or await session(request) is not None:
                shown = {} if nav is None else await errors.navigation(partial(nav, request))
                return readable.refused(error_page, shown)
            return readable.logged_out(await answer(request))
        return await answer(request)

    @wraps(handler)
    async def wrapper(request: Request) -> Response:
        start = time.perf_counter()
        part = errors.htmx(request)
        try:
            resp = await checked(request)
        except Exception as exc:
            page = None if json or part else error_page
            resp = await errors.failed(exc, page, None if nav is None else partial(nav, request))
        if json:
            resp = errors.json(resp)
        elif part:
            resp = errors.fragment(resp)
        resp.headers["Server-Timing"] = f"render;dur={(time.perf_counter() - start) * 1000:.3f}"
        return resp

    return wrapper


def redirect(url: str) -> Response:
    return pages.secure_headers(RedirectResponse(url, status_code=303))


def field(form: dict[str, Any], name: str, limit: int = 64) -> str:
    """A form's first value of ``name``, stripped and cut to ``limit`` characters."""
    return str((form.get(name) or [""])[0]).strip()[:limit]


def once_id(form: dict[str, Any], name: str = "request_id") -> str:
    """The one-time id a money form is drawn with: sent again (a double-click, a reload), the
    form applies once (the engine's client-id idempotency). A post made by hand without one
    gets a fresh id, so it applies once, as it was sent once; never a shared empty id."""
    return field(form, name, 32) or secrets.token_urlsafe(12)


#: the step-up's password as its forms label it ("Log-in password"), for ``missing``
LOG_IN_PASSWORD = "your log-in password"


def missing(totp: bool, password: str, code: str, asked: str = LOG_IN_PASSWORD) -> str:
    """What a step-up form lacks, for a person ("your log-in password", "a current 2FA code",
    both joined by "and"), or "" when it has what the account asks (a code with 2FA on).
    ``asked`` names the password as the form's field does ("Current password" on the
    change-password form), so the refusal asks for what the page shows."""
    lacks = [what for what, sent in ((asked, password),
                                     ("a current 2FA code", code or not totp)) if not sent]  # fmt: skip
    return " and ".join(lacks)


def refusal(totp: bool, lacking: str = "", why: str = "") -> str:
    """What a refused step-up says. ``lacking`` (``missing``): ask for it, as nothing was
    checked. Else something was wrong: on an account with 2FA one sentence for the password
    and the code, which does not say which of them (as log-in); without 2FA, the password.
    ``why`` (a clause, ``{them}`` in it standing for what the form asks) says why the form
    asks."""
    if lacking:
        head = f"Type {lacking} to confirm it is you"
    elif totp:
        head = "The password or 2FA code is wrong"
    else:
        head = "The password is wrong"
    if why:
        head += ": " + why.format(them="them" if totp else "it")
    return head + ". Nothing was changed."


def _csv(text: str) -> list[str]:
    return [x for x in (p.strip() for p in text.replace("\n", ",").split(",")) if x]


class Console:
    """The console's pages over the platform's services."""

    def __init__(self, svc: Services, secure: bool, faucet: Faucet | None = None) -> None:
        self.svc = svc
        self.secure = secure
        self.faucet = faucet

    async def _session(self, request: Request) -> us.Session | None:
        return await pages.current_session(request, self.svc.users, self.secure)

    async def _nav(self, request: Request) -> dict[str, Any]:
        return await pages.nav(request, self.svc.users, self.secure)

    def public(self, handler: Handler) -> Handler:
        """``timed(handler)`` for a page anyone may see: its error page has the navigation
        of a signed-in visitor."""
        return timed(handler, nav=self._nav)

    def signed(self, handler: Handler, json: bool = False) -> Handler:
        """``timed(handler, json=json)`` for a page that needs a session: one that sends a
        logged-out visitor to log in before it reads the request."""
        return timed(handler, session=self._session, nav=self._nav, json=json)

    def _page(
        self, name: str, session: us.Session | None, status: int = 200, **ctx: Any
    ) -> Response:
        return pages.render(
            name,
            status,
            scripts=True,
            user=session.user if session else None,
            csrf=session.csrf if session else "",
            wide=True,
            demo=self.faucet is not None,
            **ctx,
        )

    async def _form(self, request: Request) -> tuple[us.Session | None, dict[str, Any], bool]:
        """The session, the form's fields, and whether its CSRF token is the session's."""
        session = await self._session(request)
        form = await request.form()
        fields: dict[str, Any] = {k: form.getlist(k) for k in form}
        ok = session is not None and pages.check_csrf(
            session.csrf, str(form.get("csrf_token") or "")
        )
        return session, fields, ok

    async def _posted(self, request: Request, back: str) -> tuple[us.Session, dict[str, Any]]:
        """The session and the fields of a POST. Without a session the request is sent to log
        in (then back to ``back``), without the session's CSRF token it is refused: raised as
        ``pages.Answered``, which ``timed`` sends."""
        session, form, ok = await self._form(request)
        if session is None:
            raise pages.Answered(redirect(f"/login?next={back}"))
        if not ok:
            raise pages.Answered(self._refused(session))
        return session, form

    def _ip(self, request: Request) -> str:
        return request_ip(request, bool(getattr(self.svc.config, "trust_forwarded_for", False)))

    async def _confirm(
        self, request: Request, session: us.Session, form: dict[str, Any], why: str = ""
    ) -> NotConfirmed | None:
        """Check the form's ``password`` and ``totp`` (the step-up: the user proving it is them
        before money leaves or the power to move it, or to act as their OAuth app, is handed
        out: ``Users.confirm``); ``None`` when they are right, else why not, in words
        (``refusal``; ``why`` says why the form asks). A form without the password (or without
        the code, 2FA on) is refused before anything is checked: it guesses nothing, so it
        spends no attempt."""
        totp = session.user.totp_enabled
        password, code = field(form, "password", 1024), field(form, "totp", 16)
        lacking = missing(totp, password, code)
        if lacking:
            return NotConfirmed(401, refusal(totp, lacking, why))
        try:
            await run_in_threadpool(
                lambda: self.svc.users.confirm(
                    session.user.id, password, code, ip=self._ip(request)
                )
            )  # fmt: skip
        except Throttled as exc:
            return NotConfirmed(429, us.throttled_message(exc), exc.retry_after)
        except us.UserError:
            return NotConfirmed(401, refusal(totp, why=why))
        return None

    async def _withdraw_once(
        self,
        request: Request,
        session: us.Session,
        form: dict[str, Any],
        check: Callable[[], Withdrawal | None],
        withdraw: Callable[[], Withdrawal],
    ) -> Withdrawal | NotConfirmed:
        """A withdraw form's steps (the user's own, a broker's for a sub-account) in the order
        that spends a 2FA code (good once) only on a withdrawal it makes: ``check`` (the
        wallet's ``check_withdrawal``) raises a new request's refusal, so a typo spends none,
        and answers a form sent again (the Back button, a double click: its request id already
        used) with its first withdrawal, without the step-up whose code that first sending
        spent; then the step-up (``_confirm``), then ``withdraw``. Refusals are raised
        (``DomainError``)."""
        first = await run_in_threadpool(check)
        if first is not None:
            return first
        refused = await self._confirm(request, session, form)
        if refused:
            return refused
        return await run_in_threadpool(withdraw)

    def _refused(self, session: us.Session | None) -> Response:
        return self._page(
            "error.html",
            session,
            403,
            title="This request could not be verified",
            message=CSRF_REFUSED,
            code="csrf",
        )

    # --- public ------------------------------------------------------------------------------
    async def home(self, request: Request) -> Response:
        session = await self._session(request)
        rows = await run_in_threadpool(figures.markets, self.svc, now_ms())
        return self._page("home.html", session, title="Markets", markets=rows)

    async def docs(self, request: Request) -> Response:
        session = await self._session(request)
        base = (self.svc.config.public_url or str(request.base_url)).rstrip("/")
        listed = await run_in_threadpool(guides.guides)
        return self._page("docs.html", session, title="Documentation", base=base, guides=listed)

    async def guide(self, request: Request) -> Response:
        session = await self._session(request)
        found = await run_in_threadpool(guides.render, request.path_params["name"])
        if found is None:
            return self._page("error.html", session, 404, title="No such guide",
                              message="See the list of guides at /docs.", code="")  # fmt: skip
        title, html = found
        return self._page("guide.html", session, title=title, html=html)

    async def markets(self, request: Request) -> Response:
        rows = await run_in_threadpool(figures.markets, self.svc, now_ms())
        return pages.render("_markets.html", scripts=True, poll=True, markets=rows)

    # --- dashboard -----------------------------------------------------------------------------
    async def dashboard(self, request: Request, **ctx: Any) -> Response:
        session = await self._session(request)
        if session is None:
            return redirect("/login?next=/account")
        account = session.user.account_id
        rows, total = await run_in_threadpool(figures.balances, self.svc, account)
        assets = await run_in_threadpool(self.svc.engine.read, lambda e: sorted(e.wallet.assets))
        return self._page(
            "dashboard.html",
            session,
            int(ctx.pop("status", 200)),
            title="Dashboard",
            here="dashboard",
            balances=rows,
            total=total,
            valuation=figures.VALUATION_ASSET,
            assets=assets,
            faucet_id=secrets.token_urlsafe(12),
            funded=request.query_params.get("funded", "")[:64],
            **ctx,
        )

    async def fund(self, request: Request) -> Response:
        session, form = await self._posted(request, "/account")
        if self.faucet is None:
            return await self.dashboard(
                request, status=404, error="Test funds exist only on a demo server."
            )
        asset = str((form.get("asset") or [""])[0]).upper()[:16]
        amount = str((form.get("amount") or [""])[0]).strip()[:40]
        request_id = once_id(form)
        try:
            await run_in_threadpool(
                self.faucet, session.user.account_id, asset, amount, f"web-{request_id}"
            )
        except FaucetRefused as exc:  # the form keeps what was asked for
            return await self.dashboard(request, status=400, error=messages.say(exc),
                                        faucet_asset=asset, faucet_amount=amount)  # fmt: skip
        back = "/account/deposit" if field(form, "back") == "deposit" else "/account"
        return redirect(f"{back}?funded={amount}%20{asset}")

    # --- API keys ------------------------------------------------------------------------------
    def _key_rows(self, account: int) -> list[dict[str, Any]]:
        bindings = self.svc.brokers.bindings
        registry = self.svc.brokers.registry
        rows = []
        for k in self.svc.apikeys.list_keys(account):
            broker_id = bindings.bound_broker(k["apiKey"])
            binding = bindings.get(k["apiKey"])
            name = ""
            if broker_id is not None:
                try:
                    name = registry.get(broker_id).name
                except DomainError:
                    name = f"broker {broker_id}"
            rows.append(
                {
                    **k,
                    "broker_id": broker_id,
                    "broker_name": name,
                    "was_bound": binding is not None,
                    "can_bind": binding is None and "SPOT_WITHDRAW_WRITE" not in k["permissions"],
                }
            )
        return rows

    def _keys_context(self, account: int) -> dict[str, Any]:
        brokers = [
            b
            for b in self.svc.brokers.registry.list(BrokerStatus.APPROVED)
            if account not in (b.account_id, b.rebate_account_id)
        ]
        symbols = self.svc.engine.read(lambda e: sorted(e.exchange.symbols))
        return {"keys": self._key_rows(account), "brokers": brokers, "symbols": symbols}

    async def keys(self, request: Request, **ctx: Any) -> Response:
        session = await self._session(request)
        if session is None:
            return redirect("/login?next=/account/keys")
        data = await run_in_threadpool(self._keys_context, session.user.account_id)
        status = int(ctx.pop("status", 200))
        ctx.setdefault("checked", DEFAULT_CHECKED)
        return self._page(
            "keys.html",
            session,
            status,
            title="API keys",
            here="keys",
            permissions=OFFERED_PERMISSIONS,
            done=request.query_params.get("done", "")[:16],
            **data,
            **ctx,
        )

    async def create_key(self, request: Request) -> Response:
        session, form = await self._posted(request, "/account/keys")
        label = str((form.get("label") or [""])[0]).strip()
        perms = [str(p) for p in form.get("permissions", [])]
        symbols = [str(s).upper() for s in form.get("symbols", [])]
        ips = _csv(str((form.get("ip") or [""])[0]))
        keep = {"label": label, "checked": frozenset(perms), "picked": frozenset(symbols),
                "ip": ", ".join(ips)}  # fmt: skip
        listed = await run_in_threadpool(
            self.svc.engine.read, lambda e: frozenset(e.exchange.symbols)
        )
        error = ""
        if not perms:
            error = "Choose at least one permission."
        elif not set(perms) <= {p for p, _ in OFFERED_PERMISSIONS}:
            error = "That permission cannot be given from this page."
        elif len(symbols) > MAX_SYMBOLS_PER_KEY:
            error = f"A key can be limited to at most {MAX_SYMBOLS_PER_KEY} trading pairs."
        elif not set(symbols) <= listed:
            error = "That trading pair is not listed here."
        elif not label:
            error = "Give the key a name, so you can tell it apart later."
        else:
            try:  # before the step-up: a typo must not spend the 2FA code
                ips = list(ip_whitelist_of(ips))
            except DomainError as exc:
                error = messages.say(exc)
        if error:
            return await self.keys(request, status=400, error=error, **keep)
        if MONEY_PERMISSION in perms:
            refused = await self._confirm(request, session, form, KEY_WHY)
            if refused:
                page = await self.keys(request, status=refused.status, error=refused.message,
                                       **keep)  # fmt: skip
                return refused.headers(page)
        try:
            api_key, secret = await run_in_threadpool(
                lambda: self.svc.apikeys.create_key(
                    session.user.account_id, perms, label=label[:128], ip_whitelist=ips,
                    symbols=symbols,
                )
            )  # fmt: skip
        except DomainError as exc:
            return await self.keys(request, status=400, error=messages.say(exc), **keep)
        return await self.keys(
            request, status=201, created={"apiKey": api_key, "secret": secret, "new": True}
        )

    async def _key_action(
        self,
        request: Request,
        action: Callable[[int, str, dict[str, Any]], str],
        ask: Callable[[int, str, dict[str, Any]], Confirmation] | None = None,
    ) -> Response:
        """``action`` on the form's key; with ``ask``, only once the user confirmed it: the
        first POST is checked by ``ask`` and answered with the page it describes."""
        session, form = await self._posted(request, "/account/keys")
        api_key = str((form.get("api_key") or [""])[0]).strip()[:64]
        confirmed = field(form, "confirmed") == "1"
        try:
            if ask is not None and not confirmed:
                asked = await run_in_threadpool(ask, session.user.account_id, api_key, form)
                return self._page("confirm.html", session, title=asked.title, here="keys",
                                  ask=asked)  # fmt: skip
            done = await run_in_threadpool(action, session.user.account_id, api_key, form)
        except (DomainError, ValueError) as exc:
            return await self.keys(request, status=400, error=messages.say(exc))
        return redirect(f"/account/keys?done={done}")

    def _key_label(self, account: int, api_key: str) -> tuple[str, list[str]]:
        """The label and permissions of the account's key ``api_key``; ``NotKeyOwner`` for
        any other key (the sentence the action itself would say)."""
        for k in self.svc.apikeys.list_keys(account):
            if k["apiKey"] == api_key:
                return str(k["label"]), list(k["permissions"])
        raise NotKeyOwner("the API key does not exist or is not yours")

    def _ask_delete(self, account: int, api_key: str, form: dict[str, Any]) -> Confirmation:
        label, _ = self._key_label(account, api_key)
        bound = self.svc.brokers.bindings.bound_broker(api_key) is not None
        return Confirmation(
            title=f"Delete the key {label}?",
            said=[f"The key {label} ({api_key}) stops working at once: a program that signs "
                  "with it is refused from then on." + (" Its broker binding ends with it."
                                                        if bound else ""),
                  "A deleted key cannot be brought back; you can create a new one."],
            action="/account/keys/delete", fields={"api_key": api_key},
            button="Delete the key", back="/account/keys", danger=True,
        )  # fmt: skip

    def _delete(self, account: int, api_key: str, form: dict[str, Any]) -> str:
        if not self.svc.apikeys.delete_key(api_key, account):
            raise ValueError("That API key does not exist or belongs to another account.")
        self.svc.brokers.bindings.on_key_deleted(api_key)
        return "deleted"

    def _broker_to_bind(self, form: dict[str, Any]) -> int:
        broker_id = whole_id(str((form.get("broker_id") or [""])[0]))
        if broker_id is None:
            raise ValueError("Choose a broker to bind the key to.")
        return broker_id

    def _ask_bind(self, account: int, api_key: str, form: dict[str, Any]) -> Confirmation:
        """The binding's checks that need no write (the binding makes them again), then
        what binding means: the broker earns on the key's trades, for as long as the key
        lives, and the key can never be bound to another."""
        broker_id = self._broker_to_bind(form)
        label, _ = self._key_label(account, api_key)
        broker = self.svc.brokers.bindings.check_bind(api_key, broker_id, account)
        return Confirmation(
            title=f"Bind the key {label} to {broker.name}?",
            said=[f"{broker.name} (broker #{broker.id}) will earn a rebate on the fees of every "
                  f"trade the key {label} ({api_key}) makes."],
            warning="This cannot be undone. A key is bound once, ever: if you release it "
                    "later, it can never be bound again, to this broker or another.",
            action="/account/keys/bind",
            fields={"api_key": api_key, "broker_id": str(broker_id)},
            button=f"Bind to {broker.name}", back="/account/keys",
        )  # fmt: skip

    def _bind(self, account: int, api_key: str, form: dict[str, Any]) -> str:
        self.svc.brokers.bindings.bind(api_key, self._broker_to_bind(form), account)
        return "bound"

    def _release(self, account: int, api_key: str, form: dict[str, Any]) -> str:
        self.svc.brokers.bindings.unbind(api_key, account_id=account, by="user")
        return "released"

    def _ask_release(self, account: int, api_key: str, form: dict[str, Any]) -> Confirmation:
        label, _ = self._key_label(account, api_key)
        bound = self.svc.brokers.bindings.get_own(api_key, account)
        if bound is None or not bound.active:
            raise KeyNotBound("this API key is not bound to a broker")
        broker = self.svc.brokers.registry.get(bound.broker_id)
        return Confirmation(
            title=f"Release the key {label} from {broker.name}?",
            said=[f"{broker.name} (broker #{broker.id}) stops earning a rebate on the trades "
                  f"of the key {label} ({api_key}); the key itself keeps working."],
            warning="This cannot be undone: the broker stops earning on it; the key can never "
                    "be bound again, to this broker or another.",
            action="/account/keys/release", fields={"api_key": api_key},
            button="Release the key", back="/account/keys", danger=True,
        )  # fmt: skip

    def _own_key(self, account: int, api_key: str) -> None:
        self._key_label(account, api_key)

    async def renew(self, request: Request) -> Response:
        """Extend the key's expiry (90 days from now without an IP whitelist, never with one);
        with ``rotate`` also a new secret, shown once. The access key and its binding stay.
        Either asks for the step-up, after the key is known to be the user's."""
        session, form = await self._posted(request, "/account/keys")
        api_key = str((form.get("api_key") or [""])[0]).strip()[:64]
        rotate = (form.get("rotate") or [""])[0] == "1"
        try:
            await run_in_threadpool(self._own_key, session.user.account_id, api_key)
        except DomainError as exc:
            return await self.keys(request, status=400, error=messages.say(exc))
        refused = await self._confirm(request, session, form, KEY_WHY)
        if refused:
            page = await self.keys(request, status=refused.status, error=refused.message)
            return refused.headers(page)
        try:
            done = await run_in_threadpool(
                lambda: renew_key(self.svc.apikeys, api_key, session.user.account_id, now_ms(),
                                  rotate_secret=rotate)
            )  # fmt: skip
        except DomainError as exc:
            return await self.keys(request, status=400, error=messages.say(exc))
        if done.secret is None:
            return redirect("/account/keys?done=renewed")
        return await self.keys(
            request, created={"apiKey": api_key, "secret": done.secret, "new": False}
        )

    async def delete_key(self, request: Request) -> Response:
        return await self._key_action(request, self._delete, self._ask_delete)

    async def bind(self, request: Request) -> Response:
        return await self._key_action(request, self._bind, self._ask_bind)

    async def release(self, request: Request) -> Response:
        return await self._key_action(request, self._release, self._ask_release)


def routes(svc: Services, secure: bool, faucet: Faucet | None = None) -> list[BaseRoute]:
    """The console's routes (mount at the app root, before anything else claims ``/``)."""
    c = Console(svc, secure, faucet)
    return [
        Route("/", c.public(c.home), methods=["GET"]),
        Route("/markets", c.public(hosted_by(lambda _: "/")(c.markets)), methods=["GET"]),
        Route("/docs", c.public(c.docs), methods=["GET"]),
        Route("/docs/{name}", c.public(c.guide), methods=["GET"]),
        Route("/account", c.signed(c.dashboard), methods=["GET"]),
        Route("/account/faucet", c.signed(c.fund), methods=["POST"]),
        Route("/account/keys", c.signed(c.keys), methods=["GET"]),
        Route("/account/keys", c.signed(c.create_key), methods=["POST"]),
        Route("/account/keys/delete", c.signed(c.delete_key), methods=["POST"]),
        Route("/account/keys/renew", c.signed(c.renew), methods=["POST"]),
        Route("/account/keys/bind", c.signed(c.bind), methods=["POST"]),
        Route("/account/keys/release", c.signed(c.release), methods=["POST"]),
    ]
