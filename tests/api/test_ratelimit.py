"""Rate limits: per endpoint, per IP and per account, 429 + Retry-After + MEXC body."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bourse.api.mexc.errors import ApiError
from bourse.api.mexc.ratelimit import RateLimiter
from bourse.config import RateLimits
from tests.support.mexc import err, ok
from tests.support.platforms import open_env


def test_fixed_windows_per_bucket_and_endpoint() -> None:
    rl = RateLimiter(RateLimits(requests=3, window_ms=10_000))
    for _ in range(3):
        rl.hit("ip:a", "/x", 1_000)
    with pytest.raises(ApiError) as exc:
        rl.hit("ip:a", "/x", 2_500)
    assert exc.value.code == 429 and exc.value.status == 429
    assert exc.value.headers["Retry-After"] == "8"
    rl.hit("ip:b", "/x", 2_500)  # another IP
    rl.hit("ip:a", "/y", 2_500)  # another endpoint
    rl.hit("ip:a", "/x", 10_000)  # next window
    # special caps: account and batchOrders at 2 per second
    for _ in range(2):
        rl.hit("uid:1", "/api/v3/account", 5_000)
    with pytest.raises(ApiError):
        rl.hit("uid:1", "/api/v3/account", 5_999)
    rl.hit("uid:1", "/api/v3/account", 6_000)
    RateLimiter(RateLimits.off()).hit("ip:a", "/x")  # disabled: never raises


def test_429_over_http(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'rl.db'}"
    # the account cap as MEXC's (2 requests) but over a minute, so a slow machine cannot split
    # the three requests below across two windows
    limits = RateLimits(requests=5, window_ms=60_000, special={"/api/v3/account": (2, 60_000)})
    gen = open_env(url, tmp_path, limits)
    env = next(gen)
    try:
        for _ in range(5):
            ok(env.http.get("/api/v3/ping"))
        r = env.http.get("/api/v3/ping")
        err(r, 429, 429)
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        ok(env.http.get("/api/v3/time"))  # budgets are per endpoint
        s = env.signer(env.open_account())
        ok(s.get("/api/v3/account"))
        ok(s.get("/api/v3/account"))
        err(s.get("/api/v3/account"), 429, 429)  # the account cap, per account
    finally:
        gen.close()


def _flood(send: Any, n: int, threads: int = 8) -> list[int]:
    """``n`` calls of ``send()`` from ``threads`` threads released together; their statuses."""
    barrier = threading.Barrier(threads)

    def worker(share: int) -> list[int]:
        barrier.wait()
        return [send().status_code for _ in range(share)]

    with ThreadPoolExecutor(threads) as pool:
        shares = [n // threads + (i < n % threads) for i in range(threads)]
        return [s for part in pool.map(worker, shares) for s in part]


def test_the_ban_falls_on_the_key_that_kept_sending_not_on_the_account() -> None:
    """Two keys of one account share its budget (MEXC counts per UID); the one that floods is
    banned, the other is never banned for it, and cancels have their own budget."""
    rl = RateLimiter(RateLimits(requests=5, window_ms=60_000, ban_after=3))
    now = 1_000

    def hit(sender: str, method: str = "GET", path: str = "/api/v3/openOrders") -> int:
        try:
            rl.hit("uid:1", path, now, method=method, sender=sender)
        except ApiError as exc:
            return exc.status
        return 200

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: hit("key:reader"), range(40)))
    assert statuses.count(200) == 5 and statuses.count(418) > 0
    assert hit("key:reader") == 418
    assert hit("key:reader", "DELETE") == 418  # the key is banned, on every endpoint
    assert hit("key:owner") == 429  # the account's budget of that endpoint is spent
    assert hit("key:owner", "DELETE") == 200  # a cancel is another endpoint than a read
    for _ in range(2):  # with the one above, ban_after refusals of its own: still 429s
        assert hit("key:owner") == 429  # never banned for the reader's refusals
    assert hit("key:owner", "POST", "/api/v3/order") == 200


def test_a_read_only_key_flooding_the_account_leaves_the_trading_key_unbanned(
    tmp_path: Any,
) -> None:
    """The attack: a SPOT_ACCOUNT_READ key floods GET /api/v3/account (and a reads-only key GET
    /api/v3/openOrders) from 8 threads into 418; the owner's trading key still places and
    cancels orders, and is not banned on the flooded endpoints either."""
    url = f"sqlite:///{tmp_path / 'rl.db'}"
    hour = 3_600_000  # windows no run of this test crosses but once in a few hundred
    limits = RateLimits(
        requests=5, window_ms=hour, ban_after=3, special={"/api/v3/account": (2, hour)}
    )
    gen = open_env(url, tmp_path, limits)
    env = next(gen)
    try:
        acc = env.open_account(USDT="100")
        reader = env.signer(acc, ["SPOT_ACCOUNT_READ"])
        deals = env.signer(acc, ["SPOT_DEAL_READ"])
        owner = env.signer(acc)
        statuses = _flood(lambda: reader.get("/api/v3/account"), 40)
        assert statuses.count(200) == 2 and 418 in statuses, statuses
        statuses = _flood(lambda: deals.get("/api/v3/openOrders", symbol="BTCUSDT"), 40)
        assert statuses.count(200) == 5 and 418 in statuses, statuses
        err(reader.get("/api/v3/account"), 418, 418)
        err(deals.get("/api/v3/openOrders", symbol="BTCUSDT"), 418, 418)

        order = dict(symbol="BTCUSDT", side="BUY", type="LIMIT", quantity="0.001", price="2000")
        ok(owner.post("/api/v3/order", **order))
        ok(owner.delete("/api/v3/openOrders", symbol="BTCUSDT"))
        ok(owner.post("/api/v3/order", **order))
        # the shared budgets are spent: 429s for the owner (up to its own ban_after), no ban
        for _ in range(3):
            err(owner.get("/api/v3/account"), 429, 429)
            err(owner.get("/api/v3/openOrders", symbol="BTCUSDT"), 429, 429)
        ok(owner.delete("/api/v3/openOrders", symbol="BTCUSDT"))
    finally:
        gen.close()
