"""Who asked for a command, carried from the edge into the engine without touching commands.

The gateway (a request's middleware, the operator API, the sandbox endpoints) sets
``current`` for the task or thread it serves; ``Engine.submit`` captures it with the command,
so the engine can write a money movement's origin and request id in the same transaction as
the movement (``engine.handlers`` leaves commands as plain values). ``Trace()`` (no request,
origin ``system``) is what background work (followers, the chain, schedulers) submits under.
"""

from __future__ import annotations

import dataclasses
import json
from contextvars import ContextVar
from dataclasses import dataclass

from bourse.engine import commands as c
from bourse.engine.changes import OriginRecord

__all__ = ["MONEY_MOVEMENTS", "SYSTEM", "Trace", "current", "origin_record", "set_origin"]


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


def origin_record(cmd: c.Command, trace: Trace, result: object, now: int) -> OriginRecord:
    """The audit row of money movement ``cmd`` (its main fields as columns, the rest as JSON)."""
    fields = {f.name: getattr(cmd, f.name) for f in dataclasses.fields(cmd)}  # type: ignore[arg-type]
    account = fields.get("account", fields.get("from_account"))
    amount = fields.get("amount")
    rest = {k: v for k, v in fields.items() if k not in _MAIN}
    ref = getattr(result, "id", None)
    return OriginRecord(
        time=now,
        command=type(cmd).__name__,
        origin=trace.origin,
        request_id=trace.request_id,
        account=account if isinstance(account, int) else None,
        asset=str(fields.get("asset", "")),
        amount=amount if isinstance(amount, int) else None,
        ref=ref if isinstance(ref, int) else None,
        detail=json.dumps(rest, sort_keys=True, default=str, separators=(",", ":")),
    )
