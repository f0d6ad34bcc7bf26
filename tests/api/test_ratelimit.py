"""Rate limits: per endpoint, per IP and per account, 429 + Retry-After + MEXC body."""

from __future__ import annotations

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
