"""The ``bourse`` command: serve the exchange, manage the database, keys, accounts and deposits.

Every command works on the database named by ``--db`` or ``BOURSE_DATABASE_URL`` (default: a
SQLite file ``.bourse/bourse.db``, where ``scripts/run`` keeps it). API secrets are encrypted with the server key (``BOURSE_SECRET_KEY``
or the ``bourse.key`` file next to the SQLite database, see ``bourse.services.apikeys``), so the commands
that read keys must run with the same key as the server.

    bourse serve --demo                 # demo exchange with liquidity on http://127.0.0.1:8080
    bourse demo-credentials --json      # {"url": ..., "accounts": {"user": {...}}}
    bourse migrate
    bourse accounts open
    bourse deposit 100 USDT 1000
    bourse keys create --account 100 --permissions SPOT_DEAL_READ,SPOT_DEAL_WRITE
    bourse keys list --account 100
    bourse keys delete mx0v...
"""

from __future__ import annotations

import gc
import json
import os
import socket
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any

import httpx
import typer
import uvicorn
from rich.panel import Panel
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.engine import make_url

from bourse.app import create_app
from bourse.cli.brokers import brokers_app
from bourse.cli.common import (
    DbOption,
    JsonOption,
    console,
    db_url,
    err,
    fail,
    open_platform,
    safe_url,
)
from bourse.config import RateLimits
from bourse.domain.accounts import AccountKind
from bourse.domain.errors import DomainError
from bourse.domain.money import format_units, to_units
from bourse.engine import EngineUnavailable
from bourse.engine import commands as c
from bourse.sandbox.demo import (
    DEFAULT_URL,
    DEMO_ACCOUNTS,
    MARKET_MAKER_ROLE,
    demo_credentials,
    remember_url,
    seed_demo,
)
from bourse.sandbox.market_maker import MarketMaker
from bourse.services.apikeys import ApiKeys, load_server_key
from bourse.store.db import ensure_database, make_engine
from bourse.store.db import migrate as run_migrations

