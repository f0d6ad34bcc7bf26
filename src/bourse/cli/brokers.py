"""``bourse brokers ...``: the operator's side of the broker program (operations
``brokers.*``).

    bourse brokers apply 100 --type API --name "Acme bots" --code acme
    bourse brokers approve 1
    bourse brokers set-rate 1 30%            # or 0.3, or --ppm 300000; --from <ms> to schedule
    bourse brokers suspend 1 --reason abuse
    bourse brokers list --status APPROVED
    bourse brokers show 1                    # its application: callback URL, note
    bourse brokers bind mx0v... 1            # on behalf of the key's owner
    bourse brokers keys 1                    # keys bound to broker 1 (never secrets)
    bourse brokers accrue && bourse brokers settle
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from bourse.cli.broker_oauth import oauth_app
from bourse.cli.common import (
    DbOption,
    JsonOption,
    console,
    fail,
    out,
    plain,
    print_json,
    table,
    unpaid,
)
from bourse.cli.runner import run

brokers_app = typer.Typer(
    help="Broker program: applications, review, rebate rates, key bindings, rebates.",
    no_args_is_help=True,
)

brokers_app.add_typer(oauth_app, name="oauth")

__all__ = ["brokers_app"]


@brokers_app.command("apply")
def apply_cmd(
    account: Annotated[int, typer.Argument(help="The broker's main account id.")],
    broker_type: Annotated[str, typer.Option("--type", help="API, INDEPENDENT or OAUTH.")] = "API",
    name: Annotated[str, typer.Option(help="Broker name.")] = "",
    code: Annotated[str | None, typer.Option(help="Optional `source` alias.")] = None,
    rebate_account: Annotated[
        int | None, typer.Option(help="Account receiving rebates (default: main).")
    ] = None,
    callback_url: Annotated[str, typer.Option(help="OAuth callback URL.")] = "",
    logo_url: Annotated[str, typer.Option(help="Logo URL.")] = "",
    note: Annotated[str, typer.Option(help="About the business, for the review.")] = "",
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register a broker application (PENDING)."""
    b = run(
        db,
        "brokers.apply",
        {
            "account": account,
            "type": broker_type,
            "name": name,
            "code": code,
            "rebate_account": rebate_account,
            "callback_url": callback_url,
            "logo_url": logo_url,
            "note": note,
        },
        quiet=as_json,
    )
    out(as_json, b, f"[green]broker {b['brokerId']}[/] applied ({b['status']})")


def _review(
    action: str,
    broker_id: int,
    reason: str | None,
    db: str | None,
    as_json: bool,
    **extra: Any,
) -> None:
    params: dict[str, Any] = {"broker": broker_id, **extra}
    if reason is not None:
        params["reason"] = reason
    b = run(db, f"brokers.{action}", params, quiet=as_json)
    text = f"[green]broker {b['brokerId']}[/] is {b['status']}"
    if "clientSecret" in b:
        text += (
            f"\nOAuth client_id [bold]{b['clientId']}[/]"
            f"\nclient_secret [bold]{b['clientSecret']}[/] (shown once)"
        )
    out(as_json, b, text)
    if not as_json and "hint" in b:  # one line, with a command to copy
        console.print(plain(b["hint"]), soft_wrap=True)


