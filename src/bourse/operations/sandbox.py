"""``sandbox.*``: the demo's controls (faucet, market maker, faults, reset); demo mode only.

Each one is refused outside demo mode (403, ``dispatch.invoke``) and needs the sandbox a demo
server runs (``platform.sandbox``, set by ``bourse serve --demo``); docs/sandbox.md says what
each lets a broker's client be tested against.
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import asdict
from decimal import Decimal, InvalidOperation
from typing import Any

from bourse.domain.errors import DomainError
from bourse.domain.money import format_units, to_units
from bourse.domain.orders import BUY, SELL
from bourse.operations.refusals import status_of
from bourse.operations.registry import OperationError, operation
from bourse.sandbox import faucet as f
from bourse.sandbox.controls import ResetInProgress, Sandbox
from bourse.sandbox.faults import KINDS, MAX_DURATION_S, Fault
from bourse.sandbox.market_maker import MarketMaker
from bourse.sandbox.mid_price import RecordedTrade
from bourse.services.bundle import Services
from bourse.store.repositories.faucet import FaucetLedger

#: recorded trades one replay may hold
MAX_REPLAY_ROWS = 100_000


def _sandbox(svc: Services) -> Sandbox:
    if not isinstance(svc.sandbox, Sandbox):
        raise OperationError("no sandbox runs here: start the server with bourse serve --demo", 409)
    return svc.sandbox


def _maker(svc: Services) -> MarketMaker:
    maker = _sandbox(svc).maker
    if maker is None:
        raise OperationError("the demo market maker does not run on this server", 409)
    return maker


def _scales(svc: Services, symbol: str) -> tuple[int, int]:
    name = symbol.upper()
    sym = svc.engine.read(lambda e: e.exchange.symbols.get(name))
    if sym is None:
        raise OperationError(f"unknown symbol {name}", 404)
    return sym.price_scale, sym.qty_scale


def _price(svc: Services, symbol: str, price: str) -> int:
    units = to_units(price, _scales(svc, symbol)[0], field="price")
    if units <= 0:
        raise OperationError("the price must be positive")
    return units


def _status(svc: Services, maker: MarketMaker) -> dict[str, Any]:
    rows = []
    for row in maker.status():
        scale = _scales(svc, row["symbol"])[0]
        row["mid"] = format_units(row["mid"], scale)
        row["reference"] = format_units(row["reference"], scale)
        rows.append(row)
    return {"paused": maker.paused, "symbols": rows}


# --- the faucet -------------------------------------------------------------------------------
@operation("sandbox.faucet", demo_only=True)
def faucet(
    svc: Services, *, account: int, asset: str, amount: str, request_id: str | None = None
) -> dict[str, Any]:
    """Credit test funds to any account or sub-account (capped per account and asset a day);
    a repeated ``request_id`` credits once."""
    limits = svc.sandbox.faucet_limits if isinstance(svc.sandbox, Sandbox) else None
    try:
        done = f.credit(
            svc.engine, FaucetLedger(svc.db), account, asset, amount, request_id, limits=limits
        )
    except f.FaucetRefused as exc:  # the engine's refusal keeps its status (a reused request id)
        cause = exc.__cause__
        status = status_of(cause) if isinstance(cause, DomainError) else 400
        raise OperationError(str(exc), 404 if exc.missing else status) from exc
    except f.FaucetLimit as exc:
        raise OperationError(str(exc), 429) from exc
    return asdict(done)


# --- the market maker -------------------------------------------------------------------------
@operation("sandbox.status", mutates=False, demo_only=True)
def status(svc: Services) -> dict[str, Any]:
    """What moves each symbol's price (walk, path, drift, replay), its mid, and whether the
    market maker is paused."""
    return _status(svc, _maker(svc))


@operation("sandbox.price", demo_only=True)
def price(svc: Services, *, symbol: str, price: str) -> dict[str, Any]:
    """Move a symbol's price (the market maker's mid) now."""
    maker = _maker(svc)
    try:
        maker.set_price(symbol, _price(svc, symbol, price))
    except (KeyError, ValueError) as exc:
        raise OperationError(str(exc).strip("'")) from None
    return _status(svc, maker)


@operation("sandbox.path", demo_only=True)
def path(
    svc: Services,
    *,
    symbol: str,
    points: list[str] | None = None,
    drift_bps: str | None = None,
    volatility_bps: str | None = None,
) -> dict[str, Any]:
    """Script a symbol's price: waypoints ``SECONDS:PRICE`` (linear between them), or a random
    walk with a drift and a volatility in basis points per minute."""
    maker = _maker(svc)
    try:
        if points:
            pts = []
            for p in points:
                seconds, sep, text = str(p).partition(":")
                if not sep:
                    raise OperationError(f"{p!r}: a point is SECONDS:PRICE, e.g. 30:61000")
                ms = int(_decimal(seconds, "seconds") * 1000)
                pts.append((ms, _price(svc, symbol, text)))
            maker.set_path(symbol, pts)
        elif drift_bps is not None or volatility_bps is not None:
            drift = int(_decimal(drift_bps or "0", "drift") * 100)  # bps -> ppm
            vol = int(_decimal(volatility_bps or "0", "volatility") * 100)
            maker.set_drift(symbol, drift, vol)
        else:
            raise OperationError("give points, or a drift and/or a volatility")
    except (KeyError, ValueError) as exc:
        raise OperationError(str(exc).strip("'")) from None
    return _status(svc, maker)


@operation("sandbox.replay", demo_only=True)
def replay(svc: Services, *, symbol: str, csv_text: str, speed: str = "1") -> dict[str, Any]:
    """Replay recorded trades (CSV: timestamp in ms or s, price, qty, side) at a speed factor."""
    maker = _maker(svc)
    price_scale, qty_scale = _scales(svc, symbol)
    factor = _decimal(speed, "speed")
    rows: list[RecordedTrade] = []
    first: Decimal | None = None
    reader = csv.reader(io.StringIO(csv_text))
    for n, row in enumerate(reader, 1):
        if not row or row[0].strip().lower() in ("timestamp", "time", "ts", ""):
            continue
        if len(row) < 4:
            raise OperationError(f"line {n}: expected timestamp,price,qty,side")
        if len(rows) >= MAX_REPLAY_ROWS:
            raise OperationError(f"at most {MAX_REPLAY_ROWS} trades per replay")
        ts = _decimal(row[0], f"line {n}: timestamp")
        if ts < 10_000_000_000:  # seconds
            ts *= 1000
        first = ts if first is None else first
        side = row[3].strip().upper()
        if side not in ("BUY", "SELL"):
            raise OperationError(f"line {n}: side must be BUY or SELL, not {row[3]!r}")
        rows.append(
            RecordedTrade(
                int(ts - first),
                to_units(row[1].strip(), price_scale, field="price"),
                to_units(row[2].strip(), qty_scale, field="quantity"),
                BUY if side == "BUY" else SELL,
            )
        )
    if any(r.offset_ms < 0 for r in rows):
        raise OperationError("the trades must be in time order")
    try:
        maker.replay(symbol, rows, float(factor))
    except (KeyError, ValueError) as exc:
        raise OperationError(str(exc).strip("'")) from None
    seconds = rows[-1].offset_ms / 1000 / float(factor) if rows else 0
    return {"symbol": symbol.upper(), "trades": len(rows), "seconds": round(seconds, 1)}


@operation("sandbox.pause", demo_only=True)
def pause(svc: Services) -> dict[str, Any]:
    """Pause the market maker (its quotes stay on the books)."""
    maker = _maker(svc)
    maker.pause()
    return {"paused": True}


@operation("sandbox.resume", demo_only=True)
def resume(svc: Services) -> dict[str, Any]:
    """Resume the market maker."""
    maker = _maker(svc)
    maker.resume()
    return {"paused": False}


def _decimal(text: str, what: str) -> Decimal:
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        raise OperationError(f"{what} {text!r} is not a number") from None
    if not value.is_finite():
        raise OperationError(f"{what} {text!r} is not a number")
    return value


# --- faults -----------------------------------------------------------------------------------
@operation("sandbox.fault", demo_only=True)
def fault(
    svc: Services,
    *,
    path: str,
    kind: str,
    duration_s: int = 60,
    latency_ms: int = 0,
    rate: str = "1",
    code: int = 500,
    status: int = 500,
    retry_after_s: int = 1,
    msg: str = "",
) -> dict[str, Any]:
    """Inject a fault on the endpoints matching ``path`` (a shell pattern) for ``duration_s``:
    latency, error, maintenance, throttle (429) or drop_ws."""
    table = _sandbox(svc).faults
    if kind not in KINDS:
        raise OperationError(f"kind {kind!r}: expected one of {', '.join(KINDS)}")
    if not path.startswith("/"):
        raise OperationError(f"path {path!r} must start with / (e.g. /api/v3/order, /api/v3/*)")
    if not 1 <= duration_s <= MAX_DURATION_S:
        raise OperationError(f"duration_s must be between 1 and {MAX_DURATION_S}")
    if kind == "latency" and not 1 <= latency_ms <= 60_000:
        raise OperationError("latency_ms must be between 1 and 60000")
    share = _decimal(rate, "rate")
    if not 0 < share <= 1:
        raise OperationError("rate must be above 0 and at most 1")
    if not 400 <= status <= 599:
        raise OperationError("status must be an HTTP error status (400-599)")
    if not 1 <= retry_after_s <= 3600:
        raise OperationError("retry_after_s must be between 1 and 3600")
    now = time.time()
    try:
        added = table.add(
            Fault(
                table.next_id(),
                path,
                kind,
                now + duration_s,
                latency_ms=latency_ms,
                rate=float(share),
                code=code,
                status=status,
                retry_after_s=retry_after_s,
                msg=msg[:200],
            )
        )
    except ValueError as exc:
        raise OperationError(str(exc), 409) from None
    return added.as_json(now)


@operation("sandbox.faults", mutates=False, demo_only=True)
def faults(svc: Services) -> list[dict[str, Any]]:
    """The injected faults still active, oldest first."""
    now = time.time()
    return [f.as_json(now) for f in _sandbox(svc).faults.list()]


@operation("sandbox.clear", demo_only=True)
def clear(svc: Services, *, id: int | None = None, path: str | None = None) -> dict[str, Any]:
    """Clear one injected fault (``id``), those on ``path``, or all of them."""
    return {"cleared": _sandbox(svc).faults.clear(id, path)}


# --- reset ------------------------------------------------------------------------------------
@operation("sandbox.reset", demo_only=True)
def reset(svc: Services) -> dict[str, Any]:
    """Put the sandbox back to its demo seed: every order cancelled, every balance to its seed
    amount (0 for accounts opened since), while the exchange runs."""
    try:
        return _sandbox(svc).reset()
    except ResetInProgress as exc:
        raise OperationError(str(exc), 409) from None
