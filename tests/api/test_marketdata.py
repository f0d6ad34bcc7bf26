"""Kline buckets for every MEXC interval, and the projections' arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime

from bourse.services.marketdata import INTERVALS, MarketData, bucket


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


def test_buckets() -> None:
    t = ms(2024, 2, 29, 13, 47, 31)  # a Thursday, leap day
    assert bucket("1m", t) == (ms(2024, 2, 29, 13, 47), ms(2024, 2, 29, 13, 48) - 1)
    assert bucket("5m", t)[0] == ms(2024, 2, 29, 13, 45)
    assert bucket("15m", t)[0] == ms(2024, 2, 29, 13, 45)
    assert bucket("30m", t)[0] == ms(2024, 2, 29, 13, 30)
    assert bucket("60m", t)[0] == ms(2024, 2, 29, 13)
    assert bucket("4h", t)[0] == ms(2024, 2, 29, 12)
    assert bucket("1d", t) == (ms(2024, 2, 29), ms(2024, 3, 1) - 1)
    assert bucket("1W", t) == (ms(2024, 2, 26), ms(2024, 3, 4) - 1)  # Monday to Monday
    assert bucket("1M", t) == (ms(2024, 2, 1), ms(2024, 3, 1) - 1)
    assert bucket("1M", ms(2023, 12, 31, 23, 59)) == (ms(2023, 12, 1), ms(2024, 1, 1) - 1)
    assert bucket("1W", ms(2024, 3, 4))[0] == ms(2024, 3, 4)


def trade(i: int, price: int, qty: int, ts: int, symbol: str = "X") -> dict:
    return {
        "id": i,
        "symbol": symbol,
        "price": price,
        "qty": qty,
        "quote_qty": price * qty,
        "taker_side": i % 2,
        "time": ts,
    }


def test_klines_and_rolling() -> None:
    md = MarketData()
    base = ms(2024, 1, 1)
    md.add_trades(
        [
            trade(1, 100, 1, base),
            trade(2, 120, 2, base + 30_000),
            trade(3, 90, 1, base + 61_000),
            trade(4, 110, 5, base + 3_600_000),
        ]
    )
    k = md.klines("X", "1m")
    assert [c[:8] for c in k] == [
        [base, 100, 120, 100, 120, 3, 340, 2],
        [base + 60_000, 90, 90, 90, 90, 1, 90, 1],
        [base + 3_600_000, 110, 110, 110, 110, 5, 550, 1],
    ]
    assert md.klines("X", "1m", limit=1)[0][0] == base + 3_600_000
    assert md.klines("X", "1m", start=base + 1, limit=1)[0][0] == base
    assert md.klines("X", "1m", start=base + 60_000, end=base + 60_000)[0][1] == 90
    assert md.klines("X", "60m")[0][1:6] == [100, 120, 90, 90, 4]
    for iv in INTERVALS:
        assert sum(c[5] for c in md.klines("X", iv)) == 9, iv
    r = md.rolling("X", base + 3_600_000 + 1)
    assert (r["open"], r["high"], r["low"], r["last"], r["volume"], r["count"]) == (
        100,
        120,
        90,
        110,
        9,
        4,
    )
    r = md.rolling("X", base + 3_600_000 + 1, window=3_000_000)
    assert (r["open"], r["prev_close"], r["count"]) == (110, 90, 1)
    assert md.average_price("X", base + 3_600_000 + 1) == (550, 5)
    assert md.recent_trades("X", 2) == [
        (3, 90, 1, 90, 1, base + 61_000),
        (4, 110, 5, 550, 0, base + 3_600_000),
    ]
    assert md.klines("Y", "1m") == [] and md.rolling("Y", base)["last"] is None
