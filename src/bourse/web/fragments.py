"""A fragment a page fetches in place, asked for as a page.

The markets table (``/markets``), the order book (``/trade/SYM/book``) and a user's own orders
(``/trade/SYM/mine``) are fetched by the page that shows them: htmx polls the first two,
``static/livebook.js`` fetches the third. A person who types such a URL in the address bar
(or opens it from the history) is sent to that page with a 303, never shown the bare fragment.

A navigation is told by the browser's fetch metadata (``Sec-Fetch-Dest: document``) or, from a
browser that sends none, by an ``Accept`` that asks for HTML. An htmx request, a script's
``fetch`` (``Sec-Fetch-Dest: empty``, ``Accept: */*``) and a client that names no type (curl,
a monitor) get the fragment.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bourse.web import errors, pages

Handler = Callable[[Request], Awaitable[Response]]
#: the request headers the answer depends on, besides the URL
VARY = "HX-Request, Sec-Fetch-Dest, Accept"


def navigated(request: Request) -> bool:
    """Whether ``request`` is a browser's top-level navigation, not a request from a page."""
    if errors.htmx(request):
        return False
    dest = request.headers.get("sec-fetch-dest")
    if dest is not None:
        return dest == "document"
    return "text/html" in request.headers.get("accept", "")


def hosted_by(page: Callable[[Request], str]) -> Callable[[Handler], Handler]:
    """Serve a fragment handler's answer to a page's requests, and send a navigation to the
    page that holds the fragment, at the local path ``page(request)`` gives."""

    def wrap(handler: Handler) -> Handler:
        @wraps(handler)
        async def fragment(request: Request) -> Response:
            if navigated(request):
                resp: Response = pages.secure_headers(
                    RedirectResponse(page(request), status_code=303)
                )
            else:
                resp = await handler(request)
            resp.headers["Vary"] = VARY
            return resp

        return fragment

    return wrap


def trade_page(request: Request) -> str:
    """The trade page of the request's pair, as typed (that page answers an unknown one)."""
    return "/trade/" + quote(str(request.path_params["symbol"]), safe="")