app = typer.Typer(
    name="bourse",
    help="Bourse: a self-hostable exchange broker platform, wire-compatible with MEXC Spot V3.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
keys_app = typer.Typer(help="Create, list and delete API keys.", no_args_is_help=True)
accounts_app = typer.Typer(help="Open accounts.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(accounts_app, name="accounts")
app.add_typer(brokers_app, name="brokers")


def _missing_sqlite_file(url: str) -> bool:

    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return False
    return not Path(u.database).exists()


def _execute(platform: Any, command: Any) -> Any:

    try:
        return platform.engine.execute(command)
    except DomainError as exc:
        raise fail(exc.message or type(exc).__name__) from exc
    except EngineUnavailable as exc:  # most likely a running server owns the database
        raise fail(
            f"{exc}. If `bourse serve` is running on this database, stop it first, or use "
            "the running server (e.g. `bourse chain-deposit` for sandbox deposits)."
        ) from exc


def _split(values: list[str] | None) -> list[str]:
    """Options given repeatedly and/or comma-separated, flattened."""
    out: list[str] = []
    for value in values or []:
        out.extend(p.strip() for p in value.split(",") if p.strip())
    return out


# --- serve -------------------------------------------------------------------------------------
def public_url(host: str, port: int) -> str:
    """The URL a local client should use for a server bound to ``host``:``port``."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket ourselves so ``--port 0`` still tells us the real port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _seed_with_progress(platform: Any) -> Any:

    steps = sum(len(a.funds) + 1 + int(a.api_key) for a in DEMO_ACCOUNTS) + 1
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task("seeding the demo exchange", total=steps)

        def step(message: str) -> None:
            progress.update(task, advance=1, description=message)

        result = seed_demo(platform, progress=step)
        progress.update(task, completed=steps)
    return result


@app.command()
def serve(
    demo: Annotated[
        bool, typer.Option("--demo", help="Seed demo accounts and run a market maker.")
    ] = False,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 8080,
    db: DbOption = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    seed: Annotated[int | None, typer.Option(help="Random seed of the demo market maker.")] = None,
    rate_limit: Annotated[
        str,
        typer.Option(
            help="Requests per endpoint per window, as REQUESTS/SECONDS (MEXC: 500/10); "
            "counted per account on signed endpoints, per IP on public ones."
        ),
    ] = "500/10",
    no_rate_limit: Annotated[
        bool, typer.Option("--no-rate-limit", help="Switch rate limits off (load tests).")
    ] = False,
) -> None:
    """Serve the MEXC-compatible API (and, with --demo, a live demo market)."""

    # an exchange allocates many long-lived objects (orders, balances): collect less often
    gc.set_threshold(100_000, 50, 100)

    try:
        sock = _bind(host, port)
    except OSError as exc:
        raise fail(f"cannot listen on {host}:{port}: {exc}") from exc
    url = public_url(host, sock.getsockname()[1])
    os.environ.setdefault("BOURSE_PUBLIC_URL", url)  # the OAuth issuer, unless set
    limits = RateLimits.off() if no_rate_limit else _parse_rate_limit(rate_limit)
    maker = None
    with open_platform(db, rate_limits=limits) as platform:
        if demo:
            seeded = _seed_with_progress(platform)
            maker = MarketMaker(
                platform.engine, seeded.accounts[MARKET_MAKER_ROLE], seed=seed
            ).start()
            # the simulated chain: blocks advance, deposits confirm, withdrawals broadcast;
            # the unsigned /sandbox/... endpoints (send a deposit, approve a review) are on
            platform.wallet.settings.sandbox = True
            platform.chain.start()
        remember_url(platform, url)
        _print_banner(url, demo_credentials(platform) if demo else None, limits=limits.describe())
        server = uvicorn.Server(
            uvicorn.Config(create_app(platform), log_level=log_level, lifespan="auto")
        )
        try:
            server.run(sockets=[sock])
        finally:
            if maker is not None:
                maker.stop()
            sock.close()


def _parse_rate_limit(text: str) -> RateLimits:
    """``REQUESTS/SECONDS`` (e.g. ``500/10``) as ``RateLimits`` with MEXC's special caps."""
    try:
        requests, seconds = (int(x) for x in text.split("/", 1))
        if requests < 1 or seconds < 1:
            raise ValueError
    except ValueError:
        raise fail(f"--rate-limit {text!r}: expected REQUESTS/SECONDS, e.g. 500/10") from None
    return RateLimits(requests=requests, window_ms=seconds * 1000)


@app.command("chain-deposit")
def chain_deposit(
    coin: Annotated[str, typer.Argument(help="Coin, e.g. USDT.")],
    amount: Annotated[str, typer.Argument(help="Decimal amount, e.g. 250.5.")],
    account: Annotated[int | None, typer.Option(help="Pay this account's deposit address.")] = None,
    address: Annotated[str | None, typer.Option(help="Or pay this address.")] = None,
    memo: Annotated[str, typer.Option(help="Memo, where the network needs one.")] = "",
    network: Annotated[str | None, typer.Option(help="Network id, e.g. TRX.")] = None,
    url: Annotated[str | None, typer.Option(help="Server URL (default: the demo's).")] = None,
) -> None:
    """Send a sandbox chain deposit to a running `bourse serve --demo` (credited after its
    confirmations, like a real one)."""

    base = url or DEFAULT_URL
    params: dict[str, str] = {"coin": coin.upper(), "amount": amount, "memo": memo}
    for name, value in (("account", account), ("address", address), ("network", network)):
        if value is not None:
            params[name] = str(value)
    try:
        r = httpx.post(f"{base}/sandbox/deposit", params=params, timeout=30)
    except httpx.HTTPError as exc:
        raise fail(f"cannot reach {base}: {exc}") from exc
    if r.status_code != 200:
        raise fail(r.text)
    console.print_json(r.text)


def _print_banner(url: str, creds: dict[str, Any] | None, limits: str | None = None) -> None:
    lines = [
        f"[bold]API[/]        {url}   (use it where a MEXC client says https://api.mexc.com)",
        *([f"[bold]Limits[/]     {limits}"] if limits else []),
        f"[bold]OpenAPI[/]    {url}/openapi.json",
        f"[bold]Web[/]        {url}/signup  {url}/login  {url}/account/apps",
        f"[bold]OAuth[/]      {url}/.well-known/oauth-authorization-server",
    ]
    if creds is not None:
        for role, key in creds["accounts"].items():
            lines += [
                "",
                f"[bold]{role}[/] demo API key",
                f"  api key    [green]{key['api_key']}[/]",
                f"  secret     [green]{key['secret']}[/]",
            ]
            bound = key.get("bound_user_key")
            if bound:
                lines += [f"  trades with the user key bound to it: [green]{bound['api_key']}[/]"]
        lines += ["", "Again later: [cyan]bourse demo-credentials --json[/]"]
    title = "Bourse demo exchange" if creds is not None else "Bourse"
    console.print(Panel("\n".join(lines), title=title, expand=False))


# --- demo-credentials ---------------------------------------------------------------------------
@app.command("demo-credentials")
def demo_credentials_cmd(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Print the demo server URL and API keys (seeded by `bourse serve --demo`)."""

    url = db_url(db)
    if _missing_sqlite_file(url):
        raise fail(f"{safe_url(url)} does not exist (run `bourse serve --demo` first)")
    engine = make_engine(url)
    try:
        keys = ApiKeys(engine, load_server_key(None, None, url))
        creds = demo_credentials(SimpleNamespace(db=engine, apikeys=keys))
    except Exception as exc:
        raise fail(f"no demo in {safe_url(url)} (run `bourse serve --demo` first): {exc}") from exc
    finally:
        engine.dispose()
    if as_json:
        sys.stdout.write(json.dumps(creds) + "\n")
        return
    if not creds["accounts"]:
        err.print("[yellow]no demo accounts yet: run `bourse serve --demo`[/]")
    _print_banner(creds["url"], creds)


# --- migrate ------------------------------------------------------------------------------------
@app.command()
def migrate(db: DbOption = None) -> None:
    """Create or upgrade the database schema."""

    url = db_url(db)
    with err.status(f"migrating {safe_url(url)} ...", spinner="dots"):
        try:
            ensure_database(url)
            run_migrations(url)
        except Exception as exc:
            raise fail(f"migration failed: {exc}") from exc
    console.print(f"[green]database is up to date[/] ({safe_url(url)})")


# --- keys ---------------------------------------------------------------------------------------
@keys_app.command("create")
def keys_create(
    account: Annotated[int, typer.Option("--account", help="Account id that owns the key.")],
    permissions: Annotated[
        list[str] | None,
        typer.Option("--permissions", help="MEXC permission names, comma-separated or repeated."),
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
    with open_platform(db, quiet=as_json) as platform:
        exists = platform.engine.read(lambda e: account in e.wallet.accounts)
        if not exists:
            raise fail(f"account {account} does not exist")
        try:
            api_key, secret = platform.apikeys.create_key(
                account,
                _split(permissions) or None,
                label=label,
                ip_whitelist=_split(ip),
                symbols=_split(symbols),
            )
        except DomainError as exc:
            raise fail(exc.message) from exc
        info = platform.apikeys.lookup(api_key)
    if as_json:
        sys.stdout.write(
            json.dumps({"api_key": api_key, "secret": secret, "account": account}) + "\n"
        )
        return
    perms = ", ".join(sorted(info.permissions)) if info else ""
    console.print(
        Panel(
            f"api key   [green]{api_key}[/]\nsecret    [green]{secret}[/]\n"
            f"account   {account}\npermissions {perms}\n\n"
            "[yellow]The secret is shown only now: store it safely.[/]",
            title="New API key",
            expand=False,
        )
    )


@keys_app.command("list")
def keys_list(
    account: Annotated[int, typer.Option("--account", help="Account id.")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List an account's API keys (never their secrets)."""
    with open_platform(db, quiet=as_json) as platform:
        rows = platform.apikeys.list_keys(account)
    if as_json:
        sys.stdout.write(json.dumps(rows) + "\n")
        return
    table = Table(title=f"API keys of account {account}")
    table.add_column("api key", no_wrap=True)
    for col in ("label", "permissions", "ip", "symbols", "expires (UTC)"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["apiKey"],
            r["label"],
            ", ".join(r["permissions"]),
            ", ".join(r["ip"]) or "any",
            ", ".join(r["symbols"]) or "all",
            _when(r["expireTime"]),
        )
    console.print(table)


def _when(ms: int | None) -> str:
    if ms is None:
        return "never"
    return datetime.fromtimestamp(ms // 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


@keys_app.command("delete")
def keys_delete(
    key: Annotated[str, typer.Argument(help="The API (access) key to revoke.")],
    db: DbOption = None,
) -> None:
    """Revoke an API key; it stops working at once."""
    with open_platform(db) as platform:
        done = platform.apikeys.delete_key(key)
        if done:
            platform.brokers.bindings.on_key_deleted(key)
    if not done:
        raise fail(f"no active API key {key}")
    console.print(f"[green]revoked[/] {key}")


# --- accounts and deposits ----------------------------------------------------------------------
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

    try:
        account_kind = AccountKind(kind.upper())
    except ValueError as exc:
        raise fail(f"unknown account kind {kind!r}") from exc
    with open_platform(db, quiet=as_json) as platform:
        acc = _execute(platform, c.OpenAccount(account_kind, parent=parent, name=name))
    if as_json:
        sys.stdout.write(json.dumps({"account": acc.id, "kind": str(acc.kind)}) + "\n")
        return
    console.print(f"[green]opened account[/] {acc.id} ({acc.kind})")


@app.command()
def deposit(
    account: Annotated[int, typer.Argument(help="Account id to credit.")],
    asset: Annotated[str, typer.Argument(help="Asset code, e.g. USDT.")],
    amount: Annotated[str, typer.Argument(help="Decimal amount, e.g. 1000 or 0.5.")],
    tx_ref: Annotated[
        str | None,
        typer.Option(help="Deposit reference; repeating one credits only once."),
    ] = None,
    db: DbOption = None,
) -> None:
    """Credit a sandbox deposit to an account (as if it had arrived on chain)."""

    code = asset.upper()
    with open_platform(db) as platform:
        scale = platform.engine.read(
            lambda e: e.wallet.assets[code].scale if code in e.wallet.assets else None
        )
        if scale is None:
            raise fail(f"unknown asset {code}")
        try:
            units = to_units(amount, scale)
        except DomainError as exc:
            raise fail(exc.message) from exc
        ref = tx_ref or f"cli:{uuid.uuid4().hex}"
        credited = _execute(platform, c.CreditDeposit(account, code, units, ref))
        available = platform.engine.read(lambda e: e.exchange.ledger.available(account, code))
    if not credited:
        console.print(f"[yellow]deposit {ref} was already credited[/]")
    else:
        console.print(f"[green]credited[/] {format_units(units, scale)} {code} to {account}")
    console.print(f"available: {format_units(available, scale)} {code}")


def main() -> None:
    """Entry point of the ``bourse`` console script."""
    app()


if __name__ == "__main__":
    main()
