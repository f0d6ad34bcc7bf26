"""Web pages: sign-up, log-in, log-out, two-factor set-up and "Authorized apps".

=======================  =========  ===============================================
path                     verbs      what
=======================  =========  ===============================================
/signup                  GET, POST  create a user and its exchange account (``?inviteCode=``
                                    or the form's refer code makes it an invitee)
/login                   GET, POST  e-mail, password and (when enabled) a TOTP code
/logout                  POST       end the session (server-side)
/account/apps            GET        the apps the user authorised: scopes, last use
/account/apps/revoke     POST       revoke one app (its tokens stop working at once), after
                                    a confirmation step (``confirm.html``)
/account/2fa             GET, POST  turn TOTP two-factor authentication on or off (the
                                    password, and a current code to turn it off)
/static/...              GET        stylesheet, scripts, the icon
/favicon.ico             GET        the icon (``static/favicon.svg``), for a browser that
                                    asks there before reading the page's ``<link rel=icon>``
=======================  =========  ===============================================

Every form carries a CSRF token: the session's once logged in, a double-submit cookie token
on the log-in and sign-up forms. ``routes(server, users)`` returns the list to mount at the
app root; ``all_routes`` adds the authorization endpoint (``bourse.web.consent``) and the
token, revocation, introspection and metadata endpoints (``bourse.oauth.endpoints``).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from bourse.domain.referrals import ReferralError
from bourse.oauth import consents as cs
from bourse.oauth import endpoints as oauth_endpoints
from bourse.oauth.server import AuthServer
from bourse.services import users as us
from bourse.services.referrals import Referrals
from bourse.services.throttle import Throttled, request_ip
from bourse.web import consent, pages, qr
from bourse.web.console import Confirmation, missing, refusal, timed


def _redirect(url: str) -> Response:
    return pages.secure_headers(RedirectResponse(url, status_code=303))


async def favicon(request: Request) -> Response:
    """The site's icon: a browser asks for ``/favicon.ico`` on its own, and a 404 there is a
    console error on every page."""
    resp = pages.secure_headers(
        FileResponse(pages.STATIC / "favicon.svg", media_type="image/svg+xml")
    )
    resp.headers["Cache-Control"] = "public, max-age=86400"  # the same bytes on every page
    del resp.headers["Pragma"]  # secure_headers' no-cache, which would contradict it
    return resp


class WebPages:
    """The pages; ``server`` gives the OAuth config and storage (the "Authorized apps")."""

    def __init__(
        self, server: AuthServer, users: us.Users, referrals: Referrals | None = None
    ) -> None:
        self.config = server.config
        self.oauth = server.repo
        self.users = users
        self.referrals = referrals
        self.secure = bool(server.config.secure_cookies)
        self.trust_forwarded = server.config.trust_forwarded_for

    def _ip(self, request: Request) -> str:
        return request_ip(request, self.trust_forwarded)

    async def _session(self, request: Request) -> us.Session | None:
        return await pages.current_session(request, self.users, self.secure)

    async def _nav(self, request: Request) -> dict[str, Any]:
        return await pages.nav(request, self.users, self.secure)

    # --- anonymous forms -------------------------------------------------------------------
    def _anon_page(
        self, request: Request, template: str, status: int = 200, **ctx: Any
    ) -> Response:
        token, fresh = pages.pre_session_csrf(request, self.secure)
        resp = pages.render(template, status=status, csrf=token, **ctx)
        if fresh:
            pages.set_pre_session_cookie(resp, token, self.secure)
        return resp

    def _anon_csrf_ok(self, request: Request, sent: str | None) -> bool:
        _, name = pages.cookie_names(self.secure)
        return pages.check_csrf(request.cookies.get(name), sent)

    async def _logged_in(self, request: Request, user: us.User, next_url: str) -> Response:
        sid, _ = await run_in_threadpool(
            self.users.create_session, user.id, request.headers.get("user-agent", "")
        )
        resp = _redirect(next_url)
        pages.set_session_cookie(resp, sid, self.secure)
        return resp

    async def signup(self, request: Request) -> Response:
        next_url = pages.safe_next(request.query_params.get("next"))
        page: dict[str, Any] = {
            "title": "Create your account",
            "referrals": self.referrals is not None,
        }
        if request.method == "GET":
            code = request.query_params.get("inviteCode") or ""
            return self._anon_page(
                request, "signup.html", next=next_url, invite_code=code[:32], **page
            )
        form = await request.form()
        next_url = pages.safe_next(str(form.get("next") or ""))
        email = str(form.get("email") or "")
        code = str(form.get("invite_code") or "").strip()
        page.update(next=next_url, email=email, invite_code=code[:32])
        if not self._anon_csrf_ok(request, str(form.get("csrf_token") or "")):
            return self._anon_page(
                request, "signup.html", 403, error="The form expired; please try again.", **page
            )
        try:
            if code and self.referrals is not None:  # refuse an unknown code before sign-up
                await run_in_threadpool(self.referrals.inviter_of_code, code)
            user = await run_in_threadpool(
                partial(self.users.create_user, ip=self._ip(request)),
                email,
                str(form.get("password") or ""),
            )
        except Throttled as exc:
            resp = self._anon_page(
                request, "signup.html", 429, error=us.throttled_message(exc), **page
            )
            resp.headers["Retry-After"] = str(exc.retry_after)
            return resp
        except (us.UserError, ReferralError) as exc:
            msg = str(exc) if isinstance(exc, us.UserError) else "That refer code does not exist."
            return self._anon_page(request, "signup.html", 400, error=msg, **page)
        if code and self.referrals is not None:
            await run_in_threadpool(self.referrals.invite, user.account_id, code)
        return await self._logged_in(request, user, next_url)

    async def login(self, request: Request) -> Response:
        next_url = pages.safe_next(request.query_params.get("next"))
        if request.method == "GET":
            return self._anon_page(request, "login.html", title="Log in", next=next_url)
        form = await request.form()
        next_url = pages.safe_next(str(form.get("next") or ""))
        email = str(form.get("email") or "")
        if not self._anon_csrf_ok(request, str(form.get("csrf_token") or "")):
            return self._anon_page(
                request, "login.html", 403, title="Log in", next=next_url, email=email,
                error="The form expired; please try again.",
            )  # fmt: skip
        try:
            user = await run_in_threadpool(
                partial(self.users.authenticate, ip=self._ip(request)), email,
                str(form.get("password") or ""), str(form.get("totp") or ""),
            )  # fmt: skip
        except Throttled as exc:
            resp = self._anon_page(
                request, "login.html", 429, title="Log in", next=next_url, email=email,
                error=us.throttled_message(exc),
            )  # fmt: skip
            resp.headers["Retry-After"] = str(exc.retry_after)
            return resp
        except us.UserError as exc:
            return self._anon_page(
                request, "login.html", 401, title="Log in", next=next_url, email=email,
                error=str(exc),
            )  # fmt: skip
        return await self._logged_in(request, user, next_url)

    async def logout(self, request: Request) -> Response:
        session = await self._session(request)
        form = await request.form()
        if session is None:
            return _redirect("/login")
        if not pages.check_csrf(session.csrf, str(form.get("csrf_token") or "")):
            return pages.render(
                "error.html",
                status=403,
                title="This request could not be verified",
                message="The form was not sent from this site. You are still logged in.",
                code="csrf",
            )
        name, _ = pages.cookie_names(self.secure)
        await run_in_threadpool(self.users.revoke_session, request.cookies.get(name))
        resp = _redirect("/login")
        pages.clear_session_cookie(resp, self.secure)
        return resp

    # --- logged in ---------------------------------------------------------------------------
    async def apps(self, request: Request) -> Response:
        session = await self._session(request)
        if session is None:
            return _redirect("/login?next=/account/apps")
        apps = await run_in_threadpool(cs.authorized_apps, self.oauth, session.user.id)
        return pages.render(
            "apps.html",
            title="Authorized apps",
            user=session.user,
            csrf=session.csrf,
            apps=apps,
            revoked=request.query_params.get("revoked", ""),
        )

    async def revoke_app(self, request: Request) -> Response:
        session = await self._session(request)
        if session is None:
            return _redirect("/login?next=/account/apps")
        form = await request.form()
        if not pages.check_csrf(session.csrf, str(form.get("csrf_token") or "")):
            return pages.render(
                "error.html",
                status=403,
                title="This request could not be verified",
                message="The form was not sent from this site. Nothing was changed.",
                code="csrf",
            )
        client_id = str(form.get("client_id") or "")[:64]
        if form.get("confirmed") != "1":  # first what revoking means, then revoke
            apps = await run_in_threadpool(cs.authorized_apps, self.oauth, session.user.id)
            app = next((a for a in apps if a.client.client_id == client_id), None)
            if app is None:  # not one of the user's apps: nothing to revoke
                return _redirect("/account/apps")
            name = app.client.name
            ask = Confirmation(
                title=f"Revoke {name}?",
                said=[f"{name} stops acting for you at once: its tokens stop working, and it "
                      "can no longer read your account or trade for you.",
                      "To use it again you would have to authorise it again from the app."],
                action="/account/apps/revoke", fields={"client_id": client_id},
                button=f"Revoke {name}", back="/account/apps", danger=True,
            )  # fmt: skip
            return pages.render("confirm.html", title=ask.title, user=session.user,
                                csrf=session.csrf, here="apps", ask=ask)  # fmt: skip
        await run_in_threadpool(
            cs.revoke, self.oauth, session.user.id, client_id, self.config.clock()
        )
        return _redirect("/account/apps?revoked=1")

    async def two_factor(self, request: Request) -> Response:
        """Turn 2FA on (the log-in password and a code of the new secret) or off (the password
        and a current code). Every check counts against the log-in throttle (429 when over)."""
        session = await self._session(request)
        if session is None:
            return _redirect("/login?next=/account/2fa")
        users = self.users
        user = session.user
        error, status, retry_after = "", 200, 0
        secret = us.new_totp_secret()
        if request.method == "POST":
            form = await request.form()
            if not pages.check_csrf(session.csrf, str(form.get("csrf_token") or "")):
                error = "The form expired; please try again."
            else:
                code = str(form.get("code") or "")[:16]
                password = str(form.get("password") or "")[: us.MAX_PASSWORD]
                ip = self._ip(request)
                off = form.get("action") == "disable"
                # what the form on the page lacks (off: the password and a current code; on:
                # the password, as the new secret's code is checked in its own words); a form
                # for the other state is the service's to answer
                lacking = (
                    missing(user.totp_enabled, password, code) if off == user.totp_enabled else ""
                )
                if lacking:  # nothing to check, so no attempt is spent
                    error, status = refusal(user.totp_enabled, lacking), 401
                else:
                    try:
                        if off:
                            await run_in_threadpool(
                                partial(users.disable_totp, ip=ip), user.id, password, code
                            )
                        else:
                            secret = str(form.get("secret") or "")[:128]
                            await run_in_threadpool(
                                partial(users.enable_totp, ip=ip), user.id, secret, code, password
                            )
                        return _redirect("/account/2fa")
                    except Throttled as exc:
                        error, status = us.throttled_message(exc), 429
                        retry_after = exc.retry_after
                    except us.UserError as exc:
                        wrong = str(exc) == us.BAD_LOGIN
                        error, status = (
                            (refusal(user.totp_enabled), 401) if wrong else (str(exc), 400)
                        )
            fresh = await run_in_threadpool(users.get_user, user.id)
            user = fresh or user
        uri = us.totp_uri(secret, user.email)  # scanned as a QR code while 2FA is off
        qr_code = "" if user.totp_enabled else qr.svg(uri, "QR code of the key, for your app")
        resp = pages.render(
            "totp.html",
            status=status,
            title="Two-factor authentication",
            here="security",
            user=user,
            csrf=session.csrf,
            secret=secret,
            uri=uri,
            qr=qr_code,
            error=error,
        )
        if retry_after:
            resp.headers["Retry-After"] = str(retry_after)
        return resp


def routes(
    server: AuthServer, users: us.Users, referrals: Referrals | None = None
) -> list[BaseRoute]:
    """The web pages' routes (mount at the app root)."""
    w = WebPages(server, users, referrals)
    public = partial(timed, nav=w._nav)  # an error page has a signed-in visitor's navigation
    signed = partial(public, session=w._session)  # pages that need a session
    return [
        Route("/signup", public(w.signup), methods=["GET", "POST"]),
        Route("/login", public(w.login), methods=["GET", "POST"]),
        Route("/logout", signed(w.logout), methods=["POST"]),
        Route("/account/apps", signed(w.apps), methods=["GET"]),
        Route("/account/apps/revoke", signed(w.revoke_app), methods=["POST"]),
        Route("/account/2fa", signed(w.two_factor), methods=["GET", "POST"]),
        Mount("/static", app=StaticFiles(directory=str(pages.STATIC)), name="static"),
        Route("/favicon.ico", favicon, methods=["GET"]),
    ]


def all_routes(
    server: AuthServer, users: us.Users, referrals: Referrals | None = None
) -> list[BaseRoute]:
    """Web pages, the consent page and the OAuth authorization server's endpoints together."""
    return [
        *routes(server, users, referrals),
        *consent.routes(server, users),
        *oauth_endpoints.routes(server),
    ]
