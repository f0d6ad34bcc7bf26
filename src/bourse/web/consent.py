"""The OAuth authorization endpoint as a page: log-in redirect, consent page, decision.

==================  =====  ======================================================================
path                verb   what
==================  =====  ======================================================================
/oauth/authorize    GET    validate the request, show the consent page (log-in first if needed)
/oauth/authorize    POST   the user's decision (CSRF-checked); redirects to the app with
                           ``code``, ``state``, ``iss``
==================  =====  ======================================================================

Why it lives in ``web`` and not in ``bourse.oauth``: this endpoint is the one place of the
protocol a person looks at. It reads the session cookie, renders the log-in redirect, the
consent and error pages and checks the form's CSRF token, which are all web concerns (cookies,
templates, security headers). The protocol itself (validating the request, recording the
consent, issuing the code, the RFC 9207 ``iss`` on errors) stays in ``bourse.oauth.server``,
which this module calls. ``web`` may import ``oauth`` (the layers are (api | web) > oauth),
so a plain call is simpler than giving ``oauth`` a callback port for pages it would never
otherwise know about.

An invalid ``client_id`` or ``redirect_uri`` is shown as an error page and never redirected
to (no open redirector). Other authorization errors go back to the app's (validated) redirect
URI with ``error``, ``state`` and ``iss``. Redirects after the consent form are ``303``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from authlib.oauth2.rfc6749 import OAuth2Error
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bourse.oauth import scopes as sc
from bourse.oauth.endpoints import to_starlette
from bourse.oauth.grants import Owner
from bourse.oauth.server import AuthServer, HttpRequest, OAuthResponse
from bourse.services.users import Session, Users
from bourse.web import pages
from bourse.web.console import timed

#: parameters of the consent form that are ours, not the OAuth request's
_FORM_FIELDS = ("csrf_token", "decision")


class ConsentPage:
    def __init__(self, server: AuthServer, users: Users) -> None:
        self.server = server
        self.users = users
        self.secure = bool(server.config.secure_cookies)

    def _redirect(self, resp: OAuthResponse) -> Response:
        return to_starlette(resp, see_other=True, redirect_headers=pages.SECURITY_HEADERS)

    def _error(self, err: OAuth2Error) -> Response:
        resp = self.server.error_redirect(err)
        if resp is not None:
            return self._redirect(resp)
        return pages.render(
            "error.html",
            status=400,
            title="This sign-in link is not valid",
            message=err.description or err.error,
            code=err.error,
        )

    def _consent_page(self, request: Request, session: Session, grant: Any) -> Response:
        oreq = grant.request
        client = oreq.client
        params = [(k, v) for k, v in request.query_params.multi_items() if k not in _FORM_FIELDS]
        target = urlsplit(grant.redirect_uri)
        return pages.render(
            "consent.html",
            client=client,
            scopes=sc.describe(oreq.scope),
            user=session.user,
            params=params,
            csrf=session.csrf,
            redirect_host=target.netloc,
            title=f"Authorize {client.name}",
        )

    async def authorize(self, request: Request) -> Response:
        server = self.server
        session = await pages.current_session(request, self.users, self.secure)
        uri = server.request_uri(request.url.path, request.url.query)
        if request.method == "GET":
            params = list(request.query_params.multi_items())
            oreq = HttpRequest("GET", uri, request.headers, params)
            try:
                grant = await run_in_threadpool(server.validate_authorization, oreq)
            except OAuth2Error as err:
                return self._error(err)
            if session is None:
                here = request.url.path + "?" + request.url.query
                return pages.secure_headers(
                    RedirectResponse("/login?next=" + quote(here, safe=""), status_code=303)
                )
            return self._consent_page(request, session, grant)

        form = await request.form()
        items = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
        if session is None:
            return pages.render(
                "error.html",
                status=401,
                title="Please log in again",
                message="Your session has ended. Open the app's link again to continue.",
                code="login_required",
            )
        if not pages.check_csrf(session.csrf, str(form.get("csrf_token") or "")):
            return pages.render(
                "error.html",
                status=403,
                title="This request could not be verified",
                message="The form was not sent from this site. Nothing was authorised.",
                code="csrf",
            )
        approve = form.get("decision") == "approve"
        params = [(k, v) for k, v in items if k not in _FORM_FIELDS]
        oreq = HttpRequest("POST", uri, request.headers, params)
        owner = Owner(session.user.id, session.user.account_id)
        try:
            resp = await run_in_threadpool(server.decide, oreq, owner, approve)
        except OAuth2Error as err:
            return self._error(err)
        return self._redirect(resp)


def routes(server: AuthServer, users: Users) -> list[Route]:
    """The authorization endpoint's route (mount at the app root)."""
    page = ConsentPage(server, users)

    async def nav(request: Request) -> dict[str, Any]:
        return await pages.nav(request, users, page.secure)

    return [Route("/oauth/authorize", timed(page.authorize, nav=nav), methods=["GET", "POST"])]
