"""Shared by the web pages and the consent page: templates, security headers, cookies, CSRF.

Every HTML response carries ``X-Frame-Options: DENY`` and ``frame-ancestors 'none'``
(clickjacking, RFC 9700 §4.16), ``Cache-Control: no-store``, ``Referrer-Policy: no-referrer``,
``X-Content-Type-Options: nosniff`` and a strict Content-Security-Policy: no JavaScript at all
on the log-in, sign-up and consent pages; the console's pages (``render(..., scripts=True)``)
may load the vendored htmx from ``/static`` (``'self'``), never inline code or another origin.

Cookies are ``HttpOnly`` and ``SameSite=Lax``; with an https issuer they are also ``Secure``
and use the ``__Host-`` prefix (host-only, path ``/``).

A form or address holding text that cannot be stored (a NUL character, bytes that are not
UTF-8) is refused before any page's handler runs (``bourse.web.readable``, from
``console.timed``), but for a logged-out visitor of a page that needs a session: it is sent to
log in, as from any request.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from bourse.services.users import SESSION_TTL_MS, Session, Users

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

_env = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _ms_datetime(ms: int | None) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _ms_time(ms: int | None) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%H:%M:%S")


_env.filters["ms_datetime"] = _ms_datetime
_env.filters["ms_time"] = _ms_time

SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' https: data:; style-src 'self'; script-src 'none'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

#: the console's pages: the same, but scripts from this origin (the vendored htmx) may run
SCRIPT_HEADERS = {
    **SECURITY_HEADERS,
    "Content-Security-Policy": SECURITY_HEADERS["Content-Security-Policy"].replace(
        "script-src 'none'", "script-src 'self'"
    ),
}

SESSION_TTL_S = SESSION_TTL_MS // 1000


def cookie_names(secure: bool) -> tuple[str, str]:
    """``(session cookie, pre-session CSRF cookie)`` names."""
    if secure:
        return "__Host-bourse_session", "__Host-bourse_csrf"
    return "bourse_session", "bourse_csrf"


class Page(HTMLResponse):
    """A rendered template. ``alert`` is the refusal it shows (its ``error``, or an error
    page's ``message``): what an htmx request gets instead of the whole page
    (``bourse.web.errors``)."""

    alert = ""


def render(name: str, status: int = 200, *, scripts: bool = False, **ctx: Any) -> Page:
    html = _env.get_template(name).render(scripts=scripts, **ctx)
    headers = SCRIPT_HEADERS if scripts else SECURITY_HEADERS
    page = Page(html, status_code=status, headers=headers)
    page.alert = str(ctx.get("error") or ctx.get("message") or "")
    return page


class Answered(Exception):
    """Raised by a page's helper with the response the request gets instead (a redirect to
    log in, a refusal); ``console.timed`` sends it."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def secure_headers(response: Response) -> Response:
    for k, v in SECURITY_HEADERS.items():
        response.headers[k] = v
    return response


def set_session_cookie(response: Response, sid: str, secure: bool) -> None:
    name, _ = cookie_names(secure)
    response.set_cookie(
        name, sid, max_age=SESSION_TTL_S, path="/", secure=secure, httponly=True, samesite="lax"
    )


def clear_session_cookie(response: Response, secure: bool) -> None:
    name, _ = cookie_names(secure)
    response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="lax")


def pre_session_csrf(request: Request, secure: bool) -> tuple[str, bool]:
    """The anonymous (double-submit) CSRF token for log-in and sign-up forms, and whether the
    cookie must be set on the response."""
    _, name = cookie_names(secure)
    value = request.cookies.get(name)
    if value and 20 <= len(value) <= 128:
        return value, False
    return secrets.token_urlsafe(32), True


def set_pre_session_cookie(response: Response, value: str, secure: bool) -> None:
    _, name = cookie_names(secure)
    response.set_cookie(
        name, value, max_age=3600, path="/", secure=secure, httponly=True, samesite="lax"
    )


async def current_session(request: Request, users: Users, secure: bool) -> Session | None:
    """The logged-in session of the request's cookie, else ``None``."""
    name, _ = cookie_names(secure)
    sid = request.cookies.get(name)
    if not sid:
        return None
    return await run_in_threadpool(users.load_session, sid)


async def nav(request: Request, users: Users, secure: bool) -> dict[str, Any]:
    """What the console's navigation needs (``base.html``: ``user``, and the CSRF token of its
    log-out form) for the request's session, ``{}`` without one: for a page drawn without a
    session in hand, the error page of one whose handler raised (``bourse.web.errors``)."""
    session = await current_session(request, users, secure)
    return {"user": session.user, "csrf": session.csrf} if session else {}


def check_csrf(expected: str | None, sent: str | None) -> bool:
    """Constant-time comparison of a form's CSRF token with the expected one."""
    if not expected or not sent or len(sent) > 256:
        return False
    return secrets.compare_digest(expected.encode(), sent.encode())


def safe_next(value: str | None, default: str = "/account") -> str:
    """A local path to go to after log-in; anything else (``//host``, ``https:...``) is ignored."""
    if not value or len(value) > 4096:
        return default
    if not value.startswith("/") or value.startswith("//") or value.startswith("/\\"):
        return default
    if any(c in value for c in "\r\n\t"):
        return default
    return value
