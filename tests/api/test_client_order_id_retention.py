"""``newClientOrderId`` over HTTP once its retention ran out (``engine.idempotency``), on SQLite
and PostgreSQL: the id places a new order; ``origClientOrderId`` then names the newest order
of the account with it (query and cancel), the old one stays readable by ``orderId``, and an
id never used is MEXC's unknown order (-2013)."""

from __future__ import annotations

from typing import Any

from bourse.engine.clock import now_ms
from bourse.engine.idempotency import DEFAULT_RETENTION_MS
from tests.support.mexc import err, ok
from tests.support.platforms import Env


def _order(price: str) -> dict[str, Any]:
    return {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "quantity": "0.01",
        "price": price,
        "newClientOrderId": "mm-1",
    }


def test_a_client_id_reused_after_its_retention_names_the_newest_order(env: Env) -> None:
    trader = env.signer(env.open_account(USDT="1000"))
    first = ok(trader.post("/api/v3/order", **_order("20000")))
    # within the retention: a retry answers the first order, other parameters are refused
    assert ok(trader.post("/api/v3/order", **_order("20000")))["orderId"] == first["orderId"]
    ok(trader.delete("/api/v3/order", symbol="BTCUSDT", origClientOrderId="mm-1"))
    assert ok(trader.post("/api/v3/order", **_order("20000")))["orderId"] == first["orderId"]
    err(trader.post("/api/v3/order", **_order("20001")), 33333)

    engine = env.platform.engine
    engine.clock = lambda: now_ms() + DEFAULT_RETENTION_MS  # a day later, for the engine
    second = ok(trader.post("/api/v3/order", **_order("20001")))
    assert second["orderId"] != first["orderId"]
    q = ok(trader.get("/api/v3/order", symbol="BTCUSDT", origClientOrderId="mm-1"))
    assert (q["orderId"], q["status"], q["price"]) == (second["orderId"], "NEW", "20001")
    old = ok(trader.get("/api/v3/order", symbol="BTCUSDT", orderId=first["orderId"]))
    assert (old["status"], old["clientOrderId"]) == ("CANCELED", "mm-1")
    gone = ok(trader.delete("/api/v3/order", symbol="BTCUSDT", origClientOrderId="mm-1"))
    assert gone["orderId"] == second["orderId"]
    err(trader.get("/api/v3/order", symbol="BTCUSDT", origClientOrderId="never"), -2013)
