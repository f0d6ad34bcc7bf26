"""``bourse sandbox ...``: the demo's controls (operations ``sandbox.*``, demo mode only).

Each command goes to the running demo server (``bourse serve --demo``); outside demo mode, or
with no server, it is refused in one line (docs/sandbox.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from bourse.cli.common import DbOption, JsonOption, console, fail, out, print_json, table
from bourse.cli.runner import run

sandbox_app = typer.Typer(
    help="Sandbox controls of a demo server: faucet, price, faults, reset.",
    no_args_is_help=True,
)


def _print_status(res: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(res)
        return
    state = "paused" if res["paused"] else "running"
    table(
        f"Market maker ({state})",
        ("symbol", "mode", "mid", "reference"),
        [(r["symbol"], r["mode"], r["mid"], r["reference"]) for r in res["symbols"]],
        keep=("symbol",),
    )


@sandbox_app.command("faucet")
def faucet_cmd(
    account: Annotated[int, typer.Argument(help="Account or sub-account id to fund.")],
    asset: Annotated[str, typer.Argument(help="Asset code, e.g. USDT.")],
    amount: Annotated[str, typer.Argument(help="Decimal amount, e.g. 1000.")],
    request_id: Annotated[
        str | None, typer.Option(help="Request id: repeating one credits only once.")
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Credit test funds (capped per account and asset over a rolling day)."""
    res = run(
        db,
        "sandbox.faucet",
        {"account": account, "asset": asset, "amount": amount, "request_id": request_id},
        quiet=as_json,
    )
    done = "credited" if res["credited"] else "already credited (same request id):"
    out(
        as_json,
        res,
        f"[green]{done}[/] {res['amount']} {res['asset']} to {account}; available "
        f"{res['available']}; the faucet can still give {res['remaining']} {res['asset']} today",
    )


@sandbox_app.command("status")
def status(db: DbOption = None, as_json: JsonOption = False) -> None:
    """What moves each symbol's price, and whether the market maker is paused."""
    _print_status(run(db, "sandbox.status", {}, quiet=as_json), as_json)


