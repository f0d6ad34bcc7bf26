"""Request parameters: where they come from, and checking them against an endpoint's spec.

Parameters may be in the query string, in the body (a form-encoded string or a JSON object,
told apart by content, not by the ``Content-Type`` label: MEXC's own demo sends a form body
labelled ``application/json``), or split between both. A name in both places with the same
value is one parameter; with different values the request is refused, so a body parameter can
never override a signed query parameter. A name repeated within one place is refused.
Empty values count as not sent, except where a spec says the empty string means something
(``stpMode=""``: no self-trade prevention; ``symbols=`` of a new API key: a refusal).

Each endpoint declares its parameters as ``P`` specs; the same specs drive validation here and
the OpenAPI document (``openapi.py``). Undeclared parameters are ignored, as MEXC ignores them
(clients send extras: ccxt both ``origClientOrderId`` and ``clientOrderId``, pymexc ``symbols``
on a one-symbol ticker). A ``limit`` above its maximum is clamped to the maximum, as MEXC does.
Values stay strings except integers; decimal strings are checked for shape here and converted
to exact units only by ``bourse.domain.money.to_units`` with the symbol's scale.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from bourse.api.mexc.errors import (
    ILLEGAL_CHARACTERS,
    PARAM_ERROR,
    ApiError,
    invalid,
    missing,
)
from bourse.domain.text import encodable

INT64_MAX = 2**63 - 1
#: latest time parameter accepted (3000-01-01 UTC): keeps calendar arithmetic in range
MAX_TIME_MS = 32_503_680_000_000
_INT = re.compile(r"-?[0-9]{1,19}")
_DEC = re.compile(r"(?:[0-9]{1,40}(?:\.[0-9]{0,40})?|\.[0-9]{1,40})")
_CLIENT_ID = re.compile(r"[A-Za-z0-9_\-.:/@#]{1,64}")
_SYMBOL = re.compile(r"[A-Za-z0-9_]{1,32}")


@dataclass(frozen=True, slots=True)
class P:
    """One declared parameter.

    ``kind``: ``str``, ``int``, ``decimal``, ``enum``, ``symbol``, ``symbols`` (comma list),
    ``client_id``, ``json`` (a JSON array/object as a string).
    """

    name: str
    kind: str = "str"
    required: bool = False
    enum: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    max_items: int | None = None
    description: str = ""
    #: an integer above ``maximum`` becomes ``maximum`` instead of an error (always so for
    #: ``limit``, as MEXC clamps page sizes)
    clamp: bool = False
    #: ``""`` is a value of its own, not "not sent" (an enum listing ``""``; a list whose
    #: handler refuses it empty)
    empty_ok: bool = False


#: the highest page number a paged endpoint serves: ``(page - 1) x size`` stays far inside
#: SQLite's 64-bit OFFSET whatever the page size, and no history is that long
MAX_PAGE = 1_000_000
#: ``page`` of every paged endpoint (above ``MAX_PAGE``: 33333)
PAGE = P("page", "int", minimum=1, maximum=MAX_PAGE)


def _decode(raw: bytes, where: str) -> list[tuple[str, str]]:
    try:
        text = raw.decode("utf-8")
        if "%" not in text and "+" not in text:  # nothing to unquote: parse_qsl's answer, 5x faster
            return [(k, v) for k, _, v in (part.partition("=") for part in text.split("&") if part)]
        return parse_qsl(text, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise ApiError(ILLEGAL_CHARACTERS, f"Illegal characters found in {where}.") from None


def query_params(query: bytes) -> dict[str, str]:
    """The query string's own parameters (``collect`` has refused a repeated name already)."""
    return dict(_decode(query, "the query string"))


