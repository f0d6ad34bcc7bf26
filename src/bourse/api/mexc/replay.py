"""A signed request's identity, for refusing replays (``bourse.engine.replays``).

MEXC has no nonce: the same signed request authenticates again and again within its
``recvWindow``. Its identity is the API key plus its signature (the HMAC over everything
signed, so any change to the request changes it; lower-cased, as hex digits of either case
verify). Requests authenticated by an OAuth Bearer token carry no signature and have none.

Every signed request but a read is ``claim``-ed before its handler runs (``Endpoint.claims``),
so a copy is refused: one that mints, rotates or reveals a credential (an API key, a secret, a
listenKey, a sub-account) would hand its sender the new secret. The endpoints whose commands
carry their own replay keys (orders, withdrawals, transfers: atomic with the movement) are
not claimed twice. A request whose JSON body was outside its signature
(``bourse.api.mexc.auth``) is always claimed: whoever saw its signature could send it again
with any body, so the signature serves one request, whatever client id the body carries.

Such a signature covers the time window alone, as ccxt's signature of a read such as
``GET /api/v3/account`` does, so the same signature could serve both. A read is not claimed
(no durable commit on reads); the gateway remembers its key instead (``remember_read``,
``bourse.services.signed_reads``) until its window ends, and a claim refuses a key seen on a
read (docs/security.md: what this covers across gateways).
"""

from __future__ import annotations

import hashlib

from bourse.api.mexc.context import Ctx
from bourse.domain.errors import ReplayedRequest
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


async def claim(ctx: Ctx, window_only: bool = False) -> None:
    """Accept this signed request's signature once (the engine's replay keys: refused with
    ``ReplayedRequest``, code 26, when seen within the window, durable across restarts).
    ``window_only``: the signature covers the time window alone, so it is refused as well
    when a read already showed it (``remember_read``). Nothing to claim without a signature
    (an OAuth Bearer request)."""
    key = replay_key(ctx, WHOLE_REQUEST)
    if not key:
        return
    if window_only and ctx.services.signed_reads.seen(key, ctx.now):
        raise ReplayedRequest("Duplicate request: this signature was already used to read.")
    await ctx.services.engine.run(c.ClaimReplayKey(key))


def remember_read(ctx: Ctx, until: int) -> None:
    """Remember the signature of this read over the time window alone until ``until`` (the
    last ms it authenticates), so that no claiming request spends it."""
    key = replay_key(ctx, WHOLE_REQUEST)
    if key:
        ctx.services.signed_reads.add(key, until, ctx.now)
