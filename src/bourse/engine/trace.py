"""Who asked for a command, carried from the edge into the engine without touching commands.

The gateway (a request's middleware, the operator API, the sandbox endpoints) sets
``current`` for the task or thread it serves; ``Engine.submit`` captures it with the command,
so the engine can write a money movement's origin and request id in the same transaction as
the movement (``engine.handlers`` leaves commands as plain values). ``Trace()`` (no request,
origin ``system``) is what background work (followers, the chain, schedulers) submits under.

A movement is audited as one row per account and asset it moved money in or out of
(``origin_records``), so each account's rows list every movement of its money: a transfer's
sender and receiver, each payee of a rebate payout and the fee revenue paying it, both sides of
a dust conversion, a deposit's chain clearing.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass

from bourse.domain.ledger import P_AMOUNT, P_ASSET, P_FROM_ACCOUNT, P_REF, P_TO_ACCOUNT, Posting
from bourse.engine import commands as c
from bourse.engine.changes import OriginRecord

__all__ = ["MONEY_MOVEMENTS", "SYSTEM", "Trace", "current", "origin_records", "set_origin"]


@dataclass(frozen=True, slots=True)
class Trace:
    """``request_id``: the HTTP request's id (``X-Request-Id``); ``origin``: who moved the
    money: ``api_key:<key>``, ``oauth:<client id>``, ``operator:<actor>``, ``sandbox``,
    ``system`` (background work); ``command_seq``: the command stream's sequence of the message
    that carried the command (``bus.engine_server``), 0 for a command from anywhere else: the
    engine commits the last one it applied with the batch, so an engine taking over skips what
    its predecessor committed (exactly once, also for commands with no client id)."""

    request_id: str = ""
    origin: str = "system"
    command_seq: int = 0


SYSTEM = Trace()

#: the trace of the request (or operator action) this task or thread serves
current: ContextVar[Trace] = ContextVar("bourse_trace", default=SYSTEM)


def set_origin(origin: str) -> None:
    """Name who acts in the current context, keeping its request id."""
    current.set(Trace(current.get().request_id, origin[:128]))


#: commands that move money (or a withdrawal's state): each is recorded with its origin
MONEY_MOVEMENTS: frozenset[type[c.Command]] = frozenset(
    {
        c.Transfer,
        c.CreditDeposit,
        c.ReserveWithdrawal,
        c.MarkWithdrawalProcessing,
        c.ApproveWithdrawal,
        c.RejectWithdrawal,
        c.SettleWithdrawal,
        c.VoidWithdrawal,
        c.ConvertDust,
        c.PayRebates,
        c.ResetBalances,
    }
)

_MAIN = ("account", "from_account", "asset", "amount")
#: movements whose id (a deposit's; a rebate settlement's, the ledger's ref of each payout) is
#: the ref of every one of their postings, not their result
_POSTED_REF = (c.CreditDeposit, c.PayRebates)


def origin_records(
    cmd: c.Command, trace: Trace, result: object, now: int, postings: Sequence[Posting]
) -> list[OriginRecord]:
    """The audit rows of money movement ``cmd``, whose own ledger postings are ``postings``.

    One row per account and asset the movement moved money into (``direction`` "in") or out
    of ("out"), with the amount it gained or lost: the account the command names first (a
    transfer's sender, a deposit's or a dust conversion's account, a withdrawal's), then the
    others as the postings met them. A movement that moved nothing between accounts (a
    withdrawal reserved, approved, broadcast, cancelled: funds held or released within the
    account, or only its state changed) is one row of direction "" with the command's, else
    its withdrawal's, account, asset and amount. The first row (``leg`` 0) carries the
    command's other fields as JSON in ``detail``; the others its single-valued fields, all of
    them (who sent, which key), not the lists the first row holds (payouts, reset targets)."""
    fields = {f.name: getattr(cmd, f.name) for f in dataclasses.fields(cmd)}  # type: ignore[arg-type]
    subject = fields.get("account", fields.get("from_account", getattr(result, "account", None)))
    net = _net(postings)
    legs: list[tuple[int | None, str, int | None, str]] = [
        (account, asset, abs(units), "in" if units > 0 else "out")
        for (account, asset), units in sorted(net.items(), key=lambda kv: kv[0][0] != subject)
        if units
    ]
    if not legs:
        asset = fields.get("asset", getattr(result, "asset", ""))
        amount = fields.get("amount", getattr(result, "amount", None))
        legs.append(
            (
                subject if isinstance(subject, int) else None,
                asset if isinstance(asset, str) else "",
                amount if isinstance(amount, int) else None,
                "",
            )
        )
    rest = {k: v for k, v in fields.items() if k not in _MAIN}
    scalars = {k: v for k, v in fields.items() if not isinstance(v, (tuple, list))}
    ref = getattr(result, "id", result)  # a withdrawal's, a dust conversion's; a transfer id
    if isinstance(cmd, _POSTED_REF) and postings:
        ref = postings[0][P_REF]  # they answer a bool: the id is on their postings
    return [
        OriginRecord(
            time=now,
            command=type(cmd).__name__,
            origin=trace.origin,
            request_id=trace.request_id,
            account=account,
            asset=asset,
            amount=amount,
            direction=direction,
            leg=leg,
            ref=ref if isinstance(ref, int) and not isinstance(ref, bool) else None,
            detail=json.dumps(
                scalars if leg else rest, sort_keys=True, default=str, separators=(",", ":")
            ),
        )
        for leg, (account, asset, amount, direction) in enumerate(legs)
    ]


def _net(postings: Sequence[Posting]) -> dict[tuple[int, str], int]:
    """The units each (account, asset) gained (negative: lost) from other accounts, in the
    order the postings first name them; a posting within one account (a hold, a release)
    moves nothing in or out of it."""
    net: dict[tuple[int, str], int] = {}
    for p in postings:
        src, dst = p[P_FROM_ACCOUNT], p[P_TO_ACCOUNT]
        if src != dst:
            asset, units = p[P_ASSET], p[P_AMOUNT]
            net[src, asset] = net.get((src, asset), 0) - units
            net[dst, asset] = net.get((dst, asset), 0) + units
    return net
