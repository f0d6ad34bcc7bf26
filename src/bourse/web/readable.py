"""What every page refuses before its handler runs (``console.timed`` calls ``check``): an
address (path or query string) or a form holding text that cannot be stored as sent.

That is a NUL character or a lone surrogate (``bourse.domain.text.storable``), or bytes that
are not UTF-8, as the API refuses them (``bourse.api.mexc.params``). Starlette would pass them
on: undecodable bytes become U+FFFD, and a multipart form declaring ``charset=utf-7`` decodes
to lone surrogates. Left to a handler, such text fails late, as a 500: a NUL on PostgreSQL
(its text cannot hold one), a lone surrogate on both backends (it has no UTF-8 encoding). The
refusal is a 400 page with ``messages.UNREADABLE``, which echoes nothing that was sent.

A logged-out visitor of a page that needs a session is not refused but sent to log in, as any
logged-out visitor of it is, whatever it sent (``console.timed``; such a page answers one
before it reads the request). The log-in address it is sent to never carries the unreadable
text back (``logged_out``). Public pages (log-in, sign-up, OAuth consent) refuse it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from bourse.domain.text import storable, storable_encoded, storable_fields
from bourse.web import messages, pages


class Unreadable(Exception):
    """The request's address or form holds text that cannot be stored as sent."""


async def check(request: Request) -> None:
    """``Unreadable`` when the request's path, query string or form (of any content type
    Starlette parses) holds text that cannot be stored as sent."""
    raw_path = request.scope.get("raw_path")
    if not (
        (storable_encoded(raw_path) if isinstance(raw_path, bytes) else storable(request.url.path))
        and storable_encoded(request.scope.get("query_string", b""))
    ):
        raise Unreadable
    if request.method in ("GET", "HEAD"):
        return
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded" and not storable_encoded(
        await request.body()  # kept: the form is parsed from the same bytes
    ):
        raise Unreadable
    form = await request.form()  # kept too: the handler's ``request.form()`` is this one
    if not storable_fields(form.multi_items()):
        raise Unreadable


def refused(template: str = "error.html", nav: Mapping[str, Any] | None = None) -> Response:
    """The page ``check``'s refusal gets: 400, in ``template`` (the console's error page, or
    the operator console's), with ``nav``, the navigation's context for the request's session
    (``errors.navigation``), as the error page has it."""
    return pages.render(
        template, 400, **(nav or {}), title="This form could not be read",
        message=messages.UNREADABLE, code="form",
    )  # fmt: skip


def logged_out(response: Response) -> Response:
    """``response``, a page's answer to a logged-out visitor whose request ``check`` refused,
    without the unreadable text it would carry: a redirect to log in that would come back to
    an address holding it (``/login?next=/trade/%00``) goes to the log-in page alone."""
    location = response.headers.get("location")
    if location is not None and not storable_encoded(location.encode("latin-1")):
        path = urlsplit(location).path
        response.headers["location"] = path if storable_encoded(path.encode("latin-1")) else "/"
    return response
