"""``bourse demo-credentials`` and ``bourse chain-deposit``: what a tester of the demo needs."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from bourse.cli.common import (
    DbOption,
    JsonOption,
    console,
    db_url,
    err,
    fail,
    print_json,
    safe_url,
)
from bourse.cli.runner import run
from bourse.cli.serve import print_banner
from bourse.operations.home import find_home, home_for
from bourse.operations.runtime import running_server

#: seconds ``demo-credentials`` waits for the demo's URL to answer, when no server announced
PROBE_S = 2.0


def demo_credentials_cmd(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Print the demo server URL and API keys (seeded by `bourse serve --demo`).

    They are the database's, so they print with the demo stopped too, the same (stdout is what
    the operator API answers); then one line on stderr says that no server answers at the URL
    yet, which a client of these credentials would only learn as a refused connection."""
    url = db_url(db)
    announced = running_server(home_for(url), url) is not None
    creds = run(url, "demo.credentials", quiet=True)
    if as_json:
        print_json(creds)
    else:
        print_banner(creds["url"], creds)
    if not announced and not _answers(creds["url"]):  # a server of another home may answer
        err.print(
            f"[yellow]warning:[/] no server answers at {creds['url']}: these credentials work "
            "once the demo runs (scripts/run, or bourse serve --demo)",
            highlight=False,
            soft_wrap=True,
        )


def _answers(url: str) -> bool:
    """Whether an HTTP server answers at ``url`` (whatever it answers) within ``PROBE_S``.
    The standard library's client: httpx's import alone took longer than the rest of the
    command."""
    from http.client import HTTPException
    from urllib.error import HTTPError
    from urllib.request import urlopen

    try:
        with urlopen(f"{url}/api/v3/ping", timeout=PROBE_S):
            return True
    except HTTPError:  # an answer, if not a 200
        return True
    except (OSError, HTTPException, ValueError):  # no server, no HTTP, not a URL
        return False


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
    as_json: JsonOption = False,
) -> None:
    """Send a sandbox chain deposit to a running `bourse serve --demo` (credited after its
    confirmations, like a real one)."""
    import httpx

    if url is None:
        database = db_url(db)
        server = running_server(home_for(database), database)
        if server is not None:
            url = server.url
        elif db is None and find_home() is None:  # nothing names an exchange: the demo's port
            from bourse.sandbox.demo import DEFAULT_URL  # seconds of imports: only if needed

            url = DEFAULT_URL
        else:  # never to another exchange than the one named (a demo on port 8080)
            raise fail(
                f"no server runs for {safe_url(database)}: chain deposits go to a running "
                "`bourse serve --demo` (scripts/run), or give --url"
            )
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
    if r.status_code == 404:  # no such route: not a demo
        raise fail(f"the server at {url} has no sandbox: chain deposits need `bourse serve --demo`")
    if r.status_code != 200:
        try:
            answer = r.json()
        except ValueError:
            answer = None
        msg = answer.get("msg") if isinstance(answer, dict) else None
        raise fail(msg or f"the server at {url} answered HTTP {r.status_code}")
    dep = r.json()
    if as_json:
        print_json(dep)
        return
    console.print(_deposit_line(dep), soft_wrap=True)  # one line, however long the address


def _deposit_line(dep: dict[str, Any]) -> str:
    """One line on a chain deposit: credited, waiting for its confirmations, too small, or to
    an address nobody owns."""
    what = f"{dep['amount']} {dep['coin']} to {dep['address']}"
    memo = f" memo {dep['memo']}" if dep.get("memo") else ""
    seen = f"{dep['confirmations']}/{dep['required']} confirmations"
    where = f"({dep['netWork']}, tx {dep['transHash']}, {seen})"
    if dep["credited"]:
        return f"[green]credited[/] {what}{memo} {where}"
    if dep["status"] is None:
        return f"sent {what}{memo} {where}: no account owns this address"
    if dep["chainStatus"] == "SMALL":
        return f"sent {what}{memo} {where}: below the minimum deposit, not credited"
    return f"sent {what}{memo} {where}: credited after {dep['required']}"
