"""A signed request's identity, for refusing replays (``bourse.engine.replays``).

MEXC has no nonce: the same signed request authenticates again and again within its
``recvWindow``. Its identity is the API key plus its signature (the HMAC over everything
signed, so any change to the request changes it; lower-cased, as hex digits of either case
verify). Requests authenticated by an OAuth Bearer token carry no signature and have none.

A request whose JSON body was outside its signature (``bourse.api.mexc.auth``) is ``claim``-ed
before it runs: whoever saw its signature could send it again with any body, so the signature
serves one request, whatever client id the body carries and whether or not the endpoint moves
money (a sub-account's API key, a sub-account itself).
"""

from __future__ import annotations

import hashlib

from bourse.api.mexc.context import Ctx
from bourse.engine import commands as c

#: the ``part`` of the replay key a request claims for its signature as a whole
WHOLE_REQUEST = "request"


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


async def claim(ctx: Ctx) -> None:
    """Accept this signed request's signature once (the engine's replay keys: refused with
    ``ReplayedRequest``, code 26, when seen within the window, durable across restarts)."""
    await ctx.services.engine.run(c.ClaimReplayKey(replay_key(ctx, WHOLE_REQUEST)))
