"""Whether text a client sent can be stored and shown as it is.

PostgreSQL ``text`` cannot hold a NUL character, and a lone surrogate (``"\\ud800"``: what a
JSON escape or a form sent in an odd charset such as UTF-7 decodes to) has no UTF-8 encoding,
so SQLite, PostgreSQL and every page would fail on it late, as a 500. Bytes that are not UTF-8
would be taken as U+FFFD, silently. Such input is refused where it comes in.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import unquote_to_bytes


def storable(text: str) -> bool:
    """Whether ``text`` holds no NUL character and encodes as UTF-8."""
    return "\x00" not in text and encodable(text)


def storable_fields(fields: Iterable[tuple[str, object]]) -> bool:
    """Whether every name of a parsed form's ``fields``, and every value that is text (not a
    file), is ``storable``."""
    return all(storable(k) and (not isinstance(v, str) or storable(v)) for k, v in fields)


def encodable(text: str) -> bool:
    """Whether ``text`` encodes as UTF-8 (holds no lone surrogate)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def storable_encoded(raw: bytes) -> bool:
    """Whether percent-encoded ``raw`` (a path, a query string, a form body) decodes to UTF-8
    text without a NUL. Decoding the whole answers for every name and value in it: the
    separators are ASCII, so no field's bytes can complete another's."""
    if raw.isascii() and b"%" not in raw and b"\x00" not in raw:
        return True
    try:
        return storable(unquote_to_bytes(raw).decode("utf-8"))
    except UnicodeDecodeError:
        return False
