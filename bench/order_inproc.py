"""Where a signed order's CPU goes inside the server, with no HTTP and no load generator.

A diagnostic, not a figure of record (``bench/http.py`` is: it drives ``bourse serve`` with
wrk). This builds the app ``bourse serve`` builds (``create_app``, metrics on, rate limits off)
on a fresh SQLite file seeded as ``bench/http.py`` seeds it, and calls it as an ASGI app from
``--tasks`` concurrent tasks on a uvloop, each request a distinct signed IMMEDIATE_OR_CANCEL
order (``bench/http.py``'s pool), the engine and committer threads running as served. It
prints the CPU per order of each thread (event loop, engine, committer) and the context
switches per order. With no socket, no HTTP parser and no wrk sharing the machine, the figure
moves ~2% run to run when the process is kept on one CPU (as ``bourse serve --cpu`` keeps
itself), against ~15% for CPU per order measured under wrk: small changes show.

``--canned`` answers every order with one placed before the run, without the engine: the
event loop's cost with no engine hop (``future``: the answer still comes through a future
resolved on a later loop turn, as the engine's does), so the difference is what the engine
costs, on its threads and as hand-overs on the loop's.

    taskset -c 1 chrt -b 0 .venv/bin/python bench/order_inproc.py
    taskset -c 1 chrt -b 0 .venv/bin/python bench/order_inproc.py --canned future
    taskset -c 1 chrt -b 0 .venv/bin/python bench/order_inproc.py --src /other/tree/src

``taskset``/``chrt`` keep it on one CPU under SCHED_BATCH, as ``bourse serve`` runs by default.
Linux only (``/proc``). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import http_module

HERE = Path(__file__).resolve().parent
bh = http_module.load()

TICK = os.sysconf("SC_CLK_TCK")


def thread_cpu() -> tuple[dict[str, float], int]:
    """This process's CPU seconds by thread name, and its context switches so far."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    cpu: dict[str, float] = {}
    switches = 0
    for task in Path("/proc/self/task").iterdir():
        try:
            stat = (task / "stat").read_text()
            status = (task / "status").read_text()
        except OSError:  # a thread that just ended
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        name = names.get(int(task.name), f"thread {task.name}")
        cpu[name] = cpu.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / TICK
        switches += sum(int(x.split()[1]) for x in status.splitlines() if "ctxt_switches" in x)
    return cpu, switches


def scope_for(line: str) -> dict[str, Any]:
    """The ASGI scope of one pool line (``METHOD <tab> PATH?QUERY <tab> API-KEY``)."""
    method, target, key = line.rstrip("\n").split("\t")
    path, _, query = target.partition("?")
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"host", b"127.0.0.1"), (b"x-mexc-apikey", key.encode())],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--orders", type=int, default=20000, help="orders measured (after warm-up)")
    ap.add_argument("--tasks", type=int, default=16, help="concurrent requests")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--canned", choices=("direct", "future"), help="no engine (see above)")
    ap.add_argument("--src", help="the source tree to import bourse from (default: this one)")
    args = ap.parse_args()
    src = str(Path(args.src).resolve()) if args.src else str(HERE.parent / "src")
    tmp = Path(tempfile.mkdtemp(prefix="bourse-inproc-"))
    os.environ["BOURSE_HOME"] = str(tmp)
    os.environ.setdefault("BOURSE_SECRET_KEY", bh.generate_server_key())
    url = f"sqlite:///{tmp}/bench.db"
    seeded = bh.seed(url, 0)  # with bench/http.py's tree; the app comes from ``src``
    sys.path.insert(0, src)
    for name in [m for m in sys.modules if m == "bourse" or m.startswith("bourse.")]:
        del sys.modules[name]
    import uvloop

    from bourse.app import create_app
    from bourse.bootstrap import open_platform
    from bourse.config import Config, RateLimits
    from bourse.engine.engine import Engine

    platform = open_platform(Config(database_url=url, rate_limits=RateLimits.off()))
    app = create_app(platform, operator_token="t" * 40, metrics=True)
    if args.canned:
        canned: list[Any] = []
        mode = args.canned

        async def run(self: Engine, command: Any) -> Any:
            if not canned:
                canned.append(self.execute(command))
            if mode == "direct":
                return canned[0]
            fut = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(fut.set_result, canned[0])
            return await fut

        Engine.run = run  # type: ignore[method-assign]

    warm = 2000
    pool = bh.pool_order(warm + args.orders * args.rounds, seeded.trader, "i")
    scopes = [scope_for(line) for line in pool]
    statuses: dict[int, int] = {}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def drive(todo: list[dict[str, Any]]) -> None:
        it = iter(todo)

        async def worker() -> None:
            for scope in it:
                status: list[int] = []

                async def send(message: dict[str, Any], status: list[int] = status) -> None:
                    if message["type"] == "http.response.start":
                        status.append(message["status"])

                await app(scope, receive, send)
                statuses[status[0]] = statuses.get(status[0], 0) + 1

        await asyncio.gather(*(worker() for _ in range(args.tasks)))

    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(drive(scopes[:warm]))
        print(f"source {src}; {args.tasks} tasks; canned={args.canned}")
        at = warm
        for r in range(args.rounds):
            before, switched = thread_cpu()
            started = time.perf_counter()
            loop.run_until_complete(drive(scopes[at : at + args.orders]))
            took = time.perf_counter() - started
            after, switched_after = thread_cpu()
            at += args.orders
            n = args.orders
            split = ", ".join(
                f"{k} {(v - before.get(k, 0.0)) / n * 1e6:.0f}"
                for k, v in sorted(after.items(), key=lambda kv: -kv[1] + before.get(kv[0], 0))
                if v - before.get(k, 0.0) > 0
            )
            total = sum(after.values()) - sum(before.values())
            print(
                f"round {r + 1}: {total / n * 1e6:.1f} us CPU per order ({split}); "
                f"{max(0, switched_after - switched) / n:.2f} context switches per order; "
                f"{n / took:,.0f} orders/s"
            )
        if set(statuses) != {200}:
            print(f"warning: statuses {statuses}")
    finally:
        platform.close()
        loop.close()


if __name__ == "__main__":
    main()
