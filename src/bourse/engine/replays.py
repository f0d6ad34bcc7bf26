"""Replays: a signed request that moves money is accepted once.

MEXC has no nonce: a signed request stays valid for its whole ``recvWindow`` (at most 60 s), so
whoever sees it (a proxy log, a retrying middlebox) could send it again and, without this, move
the money again. The gateway gives each money-moving command that carries no client id a
*replay key*, a digest of the API key and the request's signature (one key per order of a
batch). The engine refuses a command whose key it has already accepted, with
``ReplayedRequest``, and records the key in the same batch as the command, so the check and the
money movement are one atomic step, however many copies race, and a restart keeps the keys.

A command that carries a client id (``newClientOrderId``, ``clientTranId``, ``withdrawOrderId``)
is idempotent by it instead (``engine.idempotency``): a retry answers the first result. A
``ClaimReplayKey`` is the key alone, claimed whatever the request then does (a request whose
body its signature did not cover, ``bourse.api.mexc.auth``). Keys are
kept ``WINDOW_MS`` after the engine first saw them (longer than any request stays valid: the
longest recvWindow plus the 1 s a timestamp may run ahead), then forgotten.
"""

from __future__ import annotations

from bourse.domain.errors import ReplayedRequest
from bourse.engine import commands as c
from bourse.engine.changes import BatchChanges, ReplayRecord

#: how long an accepted replay key is refused again (ms): 60 s recvWindow + 1 s + margin
WINDOW_MS = 65_000


def replay_key(cmd: c.Command) -> str:
    """The key ``cmd`` is guarded by: its ``replay`` unless a client id makes it idempotent."""
    if isinstance(cmd, c.PlaceOrder):
        return "" if cmd.test or cmd.request.client_id else cmd.replay
    if isinstance(cmd, c.Transfer | c.ReserveWithdrawal):
        return "" if cmd.client_id else cmd.replay
    if isinstance(cmd, c.ClaimReplayKey):
        return cmd.replay
    return ""


class Replays:
    """The replay keys accepted within the window: key -> when it may be accepted again."""

    def __init__(self, seen: dict[str, int]) -> None:
        self.seen = seen
        self._prune_at = 2 * len(seen) + 1024

    def check(self, key: str, now: int) -> None:
        """Refuse ``key`` if it was accepted within the window."""
        until = self.seen.get(key)
        if until is not None and until > now:
            raise ReplayedRequest("Duplicate request: this signed request was already processed.")

    def remember(self, pending: BatchChanges, key: str, now: int) -> None:
        """Record ``key`` as accepted, and queue it for the batch's commit."""
        until = now + WINDOW_MS
        self.seen[key] = until
        pending.replays.append(ReplayRecord(key, until))
        pending.replays_expired_before = now
        if len(self.seen) > self._prune_at:
            self.seen = {k: v for k, v in self.seen.items() if v > now}
            self._prune_at = 2 * len(self.seen) + 1024
