"""``bourse accounts ...`` and ``bourse deposit``: accounts and sandbox deposits (operations
``accounts.*``)."""

from __future__ import annotations

from typing import Annotated

import typer

from bourse.cli.common import DbOption, JsonOption, console, print_json, table
from bourse.cli.runner import run

accounts_app = typer.Typer(help="Open and list accounts.", no_args_is_help=True)


@accounts_app.command("open")
def accounts_open(
    kind: Annotated[
        str, typer.Option(help="USER, BROKER_MASTER or BROKER_SUB.", case_sensitive=False)
    ] = "USER",
    name: Annotated[str, typer.Option(help="A name for the account.")] = "",
    parent: Annotated[
        int | None, typer.Option(help="Master account of a BROKER_SUB account.")
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Open a new account and print its id."""
    res = run(db, "accounts.open", {"kind": kind, "name": name, "parent": parent}, quiet=as_json)
    if as_json:
        print_json({"account": res["account"], "kind": res["kind"]})
        return
    console.print(f"[green]opened account[/] {res['account']} ({res['kind']})")


@accounts_app.command("list")
def accounts_list(
    kind: Annotated[str | None, typer.Option(help="Only this kind (e.g. USER).")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List accounts (not the system ones)."""
    rows = run(db, "accounts.list", {"kind": kind}, quiet=as_json)
    if as_json:
        print_json(rows)
        return
    table(
        "Accounts",
        ("id", "kind", "name", "parent", "frozen"),
        [
            (
                str(r["account"]),
                r["kind"],
                r["name"],
                "" if r["parent"] is None else str(r["parent"]),
                "yes" if r["frozen"] else "",
            )
            for r in rows
        ],
        keep=("name",),
    )


def deposit(
    account: Annotated[int, typer.Argument(help="Account id to credit.")],
    asset: Annotated[str, typer.Argument(help="Asset code, e.g. USDT.")],
    amount: Annotated[str, typer.Argument(help="Decimal amount, e.g. 1000 or 0.5.")],
    tx_ref: Annotated[
        str | None,
        typer.Option(help="Deposit reference; repeating one credits only once."),
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Credit a sandbox deposit to an account (as if it had arrived on chain)."""
    res = run(
        db,
        "accounts.deposit",
        {"account": account, "asset": asset, "amount": amount, "tx_ref": tx_ref},
        quiet=as_json,
    )
    if as_json:
        print_json(res)
        return
    code = res["asset"]
    if not res["credited"]:
        console.print(f"[yellow]deposit {res['txRef']} was already credited[/]")
    else:
        console.print(f"[green]credited[/] {res['amount']} {code} to {account}")
    console.print(f"available: {res['available']} {code}")
