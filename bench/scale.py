"""Signed orders/s through gateways on NATS against one engine, beside the single-process server.

On one database (a fresh SQLite file; ``--db`` for another, e.g. a PostgreSQL database of your
own) seeded as ``bench/http.py`` seeds it, under wrk with a pool of distinct signed
``POST /api/v3/order`` requests (``bench/http.py``'s pools: an IMMEDIATE_OR_CANCEL buy below
every ask, so each order is a full trip through the engine and a durable commit):

1. ``single``: ``bourse serve --no-rate-limit`` (one process, the embedded engine);
2. ``1 gateway``: ``bourse engine`` + one ``bourse gateway --no-rate-limit`` on NATS (commands
   over the JetStream command stream, replies after the commit);
3. ``2 gateways``: the same engine and two gateways, one wrk per gateway at once (orders/s is
   their sum).

Each phase: orders/s, p50/p99 with ``--connections`` connections per wrk, and the one-connection
p50 (one sequential client: the added latency of the NATS hop). The ratios are against
``single`` of the same run. The NATS server is ``--bus`` (default ``nats://127.0.0.1:4222``);
the streams get a unique name and are deleted afterwards.

    .venv/bin/python bench/scale.py --quick       # about a minute
    .venv/bin/python bench/scale.py               # 10 s a phase

Every process shares the machine's cores with wrk: on a small machine the gateways compete
with the engine and with each other, which the figures show as they are. Not part of the test
suite.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import http_module

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))


H = http_module.load()


def start(args: list[str], tmp: Path, name: str, env: dict[str, str], ready: str) -> Any:
    """``bourse ARGS`` in the background; (process, the first group of ``ready`` in its output)."""
    log = tmp / f"{name}.out"
    proc = subprocess.Popen(
        [*H.bourse_command(), *args],
        stdout=open(log, "w"),  # noqa: SIM115 (closed with the process)
        stderr=subprocess.STDOUT,
        env={**env, "COLUMNS": "200"},
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"bourse {args[0]} exited:\n" + log.read_text()[-3000:])
        m = re.search(ready, log.read_text())
        if m and (not m.groups() or H._up(m.group(1) + "/api/v3/ping")):
            return proc, (m.group(1) if m.groups() else "")
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"bourse {args[0]} did not start:\n" + log.read_text()[-3000:])


def load(
    bases: list[str], pools: list[tuple[list[str], list[str]]], tmp: Path, tag: str, a: Any
) -> dict[str, float]:
    """One wrk per base at once (concurrent), then one connection on the first: the sums and
    the worst percentiles."""
    files = []
    for i, (conc, seq) in enumerate(pools):
        pair = (tmp / f"{tag}-{i}-c.pool", tmp / f"{tag}-{i}-s.pool")
        pair[0].write_text("".join(conc))
        pair[1].write_text("".join(seq))
        files.append(pair)
    results: list[dict[str, Any]] = [{} for _ in bases]

    def run(i: int) -> None:
        results[i] = H.wrk(bases[i], "", a.seconds, a.threads, a.connections, files[i][0])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(bases))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seq = H.wrk(bases[0], "", a.seq_seconds, 1, 1, files[0][1])
    return {
        "rps": sum(float(r["rps"]) for r in results),
        "p50": max(float(r["p50"]) for r in results),
        "p99": max(float(r["p99"]) for r in results),
        "seq_p50": float(seq["p50"]),
        "errors": sum(int(r["errors"]) for r in results) + int(seq["errors"]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3 s a phase")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--seq-seconds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=16, help="per wrk (one wrk per gateway)")
    ap.add_argument("--threads", type=int, default=1, help="wrk threads per wrk")
    ap.add_argument("--max-rate", type=int, default=4000, help="pool size per second of phase")
    ap.add_argument("--db", default="", help="database URL (default: a fresh SQLite file)")
    ap.add_argument("--bus", default="nats://127.0.0.1:4222")
    a = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    if a.quick:
        a.seconds, a.seq_seconds = 3, 1
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="bourse-scale-"))
    env = {
        **os.environ,
        "BOURSE_HOME": str(tmp),
        "BOURSE_SECRET_KEY": os.environ.get("BOURSE_SECRET_KEY") or H.generate_server_key(),
        "BOURSE_BUS_URL": a.bus,
        "BOURSE_BUS_NAME": f"bench{uuid.uuid4().hex[:10]}",
    }
    os.environ.update({k: env[k] for k in ("BOURSE_HOME", "BOURSE_SECRET_KEY")})
    url = a.db or f"sqlite:///{tmp}/bench.db"
    seeded = H.seed(url, 0)
    conc_n, seq_n = a.seconds * a.max_rate, a.seq_seconds * a.max_rate + 100
    loadavg = os.getloadavg()

    def pools(tag: str, n: int) -> list[tuple[list[str], list[str]]]:
        return [
            (
                H.pool_order(conc_n, seeded.trader, f"{tag}{i}c"),
                H.pool_order(seq_n, seeded.trader, f"{tag}{i}s"),
            )
            for i in range(n)
        ]

    rows: list[tuple[str, dict[str, float]]] = []
    served = ["--no-rate-limit", "--port", "0", "--db", url]
    api = r"API\s+(http://127\.0\.0\.1:\d+)"
    single, base = start(["serve", *served], tmp, "serve", env, api)
    try:
        H.wrk(base, "/api/v3/ping", 1, a.threads, a.connections)  # warm-up
        rows.append(("single process (bourse serve)", load([base], pools("a", 1), tmp, "a", a)))
    finally:
        H.stop(single)
    procs = []
    try:
        engine, _ = start(["engine", "--db", url], tmp, "engine", env, r"engine: active")
        procs.append(engine)
        gateways = []
        for i in range(2):
            proc, gw = start(["gateway", *served], tmp, f"gateway{i}", env, api)
            procs.append(proc)
            gateways.append(gw)
            H.wrk(gw, "/api/v3/ping", 1, a.threads, a.connections)  # warm-up
        # one gateway, with the second idle (it follows the event stream all the same)
        rows.append(("engine + 1 gateway (NATS)", load(gateways[:1], pools("b", 1), tmp, "b", a)))
        rows.append(("engine + 2 gateways (NATS)", load(gateways, pools("c", 2), tmp, "c", a)))
    finally:
        for proc in reversed(procs):
            H.stop(proc)
        from bourse.bus.nats import NatsBus

        for name in (env["BOURSE_BUS_NAME"], env["BOURSE_BUS_NAME"] + "_CMD"):
            NatsBus(a.bus, name).delete_stream()
    took = time.monotonic() - started
    cmd = shlex.join(["bench/scale.py", *sys.argv[1:]])
    print(f"## signed orders through gateways on NATS vs one process ({cmd})")
    print(
        f"host: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{url.split(':', 1)[0]}, wrk -t{a.threads} -c{a.connections} per gateway {a.seconds}s "
        f"+ one connection {a.seq_seconds}s; load average at start {loadavg[0]:.2f}; "
        f"took {took:.0f}s"
    )
    print()
    print("| topology | orders/s | x single | p50 ms | p99 ms | 1-conn p50 ms | errors |")
    print("|---|---|---|---|---|---|---|")
    ref = rows[0][1]["rps"]
    for name, r in rows:
        print(
            f"| {name} | {r['rps']:,.0f} | {r['rps'] / ref:.2f} | {r['p50']:.2f} | "
            f"{r['p99']:.2f} | {r['seq_p50']:.2f} | {int(r['errors'])} |"
        )
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
