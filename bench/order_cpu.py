"""CPU time of ``bourse serve`` per signed order: the figure a shared machine cannot blur.

Throughput ratios (``bench/http.py``) swing with whatever else runs on the machine; the CPU the
server process spends per order does not, much. This starts ``bourse serve --no-rate-limit``
on a fresh SQLite file seeded as ``bench/http.py`` seeds it (its helpers, imported), then for
each round sends ``wrk -t2 -c16`` a pool of signed IMMEDIATE_OR_CANCEL orders (each signed once,
``bench/wrk_pool.lua``) and reads the server's utime+stime from ``/proc/PID/stat`` (every
thread: event loop, engine, committer, access log) before and after: CPU us per order = the
difference / the orders wrk completed.

``--src DIR`` (repeatable) runs one server per source tree, alternating rounds between them
(``PYTHONPATH=DIR`` for the server), for before/after comparisons on the same machine minutes.

    .venv/bin/python bench/order_cpu.py                          # this tree, 3 rounds of 4 s
    .venv/bin/python bench/order_cpu.py --src /old/src --src src --rounds 4
    .venv/bin/python bench/order_cpu.py --py-spy profile.txt     # and where the time goes
    .venv/bin/python bench/order_cpu.py --threads                # and each thread's share

Linux only (``/proc``). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import http_module

HERE = Path(__file__).resolve().parent
bh = http_module.load()

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of process ``pid`` (all its threads), in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def threads_now(pid: int) -> tuple[dict[str, float], int]:
    """utime + stime of each thread of process ``pid`` (``main``, the event loop, else by
    thread id: Python 3.11 names no OS thread; ``py-spy dump --pid`` tells which is which),
    and the context switches (voluntary or not) of all of them so far."""
    cpu: dict[str, float] = {}
    switched = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
            status = (task / "status").read_text()
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        name = "main" if task.name == str(pid) else task.name
        fields = stat[stat.rindex(")") + 2 :].split()
        cpu[name] = (int(fields[11]) + int(fields[12])) / TICK
        switched += sum(int(ln.split()[1]) for ln in status.splitlines() if "ctxt_switches" in ln)
    return cpu, switched


def measure(
    base: str, pid: int, lines: list[str], tmp: Path, args: argparse.Namespace, name: str
) -> tuple[float, float]:
    """One wrk run of ``lines``: (CPU us per order, orders/s); with ``--threads`` it also
    prints each thread's CPU per order and the context switches per order."""
    pool = tmp / f"{name}.pool"
    pool.write_text("".join(lines))
    before = cpu_seconds(pid)
    threads, switched = threads_now(pid)
    run = bh.wrk(base, "", args.seconds, 2, args.connections, pool)
    used = cpu_seconds(pid) - before
    if args.threads and run["rps"]:
        orders = float(run["rps"]) * args.seconds
        after, switched_after = threads_now(pid)
        print(
            "  per thread, us per order: "
            + ", ".join(
                f"{n} {(after[n] - threads.get(n, 0.0)) / orders * 1e6:.0f}"
                for n in sorted(after, key=lambda n: threads.get(n, 0.0) - after[n])
                if after[n] > threads.get(n, 0.0)
            )
            + f"; {(switched_after - switched) / orders:.1f} context switches per order"
        )
    if run["errors"] or run["note"]:
        print(f"  warning: {run['errors']} non-2xx {run['note']}", file=sys.stderr)
    orders = float(run["rps"]) * args.seconds
    return used / orders * 1e6, float(run["rps"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--max-rate", type=int, default=8000, help="pool size per second of run")
    ap.add_argument("--src", action="append", default=[], help="source tree(s) to alternate")
    ap.add_argument("--serve-args", default="", help="further options of bourse serve")
    ap.add_argument("--py-spy", metavar="FILE", help="py-spy record the last round (raw stacks)")
    ap.add_argument("--threads", action="store_true", help="also each thread's CPU per order")
    ap.add_argument("--perf", metavar="FILE", help="perf record the last round (every thread)")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    trees = [str(Path(s).resolve()) for s in args.src] or [str(HERE.parent / "src")]
    tmp = Path(tempfile.mkdtemp(prefix="bourse-cpu-"))
    env = {
        **os.environ,
        "BOURSE_HOME": str(tmp),
        "BOURSE_SECRET_KEY": os.environ.get("BOURSE_SECRET_KEY") or bh.generate_server_key(),
    }
    os.environ.update({k: env[k] for k in ("BOURSE_HOME", "BOURSE_SECRET_KEY")})
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    servers = []
    try:
        for i, tree in enumerate(trees):
            folder = tmp / f"t{i}"
            folder.mkdir()
            url = f"sqlite:///{folder}/bench.db"
            seeded = bh.seed(url, 0)
            proc, base = bh.start_bourse(
                url, folder, {**env, "PYTHONPATH": tree}, tuple(shlex.split(args.serve_args))
            )
            servers.append((tree, proc, base, seeded))
            bh.wrk(base, "/api/v3/ping", 1, 2, args.connections)  # warm-up
            warm = bh.pool_order(2000, seeded.trader, "w")
            measure(base, proc.pid, warm, folder, args, "warm")  # may run out: fine
        results: dict[str, list[tuple[float, float]]] = {t: [] for t in trees}
        n = args.seconds * args.max_rate
        for r in range(args.rounds):
            for i, (tree, proc, base, seeded) in enumerate(servers):
                spy = None
                if args.py_spy and r == args.rounds - 1:
                    spy = subprocess.Popen(
                        [str(Path(sys.executable).parent / "py-spy"), "record", "-f", "raw",
                         "-r", "250", "--gil", "-o", f"{args.py_spy}.{i}", "-p", str(proc.pid),
                         "-d", str(args.seconds), "--nonblocking", "--threads"],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )  # fmt: skip
                perf = None
                if args.perf and r == args.rounds - 1:
                    perf = subprocess.Popen(
                        ["perf", "record", "-q", "-o", f"{args.perf}.{i}", "-p", str(proc.pid),
                         "--", "sleep", str(args.seconds)],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )  # fmt: skip
                lines = bh.pool_order(n, seeded.trader, f"r{r}x")
                us, rps = measure(base, proc.pid, lines, tmp, args, f"r{r}t{i}")
                for tool in (spy, perf):
                    if tool is not None:
                        tool.wait(timeout=args.seconds + 30)
                results[tree].append((us, rps))
                print(f"round {r + 1} {tree}: {us:.0f} us CPU per order, {rps:,.0f} orders/s")
                time.sleep(0.5)
        print(f"load average at end: {os.getloadavg()[0]:.2f}")
        for tree, rs in results.items():
            cpu = sorted(u for u, _ in rs)
            print(
                f"{tree}: CPU per order median {cpu[len(cpu) // 2]:.0f} us "
                f"(min {cpu[0]:.0f}, max {cpu[-1]:.0f}); orders/s "
                + ", ".join(f"{r:,.0f}" for _, r in rs)
            )
    finally:
        for _, proc, _, _ in servers:
            bh.stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
