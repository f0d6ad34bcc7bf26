"""An error in the shape whoever asked reads it.

* A browser's navigation gets the page (``pages.render``); for an exception its handler
  raised, the site's error page (the console's, or the operator console's) with the status,
  a sentence and, for a 500, the request id the server logged the traceback under (never the
  exception's text).
* An htmx request (``HX-Request: true``: the markets table, the order book, the operator's
  health figures, each polled in place) gets the page's alert alone, the console's
  ``<p class="error" role="alert">`` (``_error.html``), with the same status and
  ``HX-Reswap: innerHTML``: htmx puts it inside the element that asked, which keeps polling
  and whose next answer replaces it, never a whole page in the fragment's place. A redirect
  (a session that ended) becomes ``HX-Redirect``, so the browser goes there as a whole page:
  htmx would follow a 303 itself and swap the log-in page into the fragment.
* A script's endpoint (``/trade/{symbol}/stream-key``) gets ``{"code": <status>, "msg": ...}``,
  as the API answers.

``console.timed`` applies this to every answer, and to what a handler raised (a 500, a 503
when the store or engine is busy). The error page of a signed-in visitor has the navigation
the site's other pages give them, when the session can be read.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bourse.engine.engine import EngineUnavailable
from bourse.engine.trace import current
from bourse.store.transaction import RETRY_AFTER_S, unavailable
from bourse.web import messages, pages

log = logging.getLogger("bourse.web")

#: the template context of the navigation for the request's session, ``{}`` without one
Nav = Callable[[], Awaitable[Mapping[str, Any]]]
#: headers an error keeps when it changes shape
_KEPT = ("retry-after", "set-cookie")
#: an error page's heading, by status (else the status in words)
_TITLES = {500: "Something went wrong", 503: "The server is busy"}


def htmx(request: Request) -> bool:
    """Whether htmx sent ``request`` (to swap the answer into part of a page)."""
    return request.headers.get("hx-request") == "true"


async def failed(exc: Exception, page: str | None = None, nav: Nav | None = None) -> Response:
    """The answer to an exception a handler raised: its alert alone (``_error.html``) for an
    htmx request or a script, the error page in template ``page`` for a browser's navigation.
    An unexpected exception is logged with its traceback and the request id, which the page
    shows, so an operator can find the one from the other.

    ``nav`` gives the page's navigation for the request's session (the signed-in links and the
    log-out form), as the site's other pages show it; ``{}`` without a session. The error page
    must not fail in turn: if that lookup raises (the database may be what failed), the page
    goes without it, and a store that is busy or out of reach is not asked at all."""
    headers: dict[str, str] = {}
    request_id = ""
    if isinstance(exc, HTTPException):
        status, message = exc.status_code, str(exc.detail)
        headers = dict(exc.headers or {})
    elif isinstance(exc, EngineUnavailable) or unavailable(exc):
        status, message = 503, messages.BUSY
        headers = {"Retry-After": str(RETRY_AFTER_S)}
    else:
        request_id = current.get().request_id
        log.exception("unhandled error", exc_info=exc)  # the log line carries the request id
        status, message = 500, messages.FAILED
    if page is None:
        resp = pages.render("_error.html", status, scripts=True, message=message)
    else:
        ctx: dict[str, Any] = {}
        if nav is not None and not unavailable(exc):
            ctx.update(await navigation(nav))
        ctx.update(title=_title(status), message=message, request_id=request_id)
        resp = pages.render(page, status, **ctx)
    resp.headers.update(headers)
    return resp


async def navigation(nav: Nav) -> Mapping[str, Any]:
    """What ``nav`` gives, or ``{}`` (the page without navigation) if it raised: an error page
    (this one, ``readable.refused``'s 400) must not fail for want of its navigation."""
    try:
        return await nav()
    except Exception:
        log.warning("error page without navigation: the session could not be read", exc_info=True)
        return {}


def fragment(resp: Response) -> Response:
    """``resp`` for htmx: an error as its alert alone, a redirect as ``HX-Redirect``."""
    status = resp.status_code
    if 300 <= status < 400 and "location" in resp.headers:
        out: Response = Response(status_code=204, headers=pages.SECURITY_HEADERS)
        out.headers["HX-Redirect"] = resp.headers["location"]
    elif status >= 400:
        out = pages.render("_error.html", status, scripts=True, message=_alert(resp))
        out.headers["HX-Reswap"] = "innerHTML"
    else:
        return resp
    return _keep(resp, out)


def json(resp: Response) -> Response:
    """``resp`` for a script: an error not already JSON as ``{"code", "msg"}``."""
    status = resp.status_code
    if status < 400 or resp.headers.get("content-type", "").startswith("application/json"):
        return resp
    body = {"code": status, "msg": _alert(resp)}
    return _keep(resp, pages.secure_headers(JSONResponse(body, status)))


def _alert(resp: Response) -> str:
    """What the error says: its page's alert, else its status in words."""
    alert = resp.alert if isinstance(resp, pages.Page) else ""
    if alert:
        return alert
    try:
        return f"{HTTPStatus(resp.status_code).phrase}."
    except ValueError:
        return messages.FAILED


def _title(status: int) -> str:
    """An error page's heading: the status in words."""
    if status in _TITLES:
        return _TITLES[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _keep(src: Response, out: Response) -> Response:
    out.raw_headers += [(k, v) for k, v in src.raw_headers if k.decode() in _KEPT]
    return out
