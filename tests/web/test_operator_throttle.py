"""The operator credential's failure throttle (``services.throttle.FailureWindow``): it slows
guessing from one address and never locks the operator out. Over HTTP on the operator API, the
console's sign-in and ``/metrics`` (one shared budget), and the window's own memory bound."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from bourse.services.throttle import MAX_FAILURES, FailureWindow
from tests.web.operator_server import Operated, csrf


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _api(o: Operated, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.post(o.url + "/admin/v1/accounts/list", json={}, headers=headers).status_code


def _metrics(o: Operated, token: str) -> int:
    return httpx.get(o.url + "/metrics", headers={"Authorization": f"Bearer {token}"}).status_code


def _login(o: Operated, token: str) -> int:
    with o.client() as http:
        form = {"token": token, "csrf_token": csrf(http.get("/operator/login").text)}
        return http.post("/operator/login", data=form).status_code


def test_a_throttled_address_still_lets_the_right_credential_through(operated: Operated) -> None:
    o = operated
    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(lambda i: _api(o, f"bop_guess{i}"), range(16)))
    # concurrent guesses: exactly the budget is looked at, whatever the interleaving
    assert sorted(codes) == [401] * MAX_FAILURES + [429] * (16 - MAX_FAILURES)
    # wrong credentials stay refused with 429 on every door that shares the budget...
    assert _api(o, "bop_wrong") == 429
    assert _metrics(o, "bop_wrong") == 429
    assert _login(o, "bop_wrong") == 429
    # ...and the right one goes through all of them, concurrently with more guesses
    with ThreadPoolExecutor(16) as pool:
        right = [pool.submit(_api, o, o.token) for _ in range(8)]
        wrong = [pool.submit(_api, o, "bop_wrong") for _ in range(8)]
        assert [f.result() for f in right] == [200] * 8
        assert [f.result() for f in wrong] == [429] * 8
    assert _metrics(o, o.token) == 200
    assert _login(o, o.token) == 303


def test_metrics_failures_count_against_the_shared_budget(operated: Operated) -> None:
    o = operated
    assert [_metrics(o, "bop_wrong") for _ in range(MAX_FAILURES)] == [401] * MAX_FAILURES
    assert _api(o, "bop_wrong") == 429
    assert _api(o, o.token) == 200


def test_a_full_failure_window_never_resets_a_recent_address() -> None:
    w = FailureWindow()  # the server's: 5 a minute, 10,000 addresses
    for i in range(10_000):
        w.failed(f"198.51.{i // 256}.{i % 256}")
    for _ in range(MAX_FAILURES):
        w.failed("attacker")
    w.failed("one-more")  # over the bound: only the least recently failed address goes
    assert w.blocked("attacker")
    assert w.tracked() == w.max_sources == 10_000


def test_failure_window_slides_and_forgets_the_least_recent_address_only() -> None:
    clock = _Clock()
    w = FailureWindow(limit=3, window_s=60.0, max_sources=100, clock=clock)
    for _ in range(3):
        w.failed("victim")
    assert w.blocked("victim")
    # an attacker rotating addresses fills the table: the oldest entries go one at a time,
    # never everyone's at once
    for i in range(99):
        w.failed(f"rotating-{i}")
    assert w.tracked() == 100 and w.blocked("victim")
    for _ in range(3):
        w.failed("attacker")
    assert w.tracked() == 100 and not w.blocked("victim")  # the least recently failed went first
    assert w.blocked("attacker")
    # asking remembers nothing: a flood of checks from new addresses takes no room
    for i in range(1000):
        assert not w.blocked(f"asking-{i}")
    assert w.tracked() == 100
    # the window slides: the address is free once its oldest failure is a minute old
    clock.now += 59.0
    assert w.blocked("attacker")
    clock.now += 1.0
    assert not w.blocked("attacker")
    # addresses whose failures all left the window are dropped at the next failure
    w.failed("late")
    assert w.tracked() == 1 and not w.blocked("late")


def test_failure_window_counts_concurrent_failures_exactly() -> None:
    w = FailureWindow(limit=1_000, window_s=3600.0, max_sources=50)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: w.failed(f"a{i % 40}"), range(40 * 25)))
    assert w.tracked() == 40 and all(w.blocked(f"a{i}") is False for i in range(40))
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: w.failed("one"), range(1_000)))
    assert w.blocked("one")
