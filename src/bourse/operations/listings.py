"""``listings.*``: the assets and symbols the exchange lists, and listing or changing them.

An asset's scale and a symbol's precisions (price and quantity scales) never change once
listed: balances and open orders are integers in those units (the engine refuses a change).
What can change: an asset's display name, a symbol's order limits and whether it trades.
"""

from __future__ import annotations

from typing import Any

from bourse.domain.money import Asset, format_units, to_units
from bourse.domain.symbols import Symbol
from bourse.engine import commands as c
from bourse.operations.registry import OperationError, operation
from bourse.services.bundle import Services

#: the largest scale an asset may have (the chain's wei has 18)
MAX_SCALE = 18


def _asset_row(a: Asset) -> dict[str, Any]:
    return {"asset": a.code, "scale": a.scale, "name": a.name}


def _symbol_row(s: Symbol) -> dict[str, Any]:
    return {
        "symbol": s.name,
        "base": s.base.code,
        "quote": s.quote.code,
        "priceScale": s.price_scale,
        "qtyScale": s.qty_scale,
        "minQty": format_units(s.min_qty, s.qty_scale),
        "maxQty": format_units(s.max_qty, s.qty_scale),
        "minNotional": format_units(s.min_notional, s.quote.scale),
        "maxNotional": format_units(s.max_notional, s.quote.scale),
        "trading": s.trading,
    }


@operation("listings.assets", mutates=False)
def assets(svc: Services) -> list[dict[str, Any]]:
    """Every listed asset with its scale (decimals of its smallest unit), by code."""
    listed = svc.engine.read(lambda e: sorted(e.wallet.assets.values(), key=lambda a: a.code))
    return [_asset_row(a) for a in listed]


@operation("listings.symbols", mutates=False)
def symbols(svc: Services) -> list[dict[str, Any]]:
    """Every listed symbol with its precisions, order limits and trading flag, by name."""
    listed = svc.engine.read(lambda e: sorted(e.exchange.symbols.values(), key=lambda s: s.name))
    return [_symbol_row(s) for s in listed]


@operation("listings.add-asset")
def add_asset(svc: Services, *, asset: str, scale: int, name: str = "") -> dict[str, Any]:
    """List an asset (or rename a listed one; its scale cannot change)."""
    code = asset.strip().upper()
    if not code.isalnum() or len(code) > 16:
        raise OperationError(f"an asset code is 1 to 16 letters or digits, not {asset!r}")
    if not 0 <= scale <= MAX_SCALE:
        raise OperationError(f"an asset's scale is 0 to {MAX_SCALE}, not {scale}")
    return _asset_row(svc.engine.execute(c.AddAsset(Asset(code, scale, name.strip()[:64]))))


@operation("listings.add-symbol")
def add_symbol(
    svc: Services,
    *,
    base: str,
    quote: str,
    price_scale: int,
    qty_scale: int,
    min_qty: str,
    max_qty: str,
    min_notional: str,
    max_notional: str,
    trading: bool = True,
) -> dict[str, Any]:
    """List a symbol BASE+QUOTE, or change a listed one's limits and trading flag (its
    precisions cannot change). Limits are decimals: quantities in base, notionals in quote."""
    codes = (base.strip().upper(), quote.strip().upper())
    found = svc.engine.read(lambda e: [e.wallet.assets.get(x) for x in codes])
    for code, a in zip(codes, found, strict=True):
        if a is None:
            raise OperationError(f"asset {code} is not listed; list it first", 404)
    b, q = found
    assert b is not None and q is not None
    if b.code == q.code:
        raise OperationError("a symbol needs two different assets")
    if not (0 <= qty_scale <= b.scale and 0 <= price_scale <= q.scale - qty_scale):
        raise OperationError(
            f"for {b.code} (scale {b.scale}) and {q.code} (scale {q.scale}) the quantity scale "
            f"is at most {b.scale} and price scale + quantity scale at most {q.scale}"
        )
    sym = Symbol(
        name=b.code + q.code,
        base=b,
        quote=q,
        price_scale=price_scale,
        qty_scale=qty_scale,
        min_qty=to_units(min_qty, qty_scale, field="min_qty"),
        max_qty=to_units(max_qty, qty_scale, field="max_qty"),
        min_notional=to_units(min_notional, q.scale, field="min_notional"),
        max_notional=to_units(max_notional, q.scale, field="max_notional"),
        trading=trading,
    )
    if sym.min_qty > sym.max_qty or sym.min_notional > sym.max_notional:
        raise OperationError("a minimum is above its maximum")
    return _symbol_row(svc.engine.execute(c.AddSymbol(sym)))
