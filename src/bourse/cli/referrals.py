"""``bourse referrals``: refer codes, invitations and the kickback run.

bourse referrals code 100            # account 100's refer code
bourse referrals invite 101 CODE     # account 101 becomes the invitee of CODE's owner
bourse referrals accrue              # accrue and pay kickbacks (the server also does it live)
"""

from __future__ import annotations

from typing import Annotated

import typer

from bourse.cli.common import DbOption, JsonOption, out, unpaid
from bourse.cli.runner import run

referrals_app = typer.Typer(
    help="User referrals: refer codes, invitations, kickbacks on invitees' fees.",
    no_args_is_help=True,
)


@referrals_app.command("code")
def code_cmd(
    account: Annotated[int, typer.Argument(help="The account id.")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show an account's refer code (made on first use)."""
    res = run(db, "referrals.code", {"account": account}, quiet=as_json)
    out(as_json, res, f"account {res['account']}: refer code [bold]{res['referCode']}[/]")


@referrals_app.command("invite")
def invite_cmd(
    account: Annotated[int, typer.Argument(help="The invitee's account id.")],
    code: Annotated[str, typer.Argument(help="The inviter's refer code.")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Make an account the invitee of a refer code's owner (once)."""
    res = run(db, "referrals.invite", {"account": account, "code": code}, quiet=as_json)
    out(as_json, res, f"account {res['account']} is invited by account {res['inviter']}")


@referrals_app.command("accrue")
def accrue_cmd(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Accrue kickbacks on trades not yet seen and pay them (idempotent).

    Exits 1 when a payout failed (the engine refused it; the next run tries again)."""
    res = run(db, "referrals.accrue", quiet=as_json)
    text = (
        f"accrued {res['kickbacks']} kickback(s) from {res['trades']} trade(s); "
        f"paid {res['paid']} payout(s), failed {len(res['failed'])}; cursor {res['cursor']}"
    )
    out(as_json, res, text)
    if (refused := unpaid(res["failed"], 0, "the next run tries again")) is not None:
        raise refused
