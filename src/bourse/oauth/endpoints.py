"""Starlette routes of the authorization server's machine-facing endpoints.

=========================================  =====  ============================================
path                                       verb   what
=========================================  =====  ============================================
/oauth/token                               POST   ``authorization_code`` and ``refresh_token``
/oauth/revoke                              POST   RFC 7009 (client-authenticated)
/oauth/introspect                          POST   RFC 7662 (client-authenticated)
/.well-known/oauth-authorization-server    GET    RFC 8414 metadata
=========================================  =====  ============================================

The authorization endpoint (``/oauth/authorize``) is a page a person sees (log-in, consent,
CSRF, cookies), so it is served by ``bourse.web.consent``, which calls ``AuthServer``'s
``validate_authorization``/``decide``/``error_redirect`` for the protocol. This keeps oauth
below web: the protocol never renders HTML nor reads a session cookie.

Token, revocation and introspection responses carry ``Cache-Control: no-store``; their
parameters are read from the form body only, never from the query string; a parameter or
HTTP Basic credentials holding a NUL character or text that is not UTF-8 is refused
(``invalid_request``). Client authentication is throttled per IP and per client id
(``AuthServer.throttle``): over budget, the answer is HTTP 429
``{"error": "too_many_requests"}`` with ``Retry-After``, and the secret is not checked.

``routes(server)`` returns the list to mount at the root of the app.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from bourse.domain.text import storable, storable_encoded, storable_fields
from bourse.oauth.server import AuthServer, HttpRequest, OAuthResponse
from bourse.services.throttle import Throttled, request_ip

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
#: a parameter the store could not even look up (PostgreSQL text holds no NUL: it was a 500)
UNSTORABLE = "a parameter or the client credentials hold a NUL character, or text that is not UTF-8"


def to_starlette(
    resp: OAuthResponse,
    *,
    see_other: bool = False,
    redirect_headers: Mapping[str, str] | None = None,
) -> Response:
    """An authlib ``(status, body, headers)`` as a Starlette response; a redirect also gets
    ``redirect_headers`` (the web pages' security headers)."""
    location = resp.location
    if location and resp.status in (301, 302, 303, 307, 308):
        out = RedirectResponse(location, status_code=303 if see_other else 302)
        for k, v in (redirect_headers or {}).items():
            out.headers[k] = v
        return out
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


def _basic_readable(headers: Mapping[str, str]) -> bool:
    """Whether HTTP Basic client credentials, if sent, are UTF-8 text without a NUL: authlib
    decodes them strictly (``extract_basic_authorization``), and other bytes were a 500."""
    parts = (headers.get("authorization") or "").split(None, 1)
    if len(parts) != 2 or parts[0].lower() != "basic":
        return True
    try:
        raw = base64.b64decode(parts[1])
    except (binascii.Error, ValueError):
        return True  # not base64: authlib reads no credentials from it
    try:
        return storable(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return False


class Endpoints:
    def __init__(self, server: AuthServer) -> None:
        self.server = server

    async def _form_request(self, request: Request) -> HttpRequest | Response:
        if request.url.query:
            return _json_error(
                "invalid_request", "send the parameters in the request body, not in the URL"
            )
        kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if kind == "application/x-www-form-urlencoded" and not storable_encoded(
            await request.body()  # kept: the form is parsed from the same bytes
        ):
            return _json_error("invalid_request", UNSTORABLE)
        form = await request.form()
        if not (_basic_readable(request.headers) and storable_fields(form.multi_items())):
            return _json_error("invalid_request", UNSTORABLE)
        items = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
        uri = self.server.request_uri(request.url.path, "")
        ip = request_ip(request, self.server.config.trust_forwarded_for)
        return HttpRequest("POST", uri, request.headers, items, ip)

    async def _answer(self, request: Request, endpoint: str | None) -> Response:
        oreq = await self._form_request(request)
        if isinstance(oreq, Response):
            return oreq
        try:
            if endpoint is None:
                resp = await run_in_threadpool(self.server.create_token_response, oreq)
            else:
                resp = await run_in_threadpool(self.server.create_endpoint_response, endpoint, oreq)
        except Throttled as exc:
            out = _json_error(
                "too_many_requests",
                f"too many failed client authentications; retry in {exc.retry_after} s",
                429,
            )
            out.headers["Retry-After"] = str(exc.retry_after)
            return out
        return to_starlette(resp)

    async def token(self, request: Request) -> Response:
        return await self._answer(request, None)

    async def revoke(self, request: Request) -> Response:
        return await self._answer(request, "revocation")

    async def introspect(self, request: Request) -> Response:
        return await self._answer(request, "introspection")

    async def metadata(self, request: Request) -> Response:
        return Response(
            json.dumps(self.server.metadata(), indent=1),
            media_type="application/json",
            headers={"Cache-Control": "public, max-age=300"},
        )


def routes(server: AuthServer) -> list[Route]:
    """The token, revocation, introspection and metadata routes (mount at the app root)."""
    ep = Endpoints(server)
    return [
        Route("/oauth/token", ep.token, methods=["POST"]),
        Route("/oauth/revoke", ep.revoke, methods=["POST"]),
        Route("/oauth/introspect", ep.introspect, methods=["POST"]),
        Route("/.well-known/oauth-authorization-server", ep.metadata, methods=["GET"]),
    ]
