"""``bourse audit``: the operator audit log (operation ``audit.list``), or with ``--money`` the
money movements and their origins (operation ``audit.money``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from bourse.cli.common import DbOption, JsonOption, print_json, table
from bourse.cli.runner import run


def audit_cmd(
    limit: Annotated[int, typer.Option(min=1, help="How many of the newest rows.")] = 50,
    operation: Annotated[str | None, typer.Option(help="Only this operation.")] = None,
    reads: Annotated[
        bool, typer.Option("--reads/--actions-only", help="Include the operations that only read.")
    ] = True,
    money: Annotated[
        bool, typer.Option("--money", help="Money movements and who made them instead.")
    ] = False,
    account: Annotated[
        int | None,
        typer.Option(help="With --money: only the movements in or out of this account."),
    ] = None,
    origin: Annotated[
        str | None,
        typer.Option(help="With --money: only origins starting so (api_key:, oauth:, operator)."),
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Who did what, when and from where, through the operator API or this command; with
    --money, every money movement with its origin and request id, one row per account it
    moved money in (+) or out of (-)."""
    if money:
        _money(limit, account, origin, db, as_json)
        return
    params = {"limit": limit, "operation": operation, "reads": reads}
    rows = run(db, "audit.list", params, quiet=as_json)
    if as_json:
        print_json(rows)
        return
    table(
        "Operator audit log",
        ("time (UTC)", "actor", "from", "operation", "outcome", "detail"),
        [
            (
                datetime.fromtimestamp(r["time"] / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S"),
                r["actor"],
                r["source"],
                r["operation"],
                r["outcome"],
                r["detail"],
            )
            for r in rows
        ],
        keep=("time (UTC)", "actor", "operation"),
    )


def _money(
    limit: int, account: int | None, origin: str | None, db: str | None, as_json: bool
) -> None:
    params = {"limit": limit, "account": account, "origin": origin}
    rows = run(db, "audit.money", params, quiet=as_json)
    if as_json:
        print_json(rows)
        return
    table(
        "Money movements",
        ("time (UTC)", "command", "account", "asset", "amount", "origin", "request id"),
        [
            (
                datetime.fromtimestamp(r["time"] / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S"),
                r["command"],
                "" if r["account"] is None else str(r["account"]),
                r["asset"],
                _signed(r["amount"], r["direction"]),
                r["origin"],
                r["request_id"],
            )
            for r in rows
        ],
        keep=("time (UTC)", "command", "origin"),
    )


def _signed(amount: str | None, direction: str) -> str:
    """The amount as the table shows it: "+" into the account, "-" out of it, bare for a
    withdrawal step that held or released it."""
    if amount is None:
        return ""
    return {"in": "+", "out": "-"}.get(direction, "") + str(amount)