def _to_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | Decimal):
        return str(value)
    return json.dumps(value, separators=(",", ":"), default=str)


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refused when a name repeats (``json`` would keep the last silently)."""
    out = dict(pairs)
    if len(out) != len(pairs):
        name = next(k for i, (k, _) in enumerate(pairs) if any(k == j for j, _ in pairs[:i]))
        raise ApiError(PARAM_ERROR, f"Duplicate parameter '{name[:64]}'.")
    return out


def body_is_json(body: bytes) -> bool:
    """Whether ``body`` is JSON (by content: a form body never starts with ``{`` or ``[``)."""
    return body.lstrip()[:1] in (b"{", b"[")


def collect(query: bytes, body: bytes, content_type: str = "") -> tuple[dict[str, str], bool]:
    """All parameters of a request, and whether the body is form-encoded.

    ``content_type`` is not trusted: the body's own shape decides how it is parsed.
    """
    params: dict[str, str] = {}
    for k, v in _decode(query, "the query string"):
        if k in params:
            raise ApiError(PARAM_ERROR, f"Duplicate parameter '{k}'.")
        params[k] = v
    if not body.strip():
        return _without_nul(params), False
    body_params: dict[str, str] = {}
    is_form = False
    if body_is_json(body):
        try:
            data = json.loads(body, parse_float=Decimal, parse_int=int, object_pairs_hook=_object)
        except (ValueError, RecursionError):
            raise ApiError(PARAM_ERROR, "The request body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise ApiError(PARAM_ERROR, "The JSON body must be an object.")
        for k, v in data.items():
            s = _to_str(v)
            if s is not None:
                if not (encodable(k) and encodable(s)):  # a lone surrogate escape ("\ud800")
                    raise ApiError(ILLEGAL_CHARACTERS, "Illegal characters found in the body.")
                body_params[str(k)] = s
    else:
        is_form = True
        for k, v in _decode(body, "the body"):
            if k in body_params:
                raise ApiError(PARAM_ERROR, f"Duplicate parameter '{k}'.")
            body_params[k] = v
    for k, v in body_params.items():
        if params.setdefault(k, v) != v:
            raise ApiError(
                PARAM_ERROR, f"Parameter '{k[:64]}' has different values in the query and the body."
            )
    return _without_nul(params), is_form


def _without_nul(params: dict[str, str]) -> dict[str, str]:
    """``params``, refused if a name or value holds NUL (PostgreSQL text cannot: a 500 there)."""
    for k, v in params.items():
        if "\x00" in k or "\x00" in v:
            raise ApiError(PARAM_ERROR, f"Parameter {k[:64]!r} contains a NUL character.")
    return params


def parse_int(name: str, text: str, minimum: int | None = None, maximum: int | None = None) -> int:
    if not _INT.fullmatch(text):
        raise invalid(name, "not a valid integer")
    value = int(text)
    if value > INT64_MAX or value < -INT64_MAX:
        raise invalid(name, "out of range")
    if minimum is not None and value < minimum:
        raise invalid(name, f"must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise invalid(name, f"must be at most {maximum}")
    return value


def check_decimal(name: str, text: str) -> str:
    """A plain non-negative decimal string (no sign, exponent, spaces, NaN or Infinity)."""
    if not _DEC.fullmatch(text):
        raise invalid(name, "not a valid number")
    return text


def validate(specs: tuple[P, ...], params: dict[str, str]) -> dict[str, Any]:
    """Check ``params`` against ``specs``; returns the converted values of those sent.
    Parameters without a spec are ignored."""
    out: dict[str, Any] = {}
    for spec in specs:
        raw = params.get(spec.name)
        if raw == "" and spec.empty_ok:
            out[spec.name] = ""
            continue
        if raw is None or raw == "":
            if spec.required:
                raise missing(spec.name)
            continue
        out[spec.name] = convert(spec, raw)
    return out


def convert(spec: P, raw: str) -> Any:
    name, kind = spec.name, spec.kind
    if len(raw) > 20_000:
        raise invalid(name, "too long")
    if kind == "int":
        if (spec.clamp or name == "limit") and spec.maximum is not None:
            return min(parse_int(name, raw, spec.minimum), spec.maximum)
        return parse_int(name, raw, spec.minimum, spec.maximum)
    if kind == "decimal":
        return check_decimal(name, raw)
    if kind == "enum":
        if raw not in spec.enum:
            raise invalid(name, "must be one of " + ", ".join(repr(e) for e in spec.enum if e))
        return raw
    if kind == "symbol":
        if not _SYMBOL.fullmatch(raw):
            raise ApiError(-1121, "Invalid symbol.")
        return raw
    if kind == "symbols":
        items = [s.strip() for s in raw.split(",") if s.strip()]
        if not items:
            raise missing(name)
        if spec.max_items is not None and len(items) > spec.max_items:
            raise invalid(name, f"at most {spec.max_items} symbols")
        for s in items:
            if not _SYMBOL.fullmatch(s):
                raise ApiError(-1121, "Invalid symbol.")
        return list(dict.fromkeys(items))
    if kind == "client_id":
        if not _CLIENT_ID.fullmatch(raw):
            raise invalid(name, "1 to 64 characters of letters, digits and _-.:/@#")
        return raw
    if kind == "json":
        try:
            return json.loads(raw, parse_float=Decimal, parse_int=int, object_pairs_hook=_object)
        except (ValueError, RecursionError):
            raise invalid(name, "not valid JSON") from None
    if len(raw) > 256:
        raise invalid(name, "too long")
    return raw
