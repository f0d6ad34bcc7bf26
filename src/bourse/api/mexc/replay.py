"""A signed request's identity, for refusing replays (``bourse.engine.replays``).

MEXC has no nonce: the same signed request authenticates again and again within its
``recvWindow``. Its identity is the API key plus its signature (the HMAC over everything
signed, so any change to the request changes it; lower-cased, as hex digits of either case
verify). Requests authenticated by an OAuth Bearer token carry no signature and have none.
"""

from __future__ import annotations

import hashlib

from bourse.api.mexc.context import Ctx


def request_key(ctx: Ctx) -> str:
    """``<api key>:<signature>`` of the signed request ("" without a signature)."""
    if ctx.key is None or ctx.principal is not None or not ctx.signature:
        return ""
    return f"{ctx.key.api_key}:{ctx.signature}"  # the one signature authentication checked


def replay_key(ctx: Ctx, part: str = "") -> str:
    """The engine's replay key of this request (of its ``part``, e.g. one order of a batch):
    a SHA-256 digest of ``request_key``, or "" when the request has no signature."""
    key = request_key(ctx)
    if not key:
        return ""
    return hashlib.sha256(f"{key}#{part}".encode()).hexdigest()
