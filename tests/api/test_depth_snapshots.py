"""``GET /api/v3/depth`` keeps its formatted levels while the engine's version stands still
(``bourse.api.mexc.depth_snapshots``): a kept answer must never outlive a committed change."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from bourse.api.mexc import depth_snapshots
from tests.support.mexc import ok
from tests.support.platforms import Env


def depth(env: Env, limit: int = 100) -> dict:  # type: ignore[type-arg]
    return ok(env.http.get("/api/v3/depth", params={"symbol": "BTCUSDT", "limit": limit}))


def test_a_kept_book_is_dropped_by_the_next_commit(env: Env) -> None:
    maker = env.signer(env.open_account(BTC="1", ETH="1"))
    first = depth(env)
    again = depth(env)
    assert again["lastUpdateId"] == first["lastUpdateId"] and again["asks"] == first["asks"]
    kept = depth_snapshots._kept[env.platform.engine]
    assert kept[("BTCUSDT", 100)][0] == first["lastUpdateId"]

    order = {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "price": "30000"}
    ok(maker.post("/api/v3/order", **order, quantity="0.5"))
    placed = depth(env)
    assert placed["lastUpdateId"] > first["lastUpdateId"]
    assert placed["asks"] == [["30000", "0.5"]]
    # a commit that does not touch the book still moves the version: a fresh read, same levels
    ok(
        maker.post(
            "/api/v3/order", **{**order, "symbol": "ETHUSDT", "price": "2000"}, quantity="0.1"
        )
    )
    moved = depth(env)
    assert moved["lastUpdateId"] > placed["lastUpdateId"] and moved["asks"] == placed["asks"]
    # each limit is its own entry
    assert depth(env, 5)["asks"] == [["30000", "0.5"]]


def test_no_answer_is_older_than_the_order_acknowledged_before_it(env: Env) -> None:
    """Orders and depth reads from several threads: once an order is acknowledged, every depth
    read that starts afterwards shows it (or a later book), never the book from before."""
    maker = env.signer(env.open_account(BTC="10"))

    def place_then_read(i: int) -> tuple[int, list[list[str]]]:
        price = str(30000 + i)
        ok(maker.post("/api/v3/order", symbol="BTCUSDT", side="SELL", type="LIMIT",
                      price=price, quantity="0.01"))  # fmt: skip
        book = depth(env, 1000)
        return i, book["asks"]

    with ThreadPoolExecutor(4) as pool:
        for i, asks in pool.map(place_then_read, range(40)):
            assert [str(30000 + i), "0.01"] in asks
