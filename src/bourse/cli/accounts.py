"""``bourse accounts ...`` and ``bourse deposit``: accounts and sandbox deposits (operations
``accounts.*``)."""

from __future__ import annotations

from typing import Annotated

import typer

from bourse.cli.common import DbOption, JsonOption, console, out, print_json, table
from bourse.cli.runner import run

accounts_app = typer.Typer(
    help="Open, list, find and show accounts; freeze and unfreeze them.", no_args_is_help=True
)


@accounts_app.command("open")
def accounts_open(
    kind: Annotated[
        str, typer.Option(help="USER, BROKER_MASTER or BROKER_SUB.", case_sensitive=False)
    ] = "USER",
    name: Annotated[str, typer.Option(help="A name for the account.")] = "",
    parent: Annotated[
        int | None, typer.Option(help="Parent of a BROKER_SUB account (a USER or BROKER_MASTER).")
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


@accounts_app.command("search")
def accounts_search(
    query: Annotated[str, typer.Argument(help="An account id, or part of a name (e-mail).")],
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 50,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Find accounts by id or by name (a user's account is named after the e-mail)."""
    rows = run(db, "accounts.search", {"query": query, "limit": limit}, quiet=as_json)
    if as_json:
        print_json(rows)
        return
    table(
        "Accounts",
        ("id", "kind", "name", "frozen"),
        [(str(r["account"]), r["kind"], r["name"], "yes" if r["frozen"] else "") for r in rows],
        keep=("name",),
    )


@accounts_app.command("show")
def accounts_show(
    account: Annotated[int, typer.Argument(help="Account id.")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """An account and its balances (free and locked)."""
    res = run(db, "accounts.show", {"account": account}, quiet=as_json)
    if as_json:
        print_json(res)
        return
    state = "frozen" if res["frozen"] else "active"
    table(
        f"Account {res['account']} ({res['kind']}, {state}) {res['name']}",
        ("asset", "free", "locked"),
        [(b["asset"], b["free"], b["locked"]) for b in res["balances"]],
    )


@accounts_app.command("freeze")
def accounts_freeze(
    account: Annotated[int, typer.Argument(help="Account id.")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Freeze an account: its open orders are cancelled, what it asks next is refused."""
    res = run(db, "accounts.freeze", {"account": account}, quiet=as_json)
    out(as_json, res, f"[green]froze account[/] {res['account']}")


@accounts_app.command("unfreeze")
def accounts_unfreeze(
    account: Annotated[int, typer.Argument(help="Account id.")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Unfreeze an account."""
    res = run(db, "accounts.unfreeze", {"account": account}, quiet=as_json)
    out(as_json, res, f"[green]unfroze account[/] {res['account']}")


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
