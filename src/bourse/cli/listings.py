"""``bourse listings ...``: the listed assets and symbols, and listing or changing them
(operations ``listings.*``)."""

from __future__ import annotations

from typing import Annotated

import typer

from bourse.cli.common import DbOption, JsonOption, out, print_json, table
from bourse.cli.runner import run

listings_app = typer.Typer(help="Listed assets and symbols.", no_args_is_help=True)


@listings_app.command("assets")
def assets(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Every listed asset with its scale."""
    rows = run(db, "listings.assets", {}, quiet=as_json)
    if as_json:
        print_json(rows)
        return
    table(
        "Assets",
        ("asset", "scale", "name"),
        [(r["asset"], str(r["scale"]), r["name"]) for r in rows],
    )


@listings_app.command("symbols")
def symbols(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Every listed symbol with its precisions, limits and trading flag."""
    rows = run(db, "listings.symbols", {}, quiet=as_json)
    if as_json:
        print_json(rows)
        return
    table(
        "Symbols",
        ("symbol", "price/qty decimals", "quantity", "notional", "trading"),
        [
            (
                r["symbol"],
                f"{r['priceScale']}/{r['qtyScale']}",
                f"{r['minQty']} to {r['maxQty']}",
                f"{r['minNotional']} to {r['maxNotional']}",
                "yes" if r["trading"] else "paused",
            )
            for r in rows
        ],
    )


@listings_app.command("add-asset")
def add_asset(
    asset: Annotated[str, typer.Argument(help="Asset code, e.g. SOL.")],
    scale: Annotated[int, typer.Argument(help="Decimals of its smallest unit (never changes).")],
    name: Annotated[str, typer.Option(help="A display name.")] = "",
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List an asset, or rename a listed one."""
    res = run(
        db, "listings.add-asset", {"asset": asset, "scale": scale, "name": name}, quiet=as_json
    )
    out(as_json, res, f"[green]listed[/] {res['asset']} (scale {res['scale']})")


@listings_app.command("add-symbol")
def add_symbol(
    base: Annotated[str, typer.Argument(help="Base asset, e.g. SOL.")],
    quote: Annotated[str, typer.Argument(help="Quote asset, e.g. USDT.")],
    price_scale: Annotated[int, typer.Option(help="Price decimals (never changes).")],
    qty_scale: Annotated[int, typer.Option(help="Quantity decimals (never changes).")],
    min_qty: Annotated[str, typer.Option(help="Smallest order quantity.")],
    max_qty: Annotated[str, typer.Option(help="Largest order quantity.")],
    min_notional: Annotated[str, typer.Option(help="Smallest order value in quote.")],
    max_notional: Annotated[str, typer.Option(help="Largest order value in quote.")],
    trading: Annotated[bool, typer.Option("--trading/--paused", help="Open for trading.")] = True,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List a symbol, or change a listed one's limits and trading flag."""
    params = {
        "base": base, "quote": quote, "price_scale": price_scale, "qty_scale": qty_scale,
        "min_qty": min_qty, "max_qty": max_qty, "min_notional": min_notional,
        "max_notional": max_notional, "trading": trading,
    }  # fmt: skip
    res = run(db, "listings.add-symbol", params, quiet=as_json)
    out(as_json, res, f"[green]listed[/] {res['symbol']}")
