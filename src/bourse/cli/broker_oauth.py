"""``bourse brokers oauth ...``: an OAuth broker's clients (operations ``brokers.oauth-*``).

    bourse brokers oauth clients 3
    bourse brokers oauth register 3 --name "Copy Trader mobile" --redirect-uri https://m.example/cb
    bourse brokers oauth rotate-secret 3 bc_... [--grace 3600]
    bourse brokers oauth add-redirect 3 bc_... https://app.example/cb2
    bourse brokers oauth remove-redirect 3 bc_... https://app.example/cb
    bourse brokers oauth set-scopes 3 bc_... "read trade"
    bourse brokers oauth approve-scopes 3 "read trade transfer"

Mounted by ``bourse.cli.brokers`` as ``brokers_app.add_typer(oauth_app, name="oauth")``.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from bourse.cli.common import DbOption, JsonOption, out, print_json, table
from bourse.cli.runner import run

oauth_app = typer.Typer(
    help="An OAuth broker's clients: register apps, rotate secrets, redirect URIs, scopes.",
    no_args_is_help=True,
)

BrokerArg = Annotated[int, typer.Argument(help="The OAuth broker's id.")]
ClientArg = Annotated[str, typer.Argument(help="The client id (bc_...).")]


def _client_text(c: dict[str, Any]) -> str:
    uris = ", ".join(c["redirectUris"]) or "none (authorize refuses it until one is added)"
    return f"[green]{c['clientId']}[/] {c['name']!r}: scopes {c['scopes']}; redirect URIs {uris}"


@oauth_app.command("clients")
def clients_cmd(broker_id: BrokerArg, db: DbOption = None, as_json: JsonOption = False) -> None:
    """List the broker's clients (never their secrets)."""
    rows = run(db, "brokers.oauth-clients", {"broker": broker_id}, quiet=as_json)
    if as_json:
        print_json(rows)
        return
    table(
        f"OAuth clients of broker {broker_id}",
        ("client id", "name", "scopes", "redirect URIs", "disabled"),
        [
            (
                c["clientId"],
                c["name"],
                c["scopes"],
                "\n".join(c["redirectUris"]),
                str(c["disabled"]),
            )
            for c in rows
        ],
        keep=("client id", "redirect URIs"),
    )


@oauth_app.command("register")
def register_cmd(
    broker_id: BrokerArg,
    name: Annotated[str, typer.Option(help="The app's name on the consent page.")],
    redirect_uri: Annotated[
        list[str], typer.Option("--redirect-uri", help="An exact redirect URI (repeatable).")
    ],
    scopes: Annotated[
        str | None, typer.Option(help="Scopes it may ask for (default: all approved).")
    ] = None,
    logo_url: Annotated[str, typer.Option(help="Logo URL (https).")] = "",
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register another app (client) for an approved OAuth broker."""
    c = run(
        db,
        "brokers.oauth-register",
        {
            "broker": broker_id,
            "name": name,
            "redirect_uri": redirect_uri,
            "scopes": scopes,
            "logo_url": logo_url,
        },
        quiet=as_json,
    )
    out(as_json, c, _client_text(c) + f"\nclient_secret [bold]{c['clientSecret']}[/] (shown once)")


@oauth_app.command("rotate-secret")
def rotate_cmd(
    broker_id: BrokerArg,
    client_id: ClientArg,
    grace: Annotated[
        int | None,
        typer.Option(help="Seconds the old secret keeps working (default: the server's, 24 h)."),
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Rotate a client's secret (the new one is shown once)."""
    r = run(
        db,
        "brokers.oauth-rotate-secret",
        {"broker": broker_id, "client": client_id, "grace_seconds": grace},
        quiet=as_json,
    )
    until = r["previousSecretExpireTime"]
    old = f"until {until} ms" if until else "no longer"
    out(
        as_json,
        r,
        f"client_secret [bold]{r['clientSecret']}[/] (shown once); the old one works {old}",
    )


def _uri_cmd(op: str, broker_id: int, client_id: str, uri: str, db: str | None, j: bool) -> None:
    c = run(db, op, {"broker": broker_id, "client": client_id, "uri": uri}, quiet=j)
    out(j, c, _client_text(c))


@oauth_app.command("add-redirect")
def add_redirect_cmd(
    broker_id: BrokerArg,
    client_id: ClientArg,
    uri: Annotated[str, typer.Argument(help="The exact redirect URI.")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register a redirect URI (compared by exact match at /oauth/authorize)."""
    _uri_cmd("brokers.oauth-add-redirect", broker_id, client_id, uri, db, as_json)


@oauth_app.command("remove-redirect")
def remove_redirect_cmd(
    broker_id: BrokerArg,
    client_id: ClientArg,
    uri: Annotated[str, typer.Argument(help="The registered redirect URI.")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Remove a redirect URI."""
    _uri_cmd("brokers.oauth-remove-redirect", broker_id, client_id, uri, db, as_json)


@oauth_app.command("set-scopes")
def set_scopes_cmd(
    broker_id: BrokerArg,
    client_id: ClientArg,
    scopes: Annotated[str, typer.Argument(help='e.g. "read trade".')],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change the scopes a client may ask for (within the broker's approved scopes)."""
    c = run(
        db,
        "brokers.oauth-set-scopes",
        {"broker": broker_id, "client": client_id, "scopes": scopes},
        quiet=as_json,
    )
    out(as_json, c, _client_text(c))


@oauth_app.command("approve-scopes")
def approve_scopes_cmd(
    broker_id: BrokerArg,
    scopes: Annotated[str, typer.Argument(help='e.g. "read trade transfer".')],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Set what an OAuth broker's clients may hold (clients beyond it are narrowed)."""
    b = run(
        db, "brokers.oauth-approve-scopes", {"broker": broker_id, "scopes": scopes}, quiet=as_json
    )
    out(as_json, b, f"[green]broker {broker_id}[/] may use scopes {b['oauthScopes']}")
