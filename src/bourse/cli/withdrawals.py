"""``bourse withdrawals ...``: the review queue (operations ``withdrawals.*``)."""

from __future__ import annotations

from typing import Annotated

import typer

from bourse.cli.common import DbOption, JsonOption, out, print_json, table
from bourse.cli.runner import run

withdrawals_app = typer.Typer(help="Withdrawals waiting for review.", no_args_is_help=True)


@withdrawals_app.command("pending")
def pending(
    status: Annotated[str | None, typer.Option(help="Only REVIEW, PENDING or PROCESSING.")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Withdrawals not yet final, oldest first."""
    rows = run(db, "withdrawals.pending", {"status": status}, quiet=as_json)
    if as_json:
        print_json(rows)
        return
    table(
        "Withdrawals",
        ("id", "account", "amount", "fee", "status", "address"),
        [
            (
                str(r["id"]),
                str(r["account"]),
                f"{r['amount']} {r['asset']}",
                r["fee"],
                r["status"],
                r["address"],
            )  # fmt: skip
            for r in rows
        ],
        keep=("address",),
    )


@withdrawals_app.command("approve")
def approve(
    withdrawal: Annotated[int, typer.Argument(help="Withdrawal id.")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Release a withdrawal in review to the chain."""
    res = run(db, "withdrawals.approve", {"withdrawal": withdrawal}, quiet=as_json)
    out(as_json, res, f"[green]approved withdrawal[/] {res['id']} ({res['status']})")


@withdrawals_app.command("reject")
def reject(
    withdrawal: Annotated[int, typer.Argument(help="Withdrawal id.")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Refuse a withdrawal in review: it is cancelled and its funds released."""
    res = run(db, "withdrawals.reject", {"withdrawal": withdrawal}, quiet=as_json)
    out(as_json, res, f"[green]rejected withdrawal[/] {res['id']} ({res['status']})")
