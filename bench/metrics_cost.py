"""What the Prometheus metrics cost the order path: ``bourse serve`` with them (the default)
against ``bourse serve --no-metrics``, under wrk, signed ``POST /api/v3/order``.

Two servers run side by side, each on its own fresh SQLite database seeded the same way
(``bench/http.py``'s ``seed``: a funded trader, a book of 100 levels a side); the order phase
(an IMMEDIATE_OR_CANCEL buy below every ask: signature, attribution, the engine, one durable
commit, ``CANCELED``) alternates between them for ``--rounds`` rounds (on, off, off, on, ...:
the machine's drift hits both alike). Each phase: wrk with ``--connections`` connections for
``--seconds``, then one connection for ``--seq-seconds``. Reported: mean req/s and p50/p99 of
each, and the ratio with/without (1.00: the metrics cost nothing measurable).

    .venv/bin/python bench/metrics_cost.py
    .venv/bin/python bench/metrics_cost.py --rounds 2 --seconds 3      # quicker

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import http_module

bench_http = http_module.load()

from bourse.services.apikeys import generate_server_key  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rounds", type=int, default=4, help="order phases per server")
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--seq-seconds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-rate", type=int, default=8000, help="pool size per second of phase")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="bourse-metrics-"))
    key = os.environ.get("BOURSE_SECRET_KEY") or generate_server_key()
    servers = {}
    procs = []
    try:
        for name, extra in (("on", ()), ("off", ("--no-metrics",))):
            tmp = root / name
            tmp.mkdir()
            env = {**os.environ, "BOURSE_HOME": str(tmp), "BOURSE_SECRET_KEY": key}
            os.environ.update({"BOURSE_HOME": str(tmp), "BOURSE_SECRET_KEY": key})
            url = f"sqlite:///{tmp}/bench.db"
            seeded = bench_http.seed(url, 0)
            proc, base = bench_http.start_bourse(url, tmp, env, extra)
            procs.append(proc)
            servers[name] = (base, seeded, tmp)
            bench_http.wrk(base, "/api/v3/ping", 1, args.threads, args.connections)  # warm-up
        conc_n = int(args.seconds * args.max_rate)
        seq_n = int(args.seq_seconds * 3000) + 100
        runs: dict[str, list] = {"on": [], "off": []}
        for r in range(args.rounds):
            order = ("on", "off") if r % 2 == 0 else ("off", "on")
            for name in order:
                base, seeded, tmp = servers[name]
                pools = (
                    bench_http.pool_order(conc_n, seeded.trader, f"{name}{r}c"),
                    bench_http.pool_order(seq_n, seeded.trader, f"{name}{r}s"),
                )
                runs[name].append(bench_http.phase("order", base, "", args, pools, tmp))
    finally:
        for proc in procs:
            bench_http.stop(proc)
    took = time.monotonic() - started
    print(f"## bench/metrics_cost.py {shlex.join(sys.argv[1:])}".rstrip())
    print(
        f"host: {os.cpu_count()} CPUs, SQLite, wrk -t{args.threads} -c{args.connections} "
        f"{args.seconds}s + one connection {args.seq_seconds}s, {args.rounds} rounds "
        f"alternating; took {took:.0f}s"
    )
    print()
    print("| server | order req/s (each round) | mean | p50 ms | p99 ms | 1-conn p50 ms | errors |")
    print("|---|---|---|---|---|---|---|")
    means = {}
    for name in ("on", "off"):
        rs = runs[name]
        means[name] = statistics.mean(x.rps for x in rs)
        print(
            f"| metrics {name} | {', '.join(f'{x.rps:,.0f}' for x in rs)} | {means[name]:,.0f} | "
            f"{statistics.median(x.p50_ms for x in rs):.2f} | "
            f"{statistics.median(x.p99_ms for x in rs):.2f} | "
            f"{statistics.median(x.seq_p50_ms for x in rs):.2f} | {sum(x.errors for x in rs)} |"
        )
    print()
    print(f"ratio with/without metrics: {means['on'] / means['off']:.2f}")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
