"""``/metrics`` after a ccxt scenario: the counters moved by exactly what the scenario did
(requests by route template and status, engine commands and batches, open orders, withdrawals,
the ledger audit), on SQLite and PostgreSQL, scraped with the operator credential like
Prometheus would."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from functools import partial

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bourse.api.mexc.routes import ENDPOINTS
from bourse.app import create_app
from tests.support.live import LiveServer, serve_live

BTC = "BTC/USDT"
TOKEN = secrets.token_urlsafe(16)


@pytest.fixture
def metered(migrated_url: str) -> Iterator[LiveServer]:
    with serve_live(
        migrated_url, LiveServer, app=partial(create_app, operator_token=TOKEN)
    ) as live:
        yield live


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``/metrics``: (name, sorted labels) -> value."""
    r = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=15)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def get(samples: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_need_the_operator_credential(metered: LiveServer) -> None:
    """As the operator API answers: a missing credential is "required", a wrong one
    "refused"."""
    absent = httpx.get(f"{metered.url}/metrics")
    assert (absent.status_code, absent.json()) == (
        401,
        {"code": 700001, "msg": "operator credential required"},
    )
    wrong = httpx.get(f"{metered.url}/metrics", headers={"Authorization": "Bearer nope"})
    assert (wrong.status_code, wrong.json()) == (
        401,
        {"code": 700001, "msg": "operator credential refused"},
    )


def test_counters_move_by_what_a_ccxt_scenario_did(metered: LiveServer) -> None:
    user, cp = metered.mexc("user"), metered.mexc("counterparty")
    user.load_markets()
    cp.load_markets()
    before = scrape(metered.url)

    resting = user.create_order(BTC, "limit", "buy", 0.02, 50_000)
    cp.create_order(BTC, "limit", "sell", 0.01, 50_000)  # fills half of it
    extra = user.create_order(BTC, "limit", "buy", 0.01, 40_000)
    user.cancel_order(extra["id"], BTC)
    assert user.fetch_order(resting["id"], BTC)["filled"] == 0.01
    user.withdraw("USDT", 20, "T" + "E" * 33, params={"network": "TRX"})

    after = scrape(metered.url)

    def delta(name: str, **labels: str) -> float:
        return get(after, name, **labels) - get(before, name, **labels)

    order = {"route": "/api/v3/order"}
    assert delta("bourse_http_requests_total", **order, method="POST", status="200") == 3
    assert delta("bourse_http_requests_total", **order, method="DELETE", status="200") == 1
    assert delta("bourse_http_requests_total", **order, method="GET", status="200") == 1
    assert delta("bourse_http_request_duration_seconds_count", **order, method="POST") == 3
    # route templates, never raw paths: every route label is a declared endpoint's path
    routes = {v for (_, labels) in after for k, v in labels if k == "route"}
    assert "/api/v3/order" in routes
    assert routes <= {ep.path for ep in ENDPOINTS} | {"/metrics"}, routes
    # three orders, one cancel, one withdrawal reserve: five commands, in at most five batches
    assert delta("bourse_engine_commands_total") == 5
    assert delta("bourse_engine_batch_size_sum") == 5
    batches = delta("bourse_engine_batch_size_count")
    assert 1 <= batches <= 5
    assert delta("bourse_engine_commit_seconds_count") == batches
    assert delta("bourse_engine_batches_total") == batches
    # the user's half-filled buy rests; the cancelled one and the cp's filled sell do not
    assert delta("bourse_open_orders", symbol="BTCUSDT", side="BUY") == 1
    assert delta("bourse_open_orders", symbol="BTCUSDT", side="SELL") == 0
    assert get(after, "bourse_book_levels", symbol="BTCUSDT", side="BUY") >= 1

    def withdrawals(samples: dict) -> float:  # type: ignore[type-arg]
        return sum(v for (name, _), v in samples.items() if name == "bourse_withdrawals")

    # the database figures are re-read at most once a second: scrape until they are
    deadline = time.monotonic() + 10
    while withdrawals(after) == withdrawals(before) and time.monotonic() < deadline:
        time.sleep(0.2)
        after = scrape(metered.url)
    assert withdrawals(after) - withdrawals(before) == 1
    assert get(after, "bourse_store_up") == 1
    assert get(after, "bourse_engine_queue_depth") == 0
    assert get(after, "bourse_ws_connections") == 0


def test_the_ledger_audit_is_a_metric(metered: LiveServer) -> None:
    samples = scrape(metered.url)  # the first scrape starts the first audit
    deadline = time.monotonic() + 30
    while ("bourse_ledger_check_ok", ()) not in samples and time.monotonic() < deadline:
        time.sleep(0.1)
        samples = scrape(metered.url)
    assert get(samples, "bourse_ledger_check_ok") == 1
    assert get(samples, "bourse_ledger_check_problems") == 0
    assert get(samples, "bourse_ledger_check_timestamp_seconds") > time.time() - 60
