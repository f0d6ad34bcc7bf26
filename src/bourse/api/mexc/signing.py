"""MEXC request signatures: HMAC-SHA256, lowercase hex, over ``raw query + raw body``.

MEXC's rule: the signed string is the query string as sent, followed directly (no ``&``) by the
body as sent, with the ``signature=...`` pair taken out from wherever it stands (MEXC's Python
demo sends ``...&signature=S&timestamp=T`` having signed ``...&timestamp=T``).

Clients sign the parameter string as *they* encode it, and then their HTTP library may encode
the same parameters differently on the wire (a space as ``+`` or ``%20``, ``/`` or ``,`` raw or
escaped). So besides the raw bytes we accept the same decoded parameters, in the order received,
re-encoded the few ways real MEXC clients encode them (``ENCODINGS``), and only where that
re-encoding reads back as exactly those parameters: a candidate that could mean other
parameters (a name holding ``&`` or ``=``, or ``%``, ``+`` or ``&`` in a value, written
unencoded) would let a copy regroup the signed bytes, e.g. fold ``newClientOrderId=...`` into
a parameter name nobody reads. ``true``/``false`` may have been signed as Python's
``True``/``False``: the same value, and parsed as such.

A request split between query and form body is accepted by the raw rule only where the split
falls between two whole pairs (the query ends and the body starts with ``name=``): as the rule
joins them with nothing between, a copy split inside a pair would make it two (a client id or
a price cut short). Only a value holding a raw ``=`` stays ambiguous there; no client sends one.

A JSON body is covered by the raw rule alone (query + body as sent). ccxt's broker POSTs sign
the query alone and send a JSON body outside the signature; only the endpoints ccxt sends that
way take it (``verify_query``, ``bourse.api.mexc.auth``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterator
from urllib.parse import parse_qsl, quote, quote_plus

_SIG = b"signature="
_AMP = ord("&")
Pairs = list[tuple[str, str]]


def _quote_all(value: str) -> str:
    return quote(value, safe="")


def _quote_path(value: str) -> str:
    return quote(value, safe="/")


#: how clients encode a value before signing: ``urlencode`` (``+`` for a space: MEXC's Python
#: demo, requests on the wire), ``%20`` for a space (pymexc), ``quote`` with ``/`` kept (the
#: demo's ``batchOrders``), and no encoding at all (hand-built query strings).
ENCODINGS: tuple[Callable[[str], str], ...] = (quote_plus, _quote_all, _quote_path, str)


#: pymexc signs ``urlencode({"mxDeductEnable": True})`` (``True``) while requests sends ``true``:
#: the same boolean, so a payload with Python's spelling of the booleans also verifies
_BOOLEANS = {"true": "True", "false": "False"}


def sign(secret: str | bytes, payload: str | bytes) -> str:
    """``lowercase_hex(HMAC_SHA256(secret, payload))``."""
    key = secret.encode() if isinstance(secret, str) else secret
    msg = payload.encode() if isinstance(payload, str) else payload
    # not hmac.digest: its one-shot releases the GIL around every HMAC, however short, and
    # on a loaded server each release hands the GIL to the engine's threads (measured: twice
    # the context switches per order and ~35% more CPU per order, BENCHMARKS.md)
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def strip_signature(raw: bytes) -> tuple[bytes, list[bytes]]:
    """``raw`` (a query string or form body) without its ``signature=`` parameters, and their
    raw values (still percent-encoded)."""
    if _SIG not in raw:
        return raw, []
    at = raw.find(_SIG)
    if (at == 0 or raw[at - 1] == _AMP) and raw.find(_SIG, at + 1) < 0 and raw.find(b"&", at) < 0:
        # the common case: one signature, sent last (or alone)
        return raw[: max(at - 1, 0)], [raw[at + len(_SIG) :]]
    kept: list[bytes] = []
    found: list[bytes] = []
    for part in raw.split(b"&"):
        if part.startswith(_SIG):
            found.append(part[len(_SIG) :])
        else:
            kept.append(part)
    return b"&".join(kept), found


#: a request's query and body without their ``signature=`` pairs (a JSON body as sent), and
#: the signature values found, query first (``strip_request``)
Stripped = tuple[bytes, bytes, list[bytes]]


def strip_request(query: bytes, body: bytes, body_is_form: bool) -> Stripped:
    """``query`` and ``body`` without their signatures, each stripped once: what MEXC's rule
    signs is their concatenation, and ``verify_request`` reads the parameters from them."""
    q, sigs = strip_signature(query)
    if body_is_form and body:
        body, more = strip_signature(body)
        sigs += more
    return q, body, sigs


def _whole_pairs_split(q: bytes, b: bytes) -> bool:
    """Whether a query and form body (without their signatures) meet between two whole pairs:
    the query's last pair and the body's first both hold ``=`` after a name (or one side is
    empty)."""
    if not q or not b:
        return True
    last = q[q.rfind(b"&") + 1 :]
    end = b.find(b"&")
    first = b if end < 0 else b[:end]
    return last.find(b"=") > 0 and first.find(b"=") > 0


def _pairs(q: bytes, form: bytes) -> Pairs | None:
    """The decoded parameters of a query and form body without their signatures, in order
    (None: not UTF-8)."""
    try:
        pairs = parse_qsl(q.decode(), keep_blank_values=True)
        return pairs + parse_qsl(form.decode(), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        return None


def alternatives(pairs: Pairs) -> Iterator[tuple[bytes, Pairs]]:
    """The other payloads a client may have signed for these parameters (after MEXC's raw
    rule), each with the parameters it must read back as to count (``_reads_as``)."""
    for enc in ENCODINGS:
        yield "&".join(f"{enc(k)}={enc(v)}" for k, v in pairs).encode(), pairs
    if any(v in _BOOLEANS for _, v in pairs):  # signed as Python writes a bool, sent lowercase
        spelled = [(k, _BOOLEANS.get(v, v)) for k, v in pairs]
        yield "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in spelled).encode(), spelled


def _reads_as(payload: bytes, pairs: Pairs) -> bool:
    """Whether ``payload`` parses back as exactly ``pairs``: names, values and order."""
    return parse_qsl(payload.decode(), keep_blank_values=True) == pairs


def verify(secret: str, payload: bytes, signature: bytes) -> bool:
    """Constant-time comparison of ``signature`` with the expected lowercase hex digest."""
    expected = sign(secret, payload).encode()
    return hmac.compare_digest(expected, signature.strip().lower())


def verify_request(
    secret: str,
    query: bytes,
    body: bytes,
    body_is_form: bool,
    signature: bytes,
    stripped: Stripped | None = None,
) -> bool:
    """Whether ``signature`` signs this request, body included, under MEXC's rule or one of
    the equivalent encodings. The raw rule is tried first, so a request signed as MEXC says
    costs one HMAC; which candidate matched says nothing about the secret. ``stripped``: the
    request's ``strip_request`` when the caller has it already (query and body are then
    stripped once, whichever rule decides)."""
    q, b, _ = strip_request(query, body, body_is_form) if stripped is None else stripped
    if (not body_is_form or _whole_pairs_split(q, b)) and verify(secret, q + b, signature):
        return True
    if body and not body_is_form:  # a JSON body: the raw rule only
        return False
    pairs = _pairs(q, b)  # b: the form body, or b"" (no body)
    if pairs is None:
        return False
    for payload, means in alternatives(pairs):
        if verify(secret, payload, signature):
            return _reads_as(payload, means)
    return False


def verify_query(secret: str, stripped: Stripped, signature: bytes) -> bool:
    """Whether ``signature`` signs the query string alone, as sent (ccxt's broker POSTs: the
    JSON body is then outside the signature, ``bourse.api.mexc.auth``); ``stripped``: the
    request's ``strip_request``, whose query is already without its signature."""
    return verify(secret, stripped[0], signature)
