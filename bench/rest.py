"""REST throughput: signed ``POST /api/v3/order`` against ``GET /api/v3/ping`` on the same stack.

For each backend (SQLite file, PostgreSQL database created for the run) the bench migrates a
fresh database, opens funded accounts with API keys, then starts the real server in a child
process (``uvicorn`` on 127.0.0.1, one worker, rate limits off) and drives it from this process
with ``httpx.AsyncClient``s at a fixed concurrency (one client and connection per worker):

1. ``ping``: ``GET /api/v3/ping`` (the hello-world baseline: routing, rate-limit accounting,
   parameter collection and JSON on the same app, no signature, no engine);
2. ``order``: signed ``POST /api/v3/order`` (HMAC verification, key lookup, validation, the
   engine's matching and ONE durable group commit before the acknowledgement). Sellers and
   buyers are different accounts at the same price, so about half the orders trade and the
   book stays small.

Each phase stops after ``--count`` requests or ``--seconds``, whichever comes first. Reported:
requests/s, p50/p99 latency, non-200 answers, and the ratio order/ping (target >= 0.30).

    .venv/bin/python bench/rest.py
    .venv/bin/python bench/rest.py --backends sqlite --concurrency 16 --count 5000

Not part of the pytest suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from pathlib import Path

# run as a script, this folder comes first on sys.path, and bench/http.py would hide the
# standard library's ``http`` package: take the folder off
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import httpx  # noqa: E402

from bourse.api.mexc.signing import sign  # noqa: E402
from bourse.bootstrap import open_platform  # noqa: E402
from bourse.config import Config, RateLimits  # noqa: E402
from bourse.domain.accounts import AccountKind  # noqa: E402
from bourse.domain.money import to_units  # noqa: E402
from bourse.engine import commands as c  # noqa: E402
from bourse.services.apikeys import generate_server_key  # noqa: E402

PG_ADMIN_URL = os.environ.get("BOURSE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PAIRS = 8  # seller/buyer account pairs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- server side (child process) ---------------------------------------------------------------
def serve(url: str, port: int) -> None:
    import uvicorn

    from bourse.app import create_app

    platform_ = open_platform(Config(database_url=url, rate_limits=RateLimits.off()))
    try:
        uvicorn.run(
            create_app(platform_),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
        )
    finally:
        platform_.close()


# --- set-up ----------------------------------------------------------------------------------
def seed(url: str) -> list[tuple[str, str, str]]:
    """Funded seller/buyer accounts with keys: [(side, api_key, secret)]."""
    p = open_platform(Config(database_url=url, rate_limits=RateLimits.off()))
    try:
        creds = []
        for i in range(PAIRS):
            seller = p.engine.execute(c.OpenAccount(AccountKind.USER, name=f"bench-s{i}"))
            buyer = p.engine.execute(c.OpenAccount(AccountKind.USER, name=f"bench-b{i}"))
            p.engine.execute(c.CreditDeposit(seller.id, "BTC", to_units("100000", 8), f"s{i}"))
            p.engine.execute(c.CreditDeposit(buyer.id, "USDT", to_units("5000000000", 8), f"b{i}"))
            for side, acc in (("SELL", seller.id), ("BUY", buyer.id)):
                key, secret = p.apikeys.create_key(acc, ["SPOT_DEAL_WRITE", "SPOT_DEAL_READ"])
                creds.append((side, key, secret))
        return creds
    finally:
        p.close()


def pg_create() -> str:
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"bourse_bench_{uuid.uuid4().hex[:10]}"
    admin = make_url(PG_ADMIN_URL).set(drivername="postgresql")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def pg_drop(url: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    admin = make_url(PG_ADMIN_URL).set(drivername="postgresql")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- load ------------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


async def drive_calls(  # type: ignore[no-untyped-def]
    base: str, call, concurrency: int, count: int, seconds: float, *, stop_on_error: bool = False
) -> dict:
    """``concurrency`` workers, each with its own ``httpx.AsyncClient`` and one keep-alive
    connection (one shared pool of many connections makes httpx itself the bottleneck).

    ``await call(client, w, n)`` makes request ``n`` of worker ``w`` and returns the response;
    with ``stop_on_error`` a worker stops at its first non-200 answer.
    """
    lat: list[float] = []
    errors: dict[int, int] = {}
    issued = 0
    clients = [
        httpx.AsyncClient(base_url=base, timeout=30, limits=httpx.Limits(max_connections=1))
        for _ in range(concurrency)
    ]
    deadline = time.perf_counter() + seconds

    async def worker(w: int, client: httpx.AsyncClient) -> None:
        nonlocal issued
        while issued < count and time.perf_counter() < deadline:
            n = issued
            issued += 1
            t0 = time.perf_counter()
            r = await call(client, w, n)
            lat.append(time.perf_counter() - t0)
            if r.status_code != 200:
                errors[r.status_code] = errors.get(r.status_code, 0) + 1
                if stop_on_error:
                    return

    try:
        start = time.perf_counter()
        await asyncio.gather(*(worker(w, cl) for w, cl in enumerate(clients)))
        elapsed = time.perf_counter() - start
    finally:
        for cl in clients:
            await cl.aclose()
    return {
        "n": len(lat),
        "rps": len(lat) / elapsed,
        "p50_ms": pct(lat, 0.50) * 1000,
        "p99_ms": pct(lat, 0.99) * 1000,
        "errors": errors,
        "seconds": elapsed,
    }


async def drive(base: str, make_request, concurrency: int, count: int, seconds: float) -> dict:  # type: ignore[no-untyped-def]
    """``drive_calls`` for requests described by ``make_request(w, n) -> (method, path,
    headers)``."""

    async def call(client: httpx.AsyncClient, w: int, n: int) -> httpx.Response:
        method, path, headers = make_request(w, n)
        return await client.request(method, path, headers=headers)

    return await drive_calls(base, call, concurrency, count, seconds)


def order_requests(creds: list[tuple[str, str, str]]):  # type: ignore[no-untyped-def]
    sellers = [x for x in creds if x[0] == "SELL"]
    buyers = [x for x in creds if x[0] == "BUY"]

    def make(w: int, n: int) -> tuple[str, str, dict]:
        side, key, secret = (sellers if n % 2 == 0 else buyers)[(n // 2 + w) % len(sellers)]
        q = urllib.parse.urlencode(
            {
                "symbol": "BTCUSDT",
                "side": side,
                "type": "LIMIT",
                "quantity": "0.001",
                "price": "30000",
                "timestamp": time.time_ns() // 1_000_000,
                # one worker's requests differ: the same signed request twice is a replay (26)
                "recvWindow": 60000 - n % 30000,
            }
        )
        q += "&signature=" + sign(secret, q)
        return "POST", "/api/v3/order?" + q, {"X-MEXC-APIKEY": key}

    return make


def ping_request(w: int, n: int) -> tuple[str, str, dict]:
    return "GET", "/api/v3/ping", {}


def wait_up(base: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited")
        try:
            if httpx.get(base + "/api/v3/ping", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not start")


def run_backend(name: str, url: str, args: argparse.Namespace) -> dict:
    creds = seed(url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", url, "--port", str(port)],
        env=os.environ.copy(),
    )
    try:
        wait_up(base, proc)
        # warm-up: connections, caches, the first batches
        asyncio.run(drive(base, ping_request, args.concurrency, 200, 5))
        asyncio.run(drive(base, order_requests(creds), args.concurrency, 200, 5))
        ping = asyncio.run(drive(base, ping_request, args.concurrency, args.count, args.seconds))
        order = asyncio.run(
            drive(base, order_requests(creds), args.concurrency, args.count, args.seconds)
        )
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {"backend": name, "ping": ping, "order": order, "ratio": order["rps"] / ping["rps"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--count", type=int, default=5000, help="requests per phase (max)")
    ap.add_argument("--seconds", type=float, default=20.0, help="time per phase (max)")
    ap.add_argument("--serve", metavar="URL", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    os.environ.setdefault("BOURSE_SECRET_KEY", generate_server_key())

    results = []
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        if backend == "sqlite":
            tmp = tempfile.mkdtemp(prefix="bourse-bench-")
            results.append(run_backend("sqlite", f"sqlite:///{tmp}/bench.db", args))
        elif backend == "postgresql":
            url = pg_create()
            try:
                results.append(run_backend("postgresql", url, args))
            finally:
                pg_drop(url)
        else:
            raise SystemExit(f"unknown backend {backend}")

    cmd = "bench/rest.py " + shlex.join(sys.argv[1:])
    print()
    print(f"## REST bench: signed POST /api/v3/order vs GET /api/v3/ping ({cmd.strip()})")
    print(
        f"host: {platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"uvicorn 1 worker, httpx clients, concurrency {args.concurrency}"
    )
    print()
    print("| backend | endpoint | requests | req/s | p50 ms | p99 ms | non-200 |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        for ep in ("ping", "order"):
            m = r[ep]
            print(
                f"| {r['backend']} | {ep} | {m['n']} | {m['rps']:.0f} | {m['p50_ms']:.2f} | "
                f"{m['p99_ms']:.2f} | {json.dumps(m['errors']) if m['errors'] else 0} |"
            )
    print()
    for r in results:
        verdict = "OK" if r["ratio"] >= 0.30 else "BELOW TARGET"
        print(f"ratio order/ping ({r['backend']}): {r['ratio']:.2f} (target >= 0.30: {verdict})")


if __name__ == "__main__":
    main()
