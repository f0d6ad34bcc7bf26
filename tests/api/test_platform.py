"""Services lifecycle: reopening rebuilds books, balances and market data from the database."""

from __future__ import annotations

from typing import Any

from bourse.bootstrap import open_platform
from bourse.config import Config, RateLimits
from bourse.domain.accounts import AccountKind
from bourse.domain.money import to_units
from bourse.domain.orders import BUY, SELL, OrderRequest, OrderType
from bourse.engine import commands as c
from bourse.services.apikeys import generate_server_key


def test_reopen_rebuilds_market_data(migrated_url: str, tmp_path: Any) -> None:
    cfg = Config(
        database_url=migrated_url,
        secret_key=generate_server_key(),
        rate_limits=RateLimits.off(),
    )
    p = open_platform(cfg)
    try:
        e = p.engine
        a = e.execute(c.OpenAccount(AccountKind.USER))
        b = e.execute(c.OpenAccount(AccountKind.USER))
        e.execute(c.CreditDeposit(a.id, "BTC", to_units("1", 8), "x1"))
        e.execute(c.CreditDeposit(b.id, "USDT", to_units("100000", 8), "x2"))
        for price in ("30000", "30100"):
            e.execute(
                c.PlaceOrder(
                    OrderRequest(
                        a.id, "BTCUSDT", SELL, OrderType.LIMIT, qty=10_000, price=to_units(price, 2)
                    )
                )
            )
            e.execute(
                c.PlaceOrder(
                    OrderRequest(
                        b.id, "BTCUSDT", BUY, OrderType.LIMIT, qty=10_000, price=to_units(price, 2)
                    )
                )
            )
        before = p.marketdata.klines("BTCUSDT", "1m")
        key, _ = p.apikeys.create_key(a.id)
        assert len(p.marketdata.recent_trades("BTCUSDT", 10)) == 2
        bought = p.engine.read(lambda e: e.exchange.ledger.available(b.id, "BTC"))
        assert bought > 0
    finally:
        p.close()
    p = open_platform(cfg)
    try:
        assert p.marketdata.klines("BTCUSDT", "1m") == before
        assert p.marketdata.last_price("BTCUSDT") == to_units("30100", 2)
        assert [t[1] for t in p.marketdata.recent_trades("BTCUSDT", 10)] == [3_000_000, 3_010_000]
        assert p.apikeys.lookup(key) is not None
        # the default listings are added once, not again on reopen
        assert sorted(p.engine.exchange.symbols) == ["BTCUSDT", "ETHUSDT", "MXUSDT"]
    finally:
        p.close()
    # a command on a stopped server (cli.common.direct_config) replays no trade: the engine's
    # state is all an operation reads or checks a write against
    cfg.market_data = False
    p = open_platform(cfg)
    try:
        assert p.marketdata.recent_trades("BTCUSDT", 10) == []
        assert p.engine.read(lambda e: e.exchange.ledger.available(b.id, "BTC")) == bought
    finally:
        p.close()
