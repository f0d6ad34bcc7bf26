"""Durable engine throughput (group commit) on SQLite and PostgreSQL, against pgbench TPC-B.

For each backend a fresh database is created and migrated, funded accounts are opened, and
``--threads`` submitter threads drive one ``Engine(SqlStore)`` for ``--seconds``: each thread
places limit orders around a fixed mid (about half cross, so trades, refunds and fees are
posted), cancels some of its resting orders and makes transfers, waiting for each command's
acknowledgement (its batch committed in one transaction, ``synchronous=FULL`` on SQLite,
``synchronous_commit=on`` on PostgreSQL) before sending the next. Reported: acknowledged
commands/s, average batch size, p50/p99 acknowledgement latency.

The baseline is measured on the same PostgreSQL server in the same run: ``pgbench -i -s 1`` on
a database created for it, then ``pgbench -c 8 -j 2 -T 10`` (TPC-B-like, 5 statements per
transaction). The ratio engine_pg_cmds_per_s / pgbench_tps says how many durable exchange
commands we acknowledge per durable TPC-B transaction (target >= 1).

    .venv/bin/python bench/commit.py
    .venv/bin/python bench/commit.py --seconds 5 --threads 64 --skip-sqlite

Everything is bounded: each run stops at its deadline, pgbench runs for a fixed time, and the
databases it created are dropped at the end. Not part of the pytest suite.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import shlex
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import psycopg  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bourse.domain.accounts import AccountKind  # noqa: E402
from bourse.domain.errors import DomainError  # noqa: E402
from bourse.domain.orders import BUY, SELL, OrderRequest, OrderType  # noqa: E402
from bourse.engine import Engine  # noqa: E402
from bourse.engine import commands as c  # noqa: E402
from bourse.sandbox.listings import ASSETS, SYMBOLS  # noqa: E402
from bourse.store.db import make_engine, migrate  # noqa: E402
from bourse.store.sql import SqlStore  # noqa: E402

MID, TICK = 3_000_000, 100  # BTCUSDT 30000.00
FUNDING = {"USDT": 10**9 * 10**8, "BTC": 10**6 * 10**8}  # x accounts: stays < 2**63


def pg_conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def pg_create(admin_url: str, prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_conninfo(admin_url), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def pg_drop(admin_url: str, url: str) -> None:
    name = make_url(url).database
    with psycopg.connect(pg_conninfo(admin_url), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def percentile(sorted_values: list[int], q: float) -> float:
    if not sorted_values:
        return 0.0
    i = min(len(sorted_values) - 1, int(q * len(sorted_values)))
    return sorted_values[i] / 1e6  # ns -> ms


def submitter(
    engine: Engine,
    accounts: list[int],
    idx: int,
    until: float,
    max_commands: int,
    latencies: list[int],
    counts: dict[str, int],
) -> None:
    rng = random.Random(idx)
    mine: list[int] = []
    ok = refused = 0
    clock = time.perf_counter_ns
    for i in range(max_commands):
        if time.monotonic() >= until:
            break
        acc = accounts[idx % len(accounts)]
        r = rng.random()
        if r < 0.10 and mine:
            cmd: c.Command = c.CancelOrder(acc, "BTCUSDT", order_id=mine.pop(0))
        elif r < 0.30:
            dst = accounts[(idx + 1 + rng.randrange(len(accounts) - 1)) % len(accounts)]
            cmd = c.Transfer(acc, dst, "USDT", rng.randint(1, 10**8), f"b{idx}-{i}")
        else:
            side = BUY if rng.random() < 0.5 else SELL
            offset = TICK * rng.randint(-10, 10)
            price = MID - offset if side == BUY else MID + offset
            cmd = c.PlaceOrder(
                OrderRequest(
                    acc, "BTCUSDT", side, OrderType.LIMIT, qty=rng.randint(1_000, 50_000),
                    price=price, client_id=f"b{idx}-{i}",
                )
            )  # fmt: skip
        t0 = clock()
        fut = engine.submit(cmd)
        try:
            result = fut.result(30)
        except DomainError:
            refused += 1
            latencies.append(clock() - t0)
            continue
        latencies.append(clock() - t0)
        ok += 1
        if isinstance(cmd, c.PlaceOrder) and result.is_open:
            mine.append(result.id)
            if len(mine) > 50:  # stay well under the open-order cap
                oid = mine.pop(0)
                try:
                    engine.submit(c.CancelOrder(acc, "BTCUSDT", order_id=oid)).result(30)
                    ok += 1
                except DomainError:
                    refused += 1
    counts[f"ok{idx}"] = ok
    counts[f"refused{idx}"] = refused


def run_engine(url: str, threads: int, seconds: float, label: str) -> dict[str, float]:
    migrate(url)
    db = make_engine(url)
    try:
        engine = Engine(SqlStore(db))
        engine.apply_batch_now([c.AddAsset(a) for a in ASSETS] + [c.AddSymbol(s) for s in SYMBOLS])
        n_acc = max(8, threads)
        accounts = [a.id for a in engine.apply_batch_now([c.OpenAccount(AccountKind.USER)] * n_acc)]
        engine.apply_batch_now(
            [
                c.CreditDeposit(a, asset, amount, f"fund-{a}-{asset}")
                for a in accounts
                for asset, amount in FUNDING.items()
            ]
        )
        engine.start()
        per_thread: list[list[int]] = [[] for _ in range(threads)]
        counts: dict[str, int] = {}
        batches0 = engine.batches
        t0 = time.monotonic()
        until = t0 + seconds
        workers = [
            threading.Thread(
                target=submitter,
                args=(engine, accounts, i, until, 10_000_000, per_thread[i], counts),
                daemon=True,
            )
            for i in range(threads)
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join(seconds + 60)
        elapsed = time.monotonic() - t0
        batches = engine.batches - batches0
        engine.stop()
        engine.exchange.ledger.check()
    finally:
        db.dispose()
    lat = sorted(x for lst in per_thread for x in lst)
    ok = sum(v for k, v in counts.items() if k.startswith("ok"))
    refused = sum(v for k, v in counts.items() if k.startswith("refused"))
    total = ok + refused
    res = {
        "cmds_per_s": ok / elapsed,
        "answered_per_s": total / elapsed,
        "refused": refused,
        "ok": ok,
        "batches": batches,
        "avg_batch": total / batches if batches else 0.0,
        "p50_ms": percentile(lat, 0.50),
        "p99_ms": percentile(lat, 0.99),
        "elapsed": elapsed,
    }
    print(
        f"{label:<10} {res['cmds_per_s']:>9.0f} cmds/s  ({ok} acked, {refused} refused, "
        f"{batches} batches, avg batch {res['avg_batch']:.1f})  "
        f"ack p50 {res['p50_ms']:.2f} ms  p99 {res['p99_ms']:.2f} ms",
        flush=True,
    )
    return res


def run_pgbench(admin_url: str, clients: int, jobs: int, seconds: int) -> tuple[float, str]:
    url = pg_create(admin_url, "bourse_pgbench")
    u = make_url(url)
    conn_args = [
        "-h",
        u.host or "127.0.0.1",
        "-p",
        str(u.port or 5432),
        "-U",
        u.username or "postgres",
    ]
    env = {**os.environ}
    if u.password:
        env["PGPASSWORD"] = u.password
    try:
        subprocess.run(
            ["pgbench", "-i", "-s", "1", "-q", *conn_args, u.database],
            check=True, capture_output=True, env=env, timeout=120,
        )  # fmt: skip
        cmd = ["pgbench", "-c", str(clients), "-j", str(jobs), "-T", str(seconds), *conn_args,
               u.database]  # fmt: skip
        out = subprocess.run(
            cmd, check=True, capture_output=True, text=True, env=env, timeout=seconds + 60
        ).stdout
    finally:
        pg_drop(admin_url, url)
    m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out) or re.search(
        r"tps = ([0-9.]+)", out
    )
    if not m:
        raise RuntimeError(f"cannot parse pgbench output:\n{out}")
    return float(m.group(1)), shlex.join(cmd[:7] + ["<db>"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="engine run per backend")
    ap.add_argument("--threads", type=int, default=32, help="submitter threads")
    ap.add_argument(
        "--pg-url",
        default=os.environ.get("BOURSE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="admin URL of the PostgreSQL server (databases are created and dropped on it)",
    )  # fmt: skip
    ap.add_argument("--pgbench-seconds", type=int, default=10)
    ap.add_argument("--skip-sqlite", action="store_true")
    ap.add_argument("--skip-pgbench", action="store_true")
    args = ap.parse_args()
    seconds = max(1.0, min(args.seconds, 60.0))
    threads = max(1, min(args.threads, 256))
    pgb_seconds = max(1, min(args.pgbench_seconds, 60))

    print(
        f"engine: {threads} submitter threads, {seconds:.0f} s per backend; "
        f"python {platform.python_version()}, {os.cpu_count()} CPUs",
        flush=True,
    )
    results: dict[str, dict[str, float]] = {}
    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory(prefix="bourse-bench-") as tmp:
            results["sqlite"] = run_engine(f"sqlite:///{tmp}/bench.db", threads, seconds, "sqlite")
    pg_url = pg_create(args.pg_url, "bourse_bench")
    try:
        results["postgresql"] = run_engine(pg_url, threads, seconds, "postgresql")
    finally:
        pg_drop(args.pg_url, pg_url)

    tps = None
    pgb_cmd = ""
    if not args.skip_pgbench:
        tps, pgb_cmd = run_pgbench(args.pg_url, 8, 2, pgb_seconds)
        print(f"pgbench    {tps:>9.0f} tps (TPC-B, scale 1, 8 clients, 2 threads)", flush=True)

    pg = results["postgresql"]
    with psycopg.connect(pg_conninfo(args.pg_url), autocommit=True) as conn:
        server = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
        sync = conn.execute("SHOW synchronous_commit").fetchone()[0]  # type: ignore[index]
    cmdline = shlex.join([".venv/bin/python", "bench/commit.py", *sys.argv[1:]])
    print()
    print("## Durable commands/s (group commit) vs pgbench")
    print()
    print("```")
    print(f"$ {cmdline}")
    print(
        f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"PostgreSQL {server} (synchronous_commit={sync}), SQLite WAL synchronous=FULL"
    )
    print(f"mix: ~70% limit orders (about half cross), ~10-15% cancels, ~20% transfers; "
          f"{threads} submitter threads, {seconds:.0f} s per backend")  # fmt: skip
    print(f"{'backend':<11}{'cmds/s':>9}{'avg batch':>11}{'p50 ms':>9}{'p99 ms':>9}")
    for name, r in results.items():
        print(
            f"{name:<11}{r['cmds_per_s']:>9.0f}{r['avg_batch']:>11.1f}"
            f"{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}"
        )
    if tps is not None:
        print(f"pgbench    {tps:>9.0f} tps   ($ {pgb_cmd}, after pgbench -i -s 1)")
        print(f"ratio engine_pg_cmds_per_s / pgbench_tps = {pg['cmds_per_s'] / tps:.2f}")
    print("```")
    return 0


if __name__ == "__main__":
    sys.exit(main())