@sandbox_app.command("price")
def price(
    symbol: Annotated[str, typer.Argument(help="Symbol, e.g. BTCUSDT.")],
    value: Annotated[str, typer.Argument(metavar="PRICE", help="The new price, e.g. 65000.")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Move a symbol's price now (the market maker quotes around it)."""
    res = run(db, "sandbox.price", {"symbol": symbol, "price": value}, quiet=as_json)
    _print_status(res, as_json)


@sandbox_app.command("path")
def path(
    symbol: Annotated[str, typer.Argument(help="Symbol, e.g. BTCUSDT.")],
    points: Annotated[
        list[str] | None,
        typer.Argument(help="Waypoints SECONDS:PRICE from now, e.g. 0:60000 30:66000."),
    ] = None,
    drift: Annotated[
        str | None, typer.Option(help="Instead of points: drift in basis points per minute.")
    ] = None,
    volatility: Annotated[
        str | None,
        typer.Option(help="Instead of points: volatility in basis points per minute."),
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Script a symbol's price: through waypoints, or as a drift with volatility."""
    res = run(
        db,
        "sandbox.path",
        {
            "symbol": symbol,
            "points": points or None,
            "drift_bps": drift,
            "volatility_bps": volatility,
        },
        quiet=as_json,
    )
    _print_status(res, as_json)


@sandbox_app.command("replay")
def replay(
    symbol: Annotated[str, typer.Argument(help="Symbol, e.g. BTCUSDT.")],
    file: Annotated[Path, typer.Argument(help="CSV of recorded trades: timestamp,price,qty,side.")],
    speed: Annotated[str, typer.Option(help="Speed factor (10: ten times faster).")] = "1",
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Replay recorded trades from a CSV file at a speed factor."""
    try:
        text = file.read_text()
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror or exc}") from None
    res = run(
        db, "sandbox.replay", {"symbol": symbol, "csv_text": text, "speed": speed}, quiet=as_json
    )
    if as_json:
        print_json(res)
        return
    console.print(
        f"[green]replaying[/] {res['trades']} trades on {res['symbol']} over {res['seconds']} s"
    )


@sandbox_app.command("pause")
def pause(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Pause the market maker (its quotes stay on the books)."""
    res = run(db, "sandbox.pause", {}, quiet=as_json)
    print_json(res) if as_json else console.print("market maker paused")


@sandbox_app.command("resume")
def resume(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Resume the market maker."""
    res = run(db, "sandbox.resume", {}, quiet=as_json)
    print_json(res) if as_json else console.print("market maker running")


@sandbox_app.command("fault")
def fault(
    path: Annotated[str, typer.Argument(help="Endpoint path or pattern, e.g. '/api/v3/*'.")],
    kind: Annotated[str, typer.Argument(help="latency, error, maintenance, throttle or drop_ws.")],
    duration: Annotated[int, typer.Option("--for", help="Seconds the fault lasts.")] = 60,
    latency_ms: Annotated[int, typer.Option(help="latency: milliseconds added.")] = 0,
    rate: Annotated[str, typer.Option(help="error: share of requests failed (0-1).")] = "1",
    code: Annotated[int, typer.Option(help="error: the MEXC code answered.")] = 500,
    status: Annotated[int, typer.Option(help="error: the HTTP status answered.")] = 500,
    retry_after: Annotated[int, typer.Option(help="throttle: Retry-After seconds.")] = 1,
    msg: Annotated[str, typer.Option(help="The error's message (default: MEXC's).")] = "",
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Inject a fault on matching endpoints for a while."""
    res = run(
        db,
        "sandbox.fault",
        {
            "path": path,
            "kind": kind,
            "duration_s": duration,
            "latency_ms": latency_ms,
            "rate": rate,
            "code": code,
            "status": status,
            "retry_after_s": retry_after,
            "msg": msg,
        },
        quiet=as_json,
    )
    if as_json:
        print_json(res)
        return
    console.print(f"fault {res['id']}: {res['kind']} on {res['pattern']} for {duration} s")


@sandbox_app.command("faults")
def faults(db: DbOption = None, as_json: JsonOption = False) -> None:
    """List the injected faults still active."""
    rows = run(db, "sandbox.faults", {}, quiet=as_json)
    if as_json:
        print_json(rows)
        return
    table(
        "Faults",
        ("id", "path", "kind", "detail", "ends in"),
        [
            (str(r["id"]), r["pattern"], r["kind"], _detail(r), f"{r['expires_in_s']} s")
            for r in rows
        ],
        keep=("path",),
    )


def _detail(r: dict[str, Any]) -> str:
    if r["kind"] == "latency":
        return f"+{r['latency_ms']} ms"
    if r["kind"] == "error":
        return f"{r['rate']} x HTTP {r['status']} code {r['code']}"
    if r["kind"] == "throttle":
        return f"429, Retry-After {r['retry_after_s']}"
    return ""


@sandbox_app.command("clear")
def clear(
    fault_id: Annotated[int | None, typer.Option("--id", help="Only this fault.")] = None,
    path: Annotated[str | None, typer.Option(help="Only the faults on this pattern.")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Clear injected faults (all of them unless --id or --path)."""
    res = run(db, "sandbox.clear", {"id": fault_id, "path": path}, quiet=as_json)
    print_json(res) if as_json else console.print(f"cleared {res['cleared']} fault(s)")


@sandbox_app.command("reset")
def reset(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Put the sandbox back to its demo seed while it runs (orders, balances)."""
    res = run(db, "sandbox.reset", {}, quiet=as_json)
    if as_json:
        print_json(res)
        return
    console.print(
        f"[green]reset[/]: {res['cancelled_orders']} orders cancelled, "
        f"{res['balances_reset']} balances back to the seed ({res['ms']} ms)"
    )
