"""MEXC request signatures: HMAC-SHA256, lowercase hex, over ``raw query + raw body``.

The signed string is the query string exactly as sent, followed directly (no ``&``) by the body
exactly as sent, with the ``signature=...`` parameter removed from wherever it was. Nothing is
decoded or re-encoded before hashing, so percent-encoding is whatever the client sent.

The signature may be in the query string or in a form-encoded body. A JSON body cannot carry it
(it would have to be cut out of the JSON text): send it in the query string.
"""

from __future__ import annotations

import hashlib
import hmac

_SIG = b"signature="


def sign(secret: str | bytes, payload: str | bytes) -> str:
    """``lowercase_hex(HMAC_SHA256(secret, payload))``."""
    key = secret.encode() if isinstance(secret, str) else secret
    msg = payload.encode() if isinstance(payload, str) else payload
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def strip_signature(raw: bytes) -> tuple[bytes, list[bytes]]:
    """``raw`` (a query string or form body) without its ``signature=`` parameters, and their
    raw values (still percent-encoded)."""
    if _SIG not in raw:
        return raw, []
    kept: list[bytes] = []
    found: list[bytes] = []
    for part in raw.split(b"&"):
        if part.startswith(_SIG):
            found.append(part[len(_SIG) :])
        else:
            kept.append(part)
    return b"&".join(kept), found


def signed_payload(query: bytes, body: bytes, body_is_form: bool) -> tuple[bytes, list[bytes]]:
    """The bytes a client signed, and every signature value found (query first)."""
    q, sigs = strip_signature(query)
    if body_is_form and body:
        body, more = strip_signature(body)
        sigs += more
    return q + body, sigs


def verify(secret: str, payload: bytes, signature: bytes) -> bool:
    """Constant-time comparison of ``signature`` with the expected lowercase hex digest."""
    expected = sign(secret, payload).encode()
    return hmac.compare_digest(expected, signature.strip().lower())