@brokers_app.command("approve")
def approve_cmd(
    broker_id: int,
    redirect_uri: Annotated[
        list[str] | None,
        typer.Option(
            "--redirect-uri",
            help="OAuth: an exact redirect URI of its client (repeatable; the callback URL of "
            "the application is not one unless given here; without any, /oauth/authorize "
            "refuses the client until one is added).",
        ),
    ] = None,
    oauth_scopes: Annotated[
        str | None, typer.Option(help='OAuth: scopes its clients may hold (default "read trade").')
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Approve (or reinstate) a broker."""
    _review(
        "approve",
        broker_id,
        None,
        db,
        as_json,
        redirect_uri=redirect_uri,
        oauth_scopes=oauth_scopes,
    )


@brokers_app.command("reject")
def reject_cmd(
    broker_id: int,
    reason: Annotated[str, typer.Option(help="Why.")] = "",
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Reject a pending application."""
    _review("reject", broker_id, reason, db, as_json)


@brokers_app.command("suspend")
def suspend_cmd(
    broker_id: int,
    reason: Annotated[str, typer.Option(help="Why.")] = "",
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Suspend an approved broker: it earns nothing until approved again."""
    _review("suspend", broker_id, reason, db, as_json)


@brokers_app.command("set-rate")
def set_rate_cmd(
    broker_id: int,
    rate: Annotated[str | None, typer.Argument(help='Share of fees: "30%" or "0.3".')] = None,
    ppm: Annotated[int | None, typer.Option(help="The rate in parts per million.")] = None,
    effective_from: Annotated[
        int | None, typer.Option("--from", help="Start (ms since epoch; default now).")
    ] = None,
    note: Annotated[str, typer.Option(help="A note for the history.")] = "",
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Set a broker's rebate rate (kept as history; never back-dated)."""
    if (rate is None) == (ppm is None):
        raise fail("give a rate or --ppm")
    ch = run(
        db,
        "brokers.set-rate",
        {
            "broker": broker_id,
            "rate": rate,
            "ppm": ppm,
            "effective_from": effective_from,
            "note": note,
        },
        quiet=as_json,
    )
    out(
        as_json,
        ch,
        f"[green]broker {broker_id}[/] rate {ch['ratePpm']} ppm from "
        f"{when(ch['effectiveFrom'])} UTC",
    )


def when(ms: int | None) -> str:
    """``ms`` since the epoch as a UTC time (the caller says UTC: in the line, or a column's
    header, as every time the command prints); ``-`` for none."""
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


@brokers_app.command("list")
def list_cmd(
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List brokers with their current rates."""
    rows = run(db, "brokers.list", {"status": status}, quiet=as_json)
    if as_json:
        print_json(rows)
        return
    table(
        "Brokers",
        (
            "id",
            "name",
            "code",
            "type",
            "status",
            "account",
            "rebate to",
            "rate",
            "callback URL",
            "note",
        ),
        [
            (
                str(r["brokerId"]),
                plain(r["name"]),  # the applicant's texts: no markup, no control character
                plain(r["code"] or ""),
                r["type"],
                r["status"],
                str(r["account"]),
                str(r["rebateAccount"]),
                f"{r['ratePpm'] / 10_000:g}%",
                plain(_gist(r["callbackUrl"] or "", URL_SHOWN)),
                plain(_gist(r["note"], NOTE_SHOWN)),
            )
            for r in rows
        ],
        keep=("name", "code", "callback URL"),
    )
    if any(
        _gist(r["note"], NOTE_SHOWN) != _flat(r["note"])
        or _gist(r["callbackUrl"] or "", URL_SHOWN) != _flat(r["callbackUrl"] or "")
        for r in rows
    ):
        console.print("whole notes and callback URLs: [bold]bourse brokers show ID[/]")


#: how much of an applicant's note and callback URL ``brokers list`` shows (``brokers show``
#: shows them whole): a long one would widen the table past any terminal
NOTE_SHOWN = 40
URL_SHOWN = 40


def _flat(text: str) -> str:
    return " ".join(text.split())


def _gist(text: str, shown: int) -> str:
    flat = _flat(text)
    return flat if len(flat) <= shown else flat[: shown - 1] + "…"


@brokers_app.command("show")
def show_cmd(broker_id: int, db: DbOption = None, as_json: JsonOption = False) -> None:
    """One broker: its application (callback URL, note about the business), status, rate."""
    b = run(db, "brokers.show", {"broker": broker_id}, quiet=as_json)
    if as_json:
        print_json(b)
        return
    reason = f" ({plain(b['reason'])})" if b["reason"] else ""
    lines = [
        f"[bold]broker {b['brokerId']}[/] {plain(b['name'])}: {b['type']}, {b['status']}{reason}",
        f"account {b['account']}, rebates to {b['rebateAccount']}, rate {b['ratePpm'] / 10_000:g}%",
        f"code: {plain(b['code'] or '-')}",
        f"callback URL: {plain(b['callbackUrl'] or '-')}",
        f"logo URL: {plain(b['logoUrl'] or '-')}",
    ]
    if "oauthScopes" in b:
        lines.append(f"OAuth scopes: {b['oauthScopes']}")
    lines += [
        f"applied: {when(b['applyTime'])} UTC, last change: {when(b['updateTime'])} UTC",
        "about the business:",
        plain(b["note"]) if b["note"] else "-",
    ]
    console.print("\n".join(lines), soft_wrap=True)


@brokers_app.command("bind")
def bind_cmd(
    api_key: str, broker_id: int, db: DbOption = None, as_json: JsonOption = False
) -> None:
    """Bind an API key to a broker on behalf of its owner (once per key, ever)."""
    b = run(db, "brokers.bind", {"api_key": api_key, "broker": broker_id}, quiet=as_json)
    out(as_json, b, f"[green]bound[/] {api_key} to broker {broker_id}")


@brokers_app.command("unbind")
def unbind_cmd(api_key: str, db: DbOption = None, as_json: JsonOption = False) -> None:
    """Unbind an API key (recorded; the key cannot be bound again)."""
    b = run(db, "brokers.unbind", {"api_key": api_key}, quiet=as_json)
    out(as_json, b, f"[green]unbound[/] {api_key} from broker {b['brokerId']}")


@brokers_app.command("keys")
def keys_cmd(
    broker_id: int,
    all_: Annotated[bool, typer.Option("--all", help="Include unbound keys.")] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Keys bound to a broker (never their secrets)."""
    rows = run(db, "brokers.keys", {"broker": broker_id, "all": all_}, quiet=as_json)
    if as_json:
        print_json(rows)
        return
    table(
        f"Keys bound to broker {broker_id}",
        ("api key", "uid", "symbols", "bound (UTC)", "unbound (UTC)"),
        [
            (
                r["apiKey"],
                str(r["uid"]),
                r["symbols"] or "all",
                when(r["bindTime"]),
                when(r["unbindTime"]),
            )
            for r in rows
        ],
        keep=("api key", "uid", "bound (UTC)", "unbound (UTC)"),
    )


@brokers_app.command("accrue")
def accrue_cmd(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Accrue rebates for every attributed trade not yet accrued (idempotent)."""
    res = run(db, "brokers.accrue", quiet=as_json)
    out(
        as_json,
        res,
        f"accrued {res['records']} rebate(s) from {res['trades']} trade(s); cursor {res['cursor']}",
    )


@brokers_app.command("settle")
def settle_cmd(
    broker: Annotated[int | None, typer.Option(help="Only this broker.")] = None,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Put failed rebates back to pending first.")
    ] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Accrue, then pay pending rebates (each payout once, however often this runs).

    Exits 1 when a payout failed (the engine refused it) or is in flight (not confirmed)."""
    rep = run(db, "brokers.settle", {"broker": broker, "retry_failed": retry_failed}, quiet=as_json)
    text = (
        f"paid {len(rep['paid'])} payout(s), recovered {len(rep['recovered'])}, "
        f"failed {len(rep['failed'])}, held {len(rep['held'])}, "
        f"in flight {len(rep['inFlight'])}"
    )
    out(as_json, rep, text)
    again = "`bourse brokers settle --retry-failed` tries again"
    if (refused := unpaid(rep["failed"], len(rep["inFlight"]), again)) is not None:
        raise refused
