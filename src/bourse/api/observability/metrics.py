"""Prometheus metrics of one served platform, and ``GET /metrics`` behind the operator
credential.

Updated where things happen (the cost is a counter increment or a histogram bucket):

* ``bourse_http_requests_total{route,method,status}`` and
  ``bourse_http_request_duration_seconds{route,method}``: every HTTP request, by route template
  (``middleware.RequestIds``);
* ``bourse_rate_limit_refusals_total{status}``: 429s and 418s of the rate limiter;
* ``bourse_engine_commands_total``, ``bourse_engine_batch_size``,
  ``bourse_engine_commit_seconds``: the engine's ``observer``, once per committed batch.

Read when scraped (nothing is done for them between scrapes):

* ``bourse_engine_queue_depth``, ``bourse_engine_batches_total``; on a gateway or a follower,
  ``bourse_engine_heard_seconds``: since it last heard the writer's heartbeat (the active
  engine's: ``bus.heartbeat``; its ``/readyz`` fails past ``SILENCE_S``);
* ``bourse_open_orders{symbol,side}``, ``bourse_book_levels{symbol,side}`` (under the engine's
  read lock: one pass over the price levels);
* ``bourse_ws_connections``, ``bourse_ws_slow_consumers_dropped_total``;
* ``bourse_bus_backlog_events``, ``bourse_bus_published_total``, ``bourse_bus_lost_events_total``
  (the writer's NATS outbox), ``bourse_bus_follower_lag_batches`` (a follower: batches the
  database has committed that its copy has not folded in yet);
* ``bourse_follower_lag_seconds{follower}``, ``bourse_follower_runs_total{follower}``,
  ``bourse_follower_failures_total{follower}`` (``rebates``: the rebate accrual lag);
* ``bourse_withdrawals{status}``, ``bourse_store_up`` (one query, on a worker thread with a
  timeout, kept ``SLOW_TTL_S``);
* ``bourse_ledger_check_ok``, ``bourse_ledger_check_problems``,
  ``bourse_ledger_check_timestamp_seconds``: the result of ``bourse check``'s audit, run on a
  worker thread when a scrape finds the last one older than ``LEDGER_CHECK_INTERVAL_S``.

With ``PROMETHEUS_MULTIPROC_DIR`` set (several worker processes behind one port), counters and
histograms live in that directory and ``/metrics`` adds up every process's; the figures read
when scraped are this process's.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bourse.api.ws.limits import StreamStats
from bourse.domain.ledger_check import audit
from bourse.services.bundle import Services
from bourse.services.throttle import FailureWindow, request_ip
from bourse.store.ledger_check import ledger_figures

#: seconds the database figures (withdrawals, follower lag) are kept between scrapes
SLOW_TTL_S = 1.0
#: seconds a scrape waits for them before answering without
SLOW_TIMEOUT_S = 2.0
#: seconds between two ledger audits (each reads the whole ledger)
LEDGER_CHECK_INTERVAL_S = 300.0

disable_created_metrics()  # no ``*_created`` series: a restart shows in the counters already

#: every metric family /metrics can serve, with its type (deploy/ may name only these)
FAMILIES: dict[str, str] = {
    "bourse_http_requests": "counter",
    "bourse_http_request_duration_seconds": "histogram",
    "bourse_rate_limit_refusals": "counter",
    "bourse_engine_commands": "counter",
    "bourse_engine_batch_size": "histogram",
    "bourse_engine_commit_seconds": "histogram",
    "bourse_engine_queue_depth": "gauge",
    "bourse_engine_batches": "counter",
    "bourse_engine_heard_seconds": "gauge",
    "bourse_open_orders": "gauge",
    "bourse_book_levels": "gauge",
    "bourse_ws_connections": "gauge",
    "bourse_ws_slow_consumers_dropped": "counter",
    "bourse_bus_backlog_events": "gauge",
    "bourse_bus_published": "counter",
    "bourse_bus_lost_events": "counter",
    "bourse_bus_follower_lag_batches": "gauge",
    "bourse_follower_lag_seconds": "gauge",
    "bourse_follower_runs": "counter",
    "bourse_follower_failures": "counter",
    "bourse_store_up": "gauge",
    "bourse_withdrawals": "gauge",
    "bourse_ledger_check_ok": "gauge",
    "bourse_ledger_check_problems": "gauge",
    "bourse_ledger_check_timestamp_seconds": "gauge",
}
_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "gauge": ("",),
}


def sample_names() -> frozenset[str]:
    """Every sample name a scrape can hold (``_total``, ``_bucket``, ... included)."""
    return frozenset(f + sfx for f, kind in FAMILIES.items() for sfx in _SUFFIXES[kind])


LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)


class Metrics:
    """The metrics of one app (its own registry: several apps in one process stay apart)."""

    def __init__(self, platform: Services, ws: StreamStats) -> None:
        self.platform = platform
        self.ws = ws
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "bourse_http_requests",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "bourse_http_request_duration_seconds",
            "HTTP request latency by route template and method",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.refusals = Counter(
            "bourse_rate_limit_refusals",
            "Requests refused by the rate limiter (429, or 418 while banned)",
            ["status"],
            registry=r,
        )
        self.commands = Counter("bourse_engine_commands", "Commands the engine applied", registry=r)
        self.batch_size = Histogram(
            "bourse_engine_batch_size",
            "Commands per committed batch (group commit)",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.commit = Histogram(
            "bourse_engine_commit_seconds",
            "Seconds one batch's transaction took to commit",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        #: (route, method, status) -> its counter and histogram children (labels() costs more)
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.state = PlatformState(platform, ws)
        r.register(self.state)
        platform.engine.observer = self.observe_batch

    # --- updated where things happen ---------------------------------------------------------
    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        children = self._children.get((route, method, status))
        if children is None:  # first time for this label set: look the children up once
            children = self._children[(route, method, status)] = (
                self.requests.labels(route, method, str(status)),
                self.latency.labels(route, method),
            )
        children[0].inc()
        children[1].observe(seconds)

    def refused(self, status: int) -> None:
        self.refusals.labels(str(status)).inc()

    def observe_batch(self, commands: int, commit_seconds: float) -> None:
        self.commands.inc(commands)
        self.batch_size.observe(commands)
        self.commit.observe(commit_seconds)

    # --- the scrape ---------------------------------------------------------------------------
    def samples(self) -> dict[str, float]:
        """This process's figures as a scrape reads them, ``name`` or ``name{k="v",...}`` ->
        value (the operator console's health page; worker thread: it may read the database)."""
        self.state.refresh()
        out: dict[str, float] = {}
        for family in self.registry.collect():
            for s in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
                out[f"{s.name}{{{labels}}}" if labels else s.name] = float(s.value)
        return out

    def exposition(self) -> bytes:
        """The text format of every metric (worker thread: it may read the database)."""
        self.state.refresh()
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            registry.register(self.state)
            return generate_latest(registry)
        return generate_latest(self.registry)


class PlatformState:
    """The figures read when scraped (a prometheus_client custom collector)."""

    def __init__(self, platform: Services, ws: StreamStats) -> None:
        self.platform = platform
        self.ws = ws
        self._slow: dict[str, Any] = {}
        self._slow_at = 0.0
        self._slow_lock = threading.Lock()
        self._ledger: tuple[bool, int, float] | None = None  # ok, problems, when
        self._ledger_running = False

    def describe(self) -> list[Metric]:
        return []  # figures appear and go with the platform's state

    # --- the database figures, cached -------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the database figures if older than ``SLOW_TTL_S``; start a ledger audit if
        the last one is older than ``LEDGER_CHECK_INTERVAL_S`` (never waits for it)."""
        now = time.monotonic()
        if now - self._slow_at >= SLOW_TTL_S and self._slow_lock.acquire(blocking=False):
            try:
                self._slow = self._read_slow()
                self._slow_at = time.monotonic()
            finally:
                self._slow_lock.release()
        last = self._ledger
        if not self._ledger_running and (
            last is None or time.time() - last[2] >= LEDGER_CHECK_INTERVAL_S
        ):
            self._ledger_running = True
            threading.Thread(
                target=self._check_ledger, name="bourse-ledger-check", daemon=True
            ).start()

    def _read_slow(self) -> dict[str, Any]:
        p = self.platform
        try:
            out: dict[str, Any] = {"withdrawals": p.queries.withdrawals_by_status(), "up": 1}
            if p.mirror is not None:
                out["follower_lag"] = max(0, p.queries.committed_batches() - p.mirror.commits)
        except Exception:
            return {"up": 0}
        return out

    def _check_ledger(self) -> None:
        try:
            problems = len(audit(ledger_figures(self.platform.db)))
            self._ledger = (problems == 0, problems, time.time())
        except Exception:
            pass  # the database is away: bourse_store_up says so; keep the last result
        finally:
            self._ledger_running = False

    def wait_ledger_check(self, timeout: float = 30.0) -> bool:
        """Wait until a ledger audit has a result (tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._ledger is not None and not self._ledger_running:
                return True
            time.sleep(0.05)
        return False

    # --- the collector ------------------------------------------------------------------------
    def collect(self) -> Iterator[Metric]:
        p = self.platform
        engine = p.engine
        yield _gauge(
            "bourse_engine_queue_depth", "Commands queued for the engine", engine.queue_depth
        )
        c = CounterMetricFamily("bourse_engine_batches", "Batches the engine committed")
        c.add_metric([], engine.batches)
        yield c
        heard = p.heard()
        if heard is not None:  # a gateway or a follower: is the engine behind it there?
            yield _gauge(
                "bourse_engine_heard_seconds",
                "Seconds since this gateway or follower last heard the writer's heartbeat",
                round(heard[1].silence()[0], 3),
            )

        def books(e: Any) -> list[tuple[str, int, int, int, int]]:
            out = []
            for name, book in e.exchange.books.items():
                bid_orders = sum(len(q) for q in book.bids.levels.values())
                ask_orders = sum(len(q) for q in book.asks.levels.values())
                out.append((name, bid_orders, ask_orders, len(book.bids), len(book.asks)))
            return out

        orders = GaugeMetricFamily(
            "bourse_open_orders", "Open orders on the book", labels=["symbol", "side"]
        )
        levels = GaugeMetricFamily(
            "bourse_book_levels", "Price levels of the book", labels=["symbol", "side"]
        )
        for name, bo, ao, bl, al in engine.read(books):
            orders.add_metric([name, "BUY"], bo)
            orders.add_metric([name, "SELL"], ao)
            levels.add_metric([name, "BUY"], bl)
            levels.add_metric([name, "SELL"], al)
        yield orders
        yield levels

        yield _gauge("bourse_ws_connections", "Open WebSocket connections", self.ws.connections)
        c = CounterMetricFamily(
            "bourse_ws_slow_consumers_dropped",
            "WebSocket connections dropped for falling behind (slow consumers)",
        )
        c.add_metric([], self.ws.slow_dropped)
        yield c

        if p.nats is not None:
            yield _gauge(
                "bourse_bus_backlog_events",
                "Committed batches waiting to be published to NATS",
                p.nats.backlog,
            )
            for name, value, text in (
                ("bourse_bus_published", p.nats.published, "Batches published to NATS"),
                ("bourse_bus_lost_events", p.nats.lost, "Batches never published to NATS"),
            ):
                c = CounterMetricFamily(name, text)
                c.add_metric([], value)
                yield c
        slow = self._slow
        if "follower_lag" in slow:
            yield _gauge(
                "bourse_bus_follower_lag_batches",
                "Batches the database committed that this follower has not folded in",
                slow["follower_lag"],
            )

        lag = GaugeMetricFamily(
            "bourse_follower_lag_seconds",
            "Seconds a follower (rebates: rebate accrual) is behind the committed batches",
            labels=["follower"],
        )
        runs = CounterMetricFamily("bourse_follower_runs", "Follower runs", labels=["follower"])
        fails = CounterMetricFamily(
            "bourse_follower_failures", "Failed follower attempts", labels=["follower"]
        )
        now = time.time()
        for f in p.followers:
            lag.add_metric([f.name], f.stats.lag(now))
            runs.add_metric([f.name], f.stats.runs)
            fails.add_metric([f.name], f.stats.failures)
        yield lag
        yield runs
        yield fails

        yield _gauge("bourse_store_up", "Whether the database answered", slow.get("up", 0))
        w = GaugeMetricFamily("bourse_withdrawals", "Withdrawals by status", labels=["status"])
        for status, n in sorted(slow.get("withdrawals", {}).items()):
            w.add_metric([status], n)
        yield w

        if self._ledger is not None:
            ok, problems, when = self._ledger
            yield _gauge("bourse_ledger_check_ok", "1 if the last ledger audit was sound", int(ok))
            yield _gauge(
                "bourse_ledger_check_problems",
                "Discrepancies the last ledger audit found",
                problems,
            )
            yield _gauge(
                "bourse_ledger_check_timestamp_seconds", "When the last ledger audit ran", when
            )


def _gauge(name: str, text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, text, value=value)


def metrics_routes(
    metrics: Metrics,
    token: str | None,
    throttle: FailureWindow | None = None,
    trust_forwarded: bool = False,
) -> list[Route]:
    """``GET /metrics``, answered only with ``Authorization: Bearer <operator token>`` (no
    route at all without a token: the metrics say too much about the exchange to be public).
    A wrong credential counts against ``throttle``, the operator API's (429 once the address
    is over it); the right one always passes."""
    if not token:
        return []
    expected = f"Bearer {token}".encode()
    throttle = throttle or FailureWindow()

    async def scrape(request: Request) -> Response:
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):  # said as /admin says it (operations.http)
            source = request_ip(request, trust_forwarded)
            if throttle.blocked(source or "unknown"):
                return JSONResponse(
                    {"code": 429, "msg": "too many failed operator credentials; wait a minute"},
                    status_code=429,
                )
            throttle.failed(source or "unknown")
            said = "operator credential refused" if given else "operator credential required"
            return JSONResponse({"code": 700001, "msg": said}, status_code=401)
        try:
            body = await asyncio.wait_for(run_in_threadpool(metrics.exposition), SLOW_TIMEOUT_S + 3)
        except TimeoutError:
            return JSONResponse({"code": 503, "msg": "metrics timed out"}, status_code=503)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return [Route("/metrics", scrape, methods=["GET"])]
