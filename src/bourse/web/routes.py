"""Web pages: sign-up, log-in, log-out, two-factor set-up and "Authorized apps".

=======================  =========  ===============================================
path                     verbs      what
=======================  =========  ===============================================
/signup                  GET, POST  create a user and its exchange account
/login                   GET, POST  e-mail, password and (when enabled) a TOTP code
/logout                  POST       end the session (server-side)
/account/apps            GET        the apps the user authorised: scopes, last use
/account/apps/revoke     POST       revoke one app (its tokens stop working at once)
/account/2fa             GET, POST  turn TOTP two-factor authentication on or off
/static/...              GET        stylesheet
=======================  =========  ===============================================

Every form carries a CSRF token: the session's once logged in, a double-submit cookie token
on the log-in and sign-up forms. ``routes(config)`` returns the list to mount at the app root;
``oauth_routes`` are ``bourse.oauth.endpoints.routes`` (``all_routes`` gives both).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bourse.oauth import consents as cs
from bourse.oauth.server import AuthServer, OAuthConfig
from bourse.web import pages
from bourse.web import users as us


def _redirect(url: str) -> Response:
    return pages.secure_headers(RedirectResponse(url, status_code=303))


class WebPages:
    def __init__(self, config: OAuthConfig) -> None:
        self.config = config
        self.secure = bool(config.secure_cookies)

    # --- anonymous forms -------------------------------------------------------------------
    def _anon_page(self, request: Request, template: str, status: int = 200, **ctx) -> Response:  # type: ignore[no-untyped-def]
        token, fresh = pages.pre_session_csrf(request, self.secure)
        resp = pages.render(template, status=status, csrf=token, **ctx)
        if fresh:
            pages.set_pre_session_cookie(resp, token, self.secure)
        return resp

    def _anon_csrf_ok(self, request: Request, sent: str | None) -> bool:
        _, name = pages.cookie_names(self.secure)
        return us.check_csrf(request.cookies.get(name), sent)

    async def _logged_in(self, request: Request, user: us.User, next_url: str) -> Response:
        sid, _ = await run_in_threadpool(
            us.create_session, self.config.db, user.id, request.headers.get("user-agent", ""),
            now=self.config.clock(),
        )  # fmt: skip
        resp = _redirect(next_url)
        pages.set_session_cookie(resp, sid, self.secure)
        return resp

    async def signup(self, request: Request) -> Response:
        next_url = pages.safe_next(request.query_params.get("next"))
        if request.method == "GET":
            return self._anon_page(
                request, "signup.html", title="Create your account", next=next_url
            )
        form = await request.form()
        next_url = pages.safe_next(str(form.get("next") or ""))
        email = str(form.get("email") or "")
        if not self._anon_csrf_ok(request, str(form.get("csrf_token") or "")):
            return self._anon_page(
                request, "signup.html", 403, title="Create your account", next=next_url,
                email=email, error="The form expired; please try again.",
            )  # fmt: skip
        config = self.config
        try:
            user = await run_in_threadpool(
                us.create_user, config.db, email, str(form.get("password") or ""),
                config.open_account, now=config.clock(),
            )  # fmt: skip
        except us.UserError as exc:
            return self._anon_page(
                request, "signup.html", 400, title="Create your account", next=next_url,
                email=email, error=str(exc),
            )  # fmt: skip
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
        config = self.config
        try:
            user = await run_in_threadpool(
                us.authenticate, config.db, email, str(form.get("password") or ""),
                str(form.get("totp") or ""), fernet=config.fernet, now=config.clock(),
            )  # fmt: skip
        except us.UserError as exc:
            return self._anon_page(
                request, "login.html", 401, title="Log in", next=next_url, email=email,
                error=str(exc),
            )  # fmt: skip
        return await self._logged_in(request, user, next_url)

    async def logout(self, request: Request) -> Response:
        session = await pages.current_session(request, self.config)
        form = await request.form()
        if session is None:
            return _redirect("/login")
        if not us.check_csrf(session.csrf, str(form.get("csrf_token") or "")):
            return pages.render(
                "error.html",
                status=403,
                title="This request could not be verified",
                message="The form was not sent from this site. You are still logged in.",
                code="csrf",
            )
        name, _ = pages.cookie_names(self.secure)
        await run_in_threadpool(us.revoke_session, self.config.db, request.cookies.get(name))
        resp = _redirect("/login")
        pages.clear_session_cookie(resp, self.secure)
        return resp

    # --- logged in ---------------------------------------------------------------------------
    async def apps(self, request: Request) -> Response:
        session = await pages.current_session(request, self.config)
        if session is None:
            return _redirect("/login?next=/account/apps")
        apps = await run_in_threadpool(cs.authorized_apps, self.config.db, session.user.id)
        return pages.render(
            "apps.html",
            title="Authorized apps",
            user=session.user,
            csrf=session.csrf,
            apps=apps,
            revoked=request.query_params.get("revoked", ""),
        )

    async def revoke_app(self, request: Request) -> Response:
        session = await pages.current_session(request, self.config)
        if session is None:
            return _redirect("/login?next=/account/apps")
        form = await request.form()
        if not us.check_csrf(session.csrf, str(form.get("csrf_token") or "")):
            return pages.render(
                "error.html",
                status=403,
                title="This request could not be verified",
                message="The form was not sent from this site. Nothing was changed.",
                code="csrf",
            )
        client_id = str(form.get("client_id") or "")[:64]
        await run_in_threadpool(
            cs.revoke, self.config.db, session.user.id, client_id, self.config.clock()
        )
        return _redirect("/account/apps?revoked=1")

    async def two_factor(self, request: Request) -> Response:
        session = await pages.current_session(request, self.config)
        if session is None:
            return _redirect("/login?next=/account/2fa")
        config = self.config
        user = session.user
        error = ""
        secret = us.new_totp_secret()
        if request.method == "POST":
            form = await request.form()
            if not us.check_csrf(session.csrf, str(form.get("csrf_token") or "")):
                error = "The form expired; please try again."
            else:
                code = str(form.get("code") or "")
                try:
                    if form.get("action") == "disable":
                        await run_in_threadpool(
                            us.disable_totp, config.db, user.id, code,
                            fernet=config.fernet, now=config.clock(),
                        )  # fmt: skip
                    else:
                        secret = str(form.get("secret") or "")
                        await run_in_threadpool(
                            us.enable_totp, config.db, user.id, secret, code,
                            fernet=config.fernet, now=config.clock(),
                        )  # fmt: skip
                    return _redirect("/account/2fa")
                except us.UserError as exc:
                    error = str(exc)
            user = await run_in_threadpool(us.get_user, config.db, user.id) or user
        return pages.render(
            "totp.html",
            title="Two-factor authentication",
            user=user,
            csrf=session.csrf,
            secret=secret,
            uri=us.totp_uri(secret, user.email),
            error=error,
        )

    async def home(self, request: Request) -> Response:
        session = await pages.current_session(request, self.config)
        return _redirect("/account/apps" if session else "/login")


def routes(config: OAuthConfig) -> list:
    """The web pages' routes (mount at the app root)."""
    w = WebPages(config)
    return [
        Route("/signup", w.signup, methods=["GET", "POST"]),
        Route("/login", w.login, methods=["GET", "POST"]),
        Route("/logout", w.logout, methods=["POST"]),
        Route("/account/apps", w.apps, methods=["GET"]),
        Route("/account/apps/revoke", w.revoke_app, methods=["POST"]),
        Route("/account/2fa", w.two_factor, methods=["GET", "POST"]),
        Mount("/static", app=StaticFiles(directory=str(pages.STATIC)), name="static"),
    ]


def all_routes(config: OAuthConfig, server: AuthServer | None = None) -> list:
    """Web pages and the OAuth authorization server together."""
    from bourse.oauth.endpoints import routes as oauth_routes

    return routes(config) + oauth_routes(config, server)
