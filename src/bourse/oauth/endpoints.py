"""Starlette routes of the authorization server.

=========================================  =====  ============================================
path                                       verb   what
=========================================  =====  ============================================
/oauth/authorize                           GET    validate the request, show the consent page
                                                  (log-in first if needed)
/oauth/authorize                           POST   the user's decision (CSRF-checked); redirects
                                                  to the app with ``code``, ``state``, ``iss``
/oauth/token                               POST   ``authorization_code`` and ``refresh_token``
/oauth/revoke                              POST   RFC 7009 (client-authenticated)
/oauth/introspect                          POST   RFC 7662 (client-authenticated)
/.well-known/oauth-authorization-server    GET    RFC 8414 metadata
=========================================  =====  ============================================

An invalid ``client_id`` or ``redirect_uri`` is shown as an error page and never redirected
to (no open redirector). Other authorization errors go back to the app's (validated) redirect
URI with ``error``, ``state`` and ``iss``. Redirects after the consent form are ``303``.
Token, revocation and introspection responses carry ``Cache-Control: no-store``; their
parameters are read from the form body only, never from the query string.

``routes(config)`` returns the list to mount at the root of the app.
"""

from __future__ import annotations

import json
from urllib.parse import quote, urlsplit

from authlib.oauth2.rfc6749 import OAuth2Error
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from bourse.oauth import consents as cs
from bourse.oauth import scopes as sc
from bourse.oauth.grants import Owner
from bourse.oauth.server import AuthServer, HttpRequest, OAuthConfig, OAuthResponse
from bourse.web import pages
from bourse.web import users as us

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
#: parameters of the consent form that are ours, not the OAuth request's
_FORM_FIELDS = ("csrf_token", "decision")


def _uri(config: OAuthConfig, request: Request) -> str:
    query = request.url.query
    return config.issuer + request.url.path + ("?" + query if query else "")


def to_starlette(resp: OAuthResponse, *, see_other: bool = False) -> Response:
    """An authlib ``(status, body, headers)`` as a Starlette response."""
    location = resp.location
    if location and resp.status in (301, 302, 303, 307, 308):
        out = RedirectResponse(location, status_code=303 if see_other else 302)
        return pages.secure_headers(out)
    headers = {k: v for k, v in resp.headers if k.lower() not in ("content-type", "location")}
    headers.update(NO_STORE)
    body = resp.body
    if isinstance(body, dict | list):
        return JSONResponse(body, status_code=resp.status, headers=headers)
    if isinstance(body, str) and body.startswith("{"):
        return Response(body, resp.status, headers, media_type="application/json")
    return Response(body or "", resp.status, headers)


def _json_error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers=NO_STORE
    )


class Endpoints:
    def __init__(self, config: OAuthConfig, server: AuthServer | None = None) -> None:
        self.config = config
        self.server = server or AuthServer(config)

    # --- authorization endpoint --------------------------------------------------------------
    def _authorize_error(self, err: OAuth2Error) -> Response:
        if err.redirect_uri:
            status, _, headers = err()
            resp = OAuthResponse(status, "", list(headers))
            # RFC 9207: error responses carry iss too
            self.server.execute_hook("after_create_authorization_response", resp)
            return to_starlette(resp, see_other=True)
        return pages.render(
            "error.html",
            status=400,
            title="This sign-in link is not valid",
            message=err.description or err.error,
            code=err.error,
        )

    def _consent_page(self, request: Request, session: us.Session, grant) -> Response:  # type: ignore[no-untyped-def]
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
        config = self.config
        session = await pages.current_session(request, config)
        if request.method == "GET":
            params = list(request.query_params.multi_items())
            oreq = HttpRequest("GET", _uri(config, request), request.headers, params)
            try:
                grant = await run_in_threadpool(self.server.get_consent_grant, oreq, None)
            except OAuth2Error as err:
                return self._authorize_error(err)
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
        if not us.check_csrf(session.csrf, str(form.get("csrf_token") or "")):
            return pages.render(
                "error.html",
                status=403,
                title="This request could not be verified",
                message="The form was not sent from this site. Nothing was authorised.",
                code="csrf",
            )
        approve = form.get("decision") == "approve"
        params = [(k, v) for k, v in items if k not in _FORM_FIELDS]
        oreq = HttpRequest("POST", _uri(config, request), request.headers, params)
        owner = Owner(session.user.id, session.user.account_id)
        server = self.server

        def decide() -> OAuthResponse:
            grant = server.get_consent_grant(oreq, owner)
            if approve:
                cs.grant(
                    config.db, owner.user_id, oreq.client.client_id, oreq.scope, config.clock()
                )
            return server.create_authorization_response(
                oreq, grant_user=owner if approve else None, grant=grant
            )

        try:
            resp = await run_in_threadpool(decide)
        except OAuth2Error as err:
            return self._authorize_error(err)
        return to_starlette(resp, see_other=True)

    # --- token, revocation, introspection ---------------------------------------------------
    async def _form_request(self, request: Request) -> HttpRequest | Response:
        if request.url.query:
            return _json_error(
                "invalid_request", "send the parameters in the request body, not in the URL"
            )
        form = await request.form()
        items = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
        return HttpRequest("POST", _uri(self.config, request), request.headers, items)

    async def token(self, request: Request) -> Response:
        oreq = await self._form_request(request)
        if isinstance(oreq, Response):
            return oreq
        resp = await run_in_threadpool(self.server.create_token_response, oreq)
        return to_starlette(resp)

    async def revoke(self, request: Request) -> Response:
        oreq = await self._form_request(request)
        if isinstance(oreq, Response):
            return oreq
        resp = await run_in_threadpool(self.server.create_endpoint_response, "revocation", oreq)
        return to_starlette(resp)

    async def introspect(self, request: Request) -> Response:
        oreq = await self._form_request(request)
        if isinstance(oreq, Response):
            return oreq
        resp = await run_in_threadpool(self.server.create_endpoint_response, "introspection", oreq)
        return to_starlette(resp)

    async def metadata(self, request: Request) -> Response:
        return Response(
            json.dumps(self.server.metadata(), indent=1),
            media_type="application/json",
            headers={"Cache-Control": "public, max-age=300"},
        )


def routes(config: OAuthConfig, server: AuthServer | None = None) -> list[Route]:
    """The authorization server's routes (mount at the app root)."""
    ep = Endpoints(config, server)
    return [
        Route("/oauth/authorize", ep.authorize, methods=["GET", "POST"]),
        Route("/oauth/token", ep.token, methods=["POST"]),
        Route("/oauth/revoke", ep.revoke, methods=["POST"]),
        Route("/oauth/introspect", ep.introspect, methods=["POST"]),
        Route("/.well-known/oauth-authorization-server", ep.metadata, methods=["GET"]),
    ]
