"""Shared set-up for the client tests: a small, exactly known BTCUSDT/ETHUSDT market.

``seed_market`` has the ``counterparty`` account (through ccxt, over HTTP) trade with itself
(MEXC's default is no self-trade prevention), then leave one bid and one ask resting:

- BTCUSDT trades: 0.01 @ 60000, then 0.02 @ 60500; book: bid 0.1 @ 60400, ask 0.3 @ 60600 (a spread
  ccxt's ticker test accepts: the last price within 1% of the mid);
- ETHUSDT trades: 0.5 @ 3000; book: bid 1 @ 2900, ask 1 @ 3100.

The ``user`` account's balances are untouched, so tests can check them exactly.
"""

from __future__ import annotations

from typing import Any

BTC_TRADES = (("60000", "0.01"), ("60500", "0.02"))
ETH_TRADES = (("3000", "0.5"),)


def seed_market(live_server: Any) -> Any:
    """Make the trades and resting orders above; returns the counterparty's ccxt client."""
    cp = live_server.mexc("counterparty")
    cp.load_markets()
    for symbol, trades, bid, ask in (
        ("BTC/USDT", BTC_TRADES, ("60400", "0.1"), ("60600", "0.3")),
        ("ETH/USDT", ETH_TRADES, ("2900", "1"), ("3100", "1")),
    ):
        for price, qty in trades:
            cp.create_order(symbol, "limit", "sell", qty, price)
            cp.create_order(symbol, "limit", "buy", qty, price)
        cp.create_order(symbol, "limit", "buy", bid[1], bid[0])
        cp.create_order(symbol, "limit", "sell", ask[1], ask[0])
    return cp
