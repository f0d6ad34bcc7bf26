"""``bourse demo-credentials`` and ``bourse chain-deposit``: what a tester of the demo needs."""

from __future__ import annotations

from typing import Annotated

import typer

from bourse.cli.common import (
    DbOption,
    JsonOption,
    console,
    db_url,
    fail,
    print_json,
)
from bourse.cli.runner import run
from bourse.cli.serve import print_banner
from bourse.operations.home import home_for
from bourse.operations.runtime import running_server


def demo_credentials_cmd(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Print the demo server URL and API keys (seeded by `bourse serve --demo`)."""
    url = db_url(db)
    creds = run(url, "demo.credentials", quiet=True)
    if as_json:
        print_json(creds)
        return
    print_banner(creds["url"], creds)


def chain_deposit(
    coin: Annotated[str, typer.Argument(help="Coin, e.g. USDT.")],
    amount: Annotated[str, typer.Argument(help="Decimal amount, e.g. 250.5.")],
    account: Annotated[int | None, typer.Option(help="Pay this account's deposit address.")] = None,
    address: Annotated[str | None, typer.Option(help="Or pay this address.")] = None,
    memo: Annotated[str, typer.Option(help="Memo, where the network needs one.")] = "",
    network: Annotated[str | None, typer.Option(help="Network id, e.g. TRX.")] = None,
    confirm: Annotated[
        bool, typer.Option("--confirm", help="Mine blocks now until it is credited.")
    ] = False,
    url: Annotated[
        str | None,
        typer.Option(help="Server URL (default: the running demo's, from its BOURSE_HOME)."),
    ] = None,
    db: DbOption = None,
) -> None:
    """Send a sandbox chain deposit to a running `bourse serve --demo` (credited after its
    confirmations, like a real one)."""
    import httpx

    from bourse.sandbox.demo import DEFAULT_URL

    if url is None:
        database = db_url(db)
        server = running_server(home_for(database), database)
        url = server.url if server is not None else DEFAULT_URL
    params: dict[str, str] = {"coin": coin.upper(), "amount": amount, "memo": memo}
    if confirm:
        params["confirm"] = "true"
    for name, value in (("account", account), ("address", address), ("network", network)):
        if value is not None:
            params[name] = str(value)
    try:
        r = httpx.post(f"{url}/sandbox/deposit", params=params, timeout=30)
    except httpx.HTTPError as exc:
        raise fail(f"cannot reach {url}: {exc or type(exc).__name__}") from exc
    if r.status_code != 200:
        raise fail(r.text)
    console.print_json(r.text)
