"""``bourse keys ...``: create, list and revoke API keys (operations ``keys.*``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.panel import Panel

from bourse.cli.common import DbOption, JsonOption, console, print_json, split, table
from bourse.cli.masterkey import new_master, rotate_master
from bourse.cli.runner import run
from bourse.domain.permissions import DEFAULT_PERMISSIONS, PERMISSIONS

keys_app = typer.Typer(
    help="Create, list and delete API keys; create or rotate the server key.",
    no_args_is_help=True,
)


@keys_app.command("create")
def keys_create(
    account: Annotated[int, typer.Option("--account", help="Account id that owns the key.")],
    permissions: Annotated[
        list[str] | None,
        typer.Option(
            "--permissions",
            help="MEXC permission names, comma-separated or repeated: "
            f"{', '.join(PERMISSIONS)} (_R and _W abbreviate _READ and _WRITE). "
            f"Default: {', '.join(DEFAULT_PERMISSIONS)}.",
        ),
    ] = None,
    symbols: Annotated[
        list[str] | None, typer.Option("--symbols", help="Pairs the key may trade (default all).")
    ] = None,
    ip: Annotated[
        list[str] | None, typer.Option("--ip", help="IP whitelist (addresses or CIDRs).")
    ] = None,
    label: Annotated[str, typer.Option(help="A note for the key.")] = "",
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an API key; the secret is printed once and never again."""
    res = run(
        db,
        "keys.create",
        {
            "account": account,
            "permissions": split(permissions) or None,
            "symbols": split(symbols) or None,
            "ip": split(ip) or None,
            "label": label,
        },
        quiet=as_json,
    )
    if as_json:
        print_json({"api_key": res["api_key"], "secret": res["secret"], "account": account})
        return
    console.print(
        Panel(
            f"api key   [green]{res['api_key']}[/]\nsecret    [green]{res['secret']}[/]\n"
            f"account   {account}\npermissions {', '.join(res['permissions'])}\n\n"
            "[yellow]The secret is shown only now: store it safely.[/]",
            title="New API key",
            expand=False,
        ),
        width=max(console.width, 100),
    )


@keys_app.command("list")
def keys_list(
    account: Annotated[int, typer.Option("--account", help="Account id.")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List an account's API keys (never their secrets)."""
    rows = run(db, "keys.list", {"account": account}, quiet=as_json)
    if as_json:
        print_json(rows)
        return
    table(
        f"API keys of account {account}",
        ("api key", "label", "permissions", "ip", "symbols", "expires (UTC)"),
        [
            (
                r["apiKey"],
                r["label"],
                ", ".join(r["permissions"]),
                ", ".join(r["ip"]) or "any",
                ", ".join(r["symbols"]) or "all",
                when(r["expireTime"]),
            )
            for r in rows
        ],
        keep=("api key", "label", "expires (UTC)"),
    )


def when(ms: int | None) -> str:
    if ms is None:
        return "never"
    return datetime.fromtimestamp(ms // 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


@keys_app.command("delete")
def keys_delete(
    key: Annotated[str, typer.Argument(help="The API (access) key to revoke.")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke an API key; it stops working at once."""
    res = run(db, "keys.delete", {"api_key": key}, quiet=as_json)
    if as_json:
        print_json(res)
        return
    console.print(f"[green]revoked[/] {key}", soft_wrap=True)


keys_app.command("new-master")(new_master)
keys_app.command("rotate-master")(rotate_master)
