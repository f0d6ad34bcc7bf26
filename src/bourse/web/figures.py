"""The numbers the console shows: the market overview and an account's balances with their
value in USDT. Read from the engine's committed state and the market data service (the same
ones ``/api/v3/ticker/24hr`` and ``/api/v3/account`` read), formatted as exact decimals.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

from bourse.domain.money import format_units
from bourse.services.bundle import Services

#: the asset totals are valued in
VALUATION_ASSET = "USDT"
_CENTS = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class MarketRow:
    symbol: str
    base: str
    quote: str
    #: the last trade price as a decimal string, "" before the first trade
    last: str
    #: change over the rolling 24 hours in percent with two decimals ("+1.25", "-0.40"), or ""
    change_pct: str
    volume: str
    trading: bool


@dataclass(frozen=True, slots=True)
class BalanceRow:
    asset: str
    free: str
    locked: str
    #: the balance (free + locked) in USDT at the last price, "" when no USDT pair has traded
    value: str


def _pct(change: int, base: int) -> str:
    pct = (Decimal(change) * 100 / Decimal(base)).quantize(_CENTS, rounding=ROUND_DOWN)
    return f"+{pct}" if pct > 0 else str(pct)


def markets(svc: Services, now: int) -> list[MarketRow]:
    """Every listed symbol with its last price and 24 h change, by name."""
    symbols = svc.engine.read(lambda e: sorted(e.exchange.symbols.values(), key=lambda s: s.name))
    rows = []
    for sym in symbols:
        st = svc.marketdata.rolling(sym.name, now)
        last, open_ = st["last"], st["open"]
        if open_ is None:
            open_ = st["prev_close"] if st["prev_close"] is not None else last
        change = "" if last is None or not open_ else _pct(last - open_, open_)
        rows.append(
            MarketRow(
                symbol=sym.name,
                base=sym.base.code,
                quote=sym.quote.code,
                last="" if last is None else format_units(last, sym.price_scale),
                change_pct=change,
                volume=format_units(st["volume"], sym.qty_scale),
                trading=bool(sym.trading),
            )
        )
    return rows


def _usdt_prices(svc: Services) -> dict[str, Decimal]:
    """Last price in USDT of each base asset with a traded ``<ASSET>USDT`` pair."""

    def read(e: Any) -> list[tuple[str, str, int]]:
        return [
            (s.name, s.base.code, s.price_scale)
            for s in e.exchange.symbols.values()
            if s.quote.code == VALUATION_ASSET
        ]

    out: dict[str, Decimal] = {VALUATION_ASSET: Decimal(1)}
    for name, base, scale in svc.engine.read(read):
        last = svc.marketdata.last_price(name)
        if last is not None:
            out[base] = Decimal(last).scaleb(-scale)
    return out


def balances(svc: Services, account: int) -> tuple[list[BalanceRow], str]:
    """The account's non-zero balances and their total value in USDT (two decimals, rounded
    down; assets without a USDT price are left out of the total)."""

    def read(e: Any) -> list[tuple[str, int, int, int]]:
        bal = e.exchange.ledger.balances
        rows = []
        for code in sorted(e.wallet.assets):
            b = bal.get((account, code))
            if b and (b[0] or b[1]):
                rows.append((code, e.wallet.assets[code].scale, b[0], b[1]))
        return rows

    prices = _usdt_prices(svc)
    total = Decimal(0)
    out = []
    for code, scale, free, locked in svc.engine.read(read):
        price = prices.get(code)
        value = ""
        if price is not None:
            worth = Decimal(free + locked).scaleb(-scale) * price
            total += worth
            value = str(worth.quantize(_CENTS, rounding=ROUND_DOWN))
        out.append(BalanceRow(code, format_units(free, scale), format_units(locked, scale), value))
    return out, str(total.quantize(_CENTS, rounding=ROUND_DOWN))
