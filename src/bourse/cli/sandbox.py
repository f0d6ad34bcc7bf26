"""``bourse sandbox ...``: a tester's controls of a running demo (operations ``sandbox.*``,
refused outside demo mode)."""

from __future__ import annotations

from typing import Annotated

import typer

from bourse.cli.common import DbOption, JsonOption, out
from bourse.cli.runner import run

sandbox_app = typer.Typer(
    help="Sandbox controls of a running demo (bourse serve --demo).", no_args_is_help=True
)


@sandbox_app.command("faucet")
def faucet_cmd(
    account: Annotated[int, typer.Argument(help="Account or sub-account id to fund.")],
    asset: Annotated[str, typer.Argument(help="Asset code, e.g. USDT.")],
    amount: Annotated[str, typer.Argument(help="Decimal amount, e.g. 1000.")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Credit test funds (capped per account and asset over a rolling day)."""
    res = run(
        db, "sandbox.faucet", {"account": account, "asset": asset, "amount": amount}, quiet=as_json
    )
    out(
        as_json,
        res,
        f"[green]credited[/] {res['amount']} {res['asset']} to {account}; available "
        f"{res['available']}; the faucet can still give {res['remaining']} {res['asset']} today",
    )
