"""The shipped server under wrk, side by side with a hello-world app on the same server stack.

Starts ``bourse serve --no-rate-limit --port 0 --db <fresh SQLite file>`` exactly as a user
does (rate limits off by flag, nothing else changed: log level, access log and server stack are
the defaults), and a hello-world Starlette app (``GET /`` answering ``{}``) served by the same
stack (``bourse.cli.serve.server_config``: the same event loop, HTTP parser, socket options and
logging, one worker each, each kept on one CPU as ``bourse serve``'s default ``--cpu auto``
keeps itself). Then drives each with wrk (Debian's package: ``apt-get install wrk``):

* ``hello``: the baseline, ``GET /`` on the hello-world app;
* ``ping``, ``depth`` (``/api/v3/depth``, 100 levels a side), ``ticker`` (``/api/v3/ticker/24hr``);
* ``account``: signed ``GET /api/v3/account``;
* ``order``: signed ``POST /api/v3/order``, an IMMEDIATE_OR_CANCEL buy below every ask, so each
  request goes through the signature, attribution, the engine and one durable commit and
  answers ``CANCELED`` (the book stays as seeded);
* ``cancel``: signed ``DELETE /api/v3/order`` of a resting order seeded before the server
  started (by ``origClientOrderId``).

A signed request is signed once and sent once: the same signed request twice is refused as a
replay (code 26), and wrk's Lua cannot compute an HMAC, so the bench signs a pool of distinct
requests (each its own ``newClientOrderId`` or ``recvWindow``) just before each phase and the
Lua script (``bench/wrk_pool.lua``) walks it without repeats; a pool too small for a phase
stops it early and says so.

Each wrk run starts once both servers are idle (``settle``): they share a CPU, and what one
run leaves a server to finish (its access log's queue) must not run in the next one.

Each endpoint: req/s and p50/p99 with ``--connections`` connections on ``--threads`` wrk
threads, then a sequential client (one connection) p50. Both servers run throughout, and each
endpoint's ratio is against ``hello`` measured just before it and just after, the mean of the
two (other work on the machine comes and goes: a baseline minutes away would compare different
machines, and one on a single side takes the whole of a drift for a difference of the apps).
Goals (issue 16): signed order >= 0.30 of hello-world; sequential order p50 <= 2 ms on SQLite.

    .venv/bin/python bench/http.py --quick        # under a minute
    .venv/bin/python bench/http.py                # 10 s a phase

Not part of the test suite.
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
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

# run as a script, this file's folder comes first on sys.path, and its name hides the
# standard library's ``http`` package (which Starlette imports): take the folder off
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from bourse.api.mexc.signing import sign  # noqa: E402
from bourse.bootstrap import open_platform  # noqa: E402
from bourse.config import Config, RateLimits  # noqa: E402
from bourse.domain.accounts import AccountKind  # noqa: E402
from bourse.domain.money import to_units  # noqa: E402
from bourse.domain.orders import BUY, SELL, OrderRequest, OrderType  # noqa: E402
from bourse.engine import commands as c  # noqa: E402
from bourse.services.apikeys import generate_server_key  # noqa: E402

HERE = Path(__file__).resolve().parent
POOL_LUA = HERE / "wrk_pool.lua"
SYMBOL = "BTCUSDT"
LEVELS = 100  # seeded book depth per side
PER_ACCOUNT = 500  # the engine's open-order cap per account
GOAL_RATIO = 0.30
GOAL_SEQ_P50_MS = 2.0


@dataclass
class Run:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    seq_p50_ms: float
    errors: int
    note: str = ""
    #: the hello-world app's req/s, the mean of a run just before and one just after (the
    #: machine's load drifts: each endpoint's ratio is against its own neighbours)
    hello_rps: float = 0.0


# --- the hello-world app (a child process) ---------------------------------------------------
def serve_hello(port_file: str) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from bourse.cli.cpu import choose, pin
    from bourse.cli.serve import _bind, server_config

    pin(choose("auto"))  # on one CPU, as ``bourse serve`` runs by default (``--cpu``)

    async def hello(request: Request) -> JSONResponse:
        return JSONResponse({})

    sock = _bind("127.0.0.1", 0)
    Path(port_file).write_text(str(sock.getsockname()[1]))
    app = Starlette(routes=[Route("/", hello)])
    uvicorn.Server(server_config(app, log_level="info")).run(sockets=[sock])


# --- set-up ----------------------------------------------------------------------------------
@dataclass
class Seeded:
    trader: tuple[str, str]  # api key, secret
    cancels: list[tuple[str, str, str]]  # api key, secret, client order id (resting)


def seed(url: str, resting: int) -> Seeded:
    """A funded trader with a key, a book of ``LEVELS`` levels a side, and ``resting`` resting
    bids (below the book) spread over accounts of at most ``PER_ACCOUNT`` open orders each."""
    perms = ["SPOT_DEAL_WRITE", "SPOT_DEAL_READ", "SPOT_ACCOUNT_READ"]
    p = open_platform(Config(database_url=url, rate_limits=RateLimits.off()))
    try:
        e = p.engine
        sym = e.exchange.symbols[SYMBOL]

        def account(name: str) -> int:
            acc = e.execute(c.OpenAccount(AccountKind.USER, name=name))
            e.execute(c.CreditDeposit(acc.id, "BTC", to_units("10000", 8), f"{name}-b"))
            e.execute(c.CreditDeposit(acc.id, "USDT", to_units("100000000", 8), f"{name}-q"))
            return int(acc.id)

        def place(acc: int, side: int, price: str, cid: str = "") -> object:
            req = OrderRequest(
                account=acc,
                symbol=SYMBOL,
                side=side,
                type=OrderType.LIMIT,
                qty=to_units("0.01", sym.qty_scale),
                price=to_units(price, sym.price_scale),
                client_id=cid,
            )
            return e.submit(c.PlaceOrder(req))

        maker = account("bench-maker")
        futs = [place(maker, SELL, str(30001 + i)) for i in range(LEVELS)]
        futs += [place(maker, BUY, str(29999 - i)) for i in range(LEVELS)]
        trader_id = account("bench-trader")
        trader = p.apikeys.create_key(trader_id, perms)
        cancels = []
        for a in range((resting + PER_ACCOUNT - 1) // PER_ACCOUNT):
            acc = account(f"bench-c{a}")
            key, secret = p.apikeys.create_key(acc, perms)
            for i in range(min(PER_ACCOUNT, resting - a * PER_ACCOUNT)):
                cid = f"r{a}x{i}"
                futs.append(place(acc, BUY, str(20000 + i), cid))
                cancels.append((key, secret, cid))
        for f in futs:
            f.result(timeout=120)  # type: ignore[attr-defined]
        return Seeded(trader, cancels)
    finally:
        p.close()


# --- signed request pools --------------------------------------------------------------------
def signed(method: str, path: str, key: str, secret: str, params: dict[str, object]) -> str:
    q = urllib.parse.urlencode(params)
    q += "&signature=" + sign(secret, q)
    return f"{method}\t{path}?{q}\t{key}\n"


def pool_account(size: int, key: tuple[str, str]) -> list[str]:
    """``size`` distinct signed requests: each its own (timestamp, recvWindow) pair, the
    timestamp at most a few ms ahead (a pool of 80,000 took recvWindow below 0 before)."""
    ts = time.time_ns() // 1_000_000
    span = 30_000
    return [
        signed(
            "GET",
            "/api/v3/account",
            *key,
            {"timestamp": ts + i // span, "recvWindow": 60_000 - i % span},
        )
        for i in range(size)
    ]


def pool_order(size: int, key: tuple[str, str], tag: str) -> list[str]:
    ts = time.time_ns() // 1_000_000
    return [
        signed(
            "POST",
            "/api/v3/order",
            *key,
            {
                "symbol": SYMBOL,
                "side": "BUY",
                "type": "IMMEDIATE_OR_CANCEL",
                "quantity": "0.01",
                "price": "29000",  # below every ask: nothing fills
                "newClientOrderId": f"{tag}{i}",
                "timestamp": ts,
                "recvWindow": 60000,
            },
        )
        for i in range(size)
    ]


def pool_cancel(items: list[tuple[str, str, str]]) -> list[str]:
    ts = time.time_ns() // 1_000_000
    return [
        signed(
            "DELETE",
            "/api/v3/order",
            key,
            secret,
            {"symbol": SYMBOL, "origClientOrderId": cid, "timestamp": ts, "recvWindow": 60000},
        )
        for key, secret, cid in items
    ]


# --- wrk -------------------------------------------------------------------------------------
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    return float(m.group(1)) * _UNITS[m.group(2)] if m else float("nan")


#: the servers' process ids (``start_bourse``, ``start_hello``): each wrk run waits for both to
#: be idle (``settle``)
SERVERS: list[int] = []


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    return int(fields[11]) + int(fields[12])


def settle(limit_s: float = 10.0) -> None:
    """Wait, ``limit_s`` at most, until the servers are idle (at most one clock tick of CPU
    between them in 0.2 s). The two servers share a CPU, and one still busy with what the last
    run left it (its access log's queue) would spend the next run's CPU on it."""
    deadline = time.monotonic() + limit_s
    before = sum(_cpu_ticks(p) for p in SERVERS)
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = sum(_cpu_ticks(p) for p in SERVERS)
        if now - before <= 1:
            return
        before = now


def wrk(
    base: str, path: str, seconds: int, threads: int, conns: int, pool: Path | None = None
) -> dict[str, float | int | str]:
    settle()
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds:g}s", "--latency"]
    if pool is not None:
        cmd += ["-s", str(POOL_LUA), base, "--", str(pool), str(threads)]
    else:
        cmd.append(base + path)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: (.*)", out)
    exhausted = re.search(r"POOL exhausted (\d+)", out)
    if rps is None:
        raise RuntimeError(f"wrk said:\n{out}")
    return {
        "rps": float(rps.group(1)),
        "p50": _ms(p50.group(1)) if p50 else float("nan"),
        "p99": _ms(p99.group(1)) if p99 else float("nan"),
        "errors": int(non2xx.group(1)) if non2xx else 0,
        "note": ("socket errors: " + sock.group(1) if sock else "")
        + (" pool exhausted" if exhausted and exhausted.group(1) != "0" else ""),
    }


def phase(
    name: str,
    base: str,
    path: str,
    args: argparse.Namespace,
    pools: tuple[list[str], list[str]] | None = None,
    tmp: Path | None = None,
    hello: str = "",
) -> Run:
    """``name`` under load, then one connection; with ``hello``, the hello-world app's
    throughput measured right before and right after, their mean this endpoint's baseline (the
    host's speed drifts over a run: a drift that is steady over the three cancels out)."""

    def hello_now() -> float:
        return float(wrk(hello, "/", args.seconds, args.threads, args.connections)["rps"])

    before = hello_now() if hello else 0.0
    files: list[Path | None] = [None, None]
    if pools is not None:
        assert tmp is not None
        for i, lines in enumerate(pools):
            files[i] = tmp / f"{name}-{i}.pool"
            files[i].write_text("".join(lines))  # type: ignore[union-attr]
    conc = wrk(base, path, args.seconds, args.threads, args.connections, files[0])
    hello_rps = (before + hello_now()) / 2 if hello else 0.0
    seq = wrk(base, path, args.seq_seconds, 1, 1, files[1])
    return Run(
        name,
        float(conc["rps"]),
        float(conc["p50"]),
        float(conc["p99"]),
        float(seq["p50"]),
        int(conc["errors"]) + int(seq["errors"]),
        " ".join(str(x) for x in (conc["note"], seq["note"]) if x),
        hello_rps or float(conc["rps"]),
    )


def fsync_ms(folder: Path, n: int = 50) -> float:
    """p50 of an fsync of a 4 KiB append in ``folder``: the floor of a durable commit here (a
    sequential client's order waits for one)."""
    times = []
    path = folder / "fsync.probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for _ in range(n):
            os.write(fd, b"x" * 4096)
            t0 = time.perf_counter()
            os.fsync(fd)
            times.append(time.perf_counter() - t0)
    finally:
        os.close(fd)
        path.unlink()
    return sorted(times)[n // 2] * 1000


# --- processes -------------------------------------------------------------------------------
def bourse_command() -> list[str]:
    exe = Path(sys.executable).parent / "bourse"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "bourse.cli"]


def start_bourse(
    url: str, tmp: Path, env: dict[str, str], extra: tuple[str, ...] = ()
) -> tuple[subprocess.Popen, str]:
    out = open(tmp / "serve.out", "w+")  # noqa: SIM115 (closed with the process)
    proc = subprocess.Popen(
        [*bourse_command(), "serve", "--no-rate-limit", "--port", "0", "--db", url, *extra],
        stdout=out,
        stderr=subprocess.STDOUT,
        env={**env, "COLUMNS": "200"},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("bourse serve exited:\n" + (tmp / "serve.out").read_text())
        m = re.search(r"API\s+(http://127\.0\.0\.1:\d+)", (tmp / "serve.out").read_text())
        if m and _up(m.group(1) + "/api/v3/ping"):
            SERVERS.append(proc.pid)
            return proc, m.group(1)
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("bourse serve did not start")


def start_hello(tmp: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port_file = tmp / "hello.port"
    proc = subprocess.Popen(
        [sys.executable, __file__, "--hello", str(port_file)],
        stdout=open(tmp / "hello.out", "w"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if port_file.exists() and port_file.read_text():
            base = f"http://127.0.0.1:{port_file.read_text()}"
            if _up(base + "/"):
                SERVERS.append(proc.pid)
                return proc, base
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("hello app did not start")


def _up(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


# --- main ------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short phases: under a minute in all")
    ap.add_argument("--seconds", type=int, default=10, help="concurrent phase length")
    ap.add_argument("--seq-seconds", type=int, default=4, help="sequential phase length")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-rate", type=int, default=8000, help="pool size per second of phase")
    ap.add_argument("--only", default="", help="comma-separated phases (hello always runs)")
    ap.add_argument(
        "--serve-args",
        default="",
        help="further options of bourse serve, for experiments (e.g. --no-access-log); the "
        "figures of record use none",
    )
    ap.add_argument("--hello", metavar="PORT_FILE", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.hello:
        serve_hello(args.hello)
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    if args.quick:
        args.seconds, args.seq_seconds = 3, 1
    only = {x.strip() for x in args.only.split(",") if x.strip()}

    def want(name: str) -> bool:
        return not only or name in only

    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="bourse-http-"))
    env = {
        **os.environ,
        "BOURSE_HOME": str(tmp),
        "BOURSE_SECRET_KEY": os.environ.get("BOURSE_SECRET_KEY") or generate_server_key(),
    }
    os.environ.update({k: env[k] for k in ("BOURSE_HOME", "BOURSE_SECRET_KEY")})
    url = f"sqlite:///{tmp}/bench.db"
    conc_n = int(args.seconds * args.max_rate)
    seq_n = int(args.seq_seconds * args.max_rate) + 100
    seeded = seed(url, (conc_n + seq_n) if want("cancel") else 0)
    load = os.getloadavg()
    fsync = fsync_ms(tmp)

    runs: list[Run] = []
    hello, hbase = start_hello(tmp, env)
    try:
        server, base = start_bourse(url, tmp, env, tuple(shlex.split(args.serve_args)))
        try:
            wrk(hbase, "/", 1, args.threads, args.connections)  # warm-up
            wrk(base, "/api/v3/ping", 1, args.threads, args.connections)
            runs.append(phase("hello", hbase, "/", args))
            plan: list[tuple[str, str, tuple[list[str], list[str]] | None]] = [
                ("ping", "/api/v3/ping", None),
                ("depth", f"/api/v3/depth?symbol={SYMBOL}&limit=100", None),
                ("ticker", f"/api/v3/ticker/24hr?symbol={SYMBOL}", None),
            ]
            for name, path, _ in plan:
                if want(name):
                    runs.append(phase(name, base, path, args, hello=hbase))
            if want("account"):
                pools = (pool_account(conc_n, seeded.trader), pool_account(seq_n, seeded.trader))
                runs.append(phase("account", base, "", args, pools, tmp, hello=hbase))
            if want("order"):
                pools = (
                    pool_order(conc_n, seeded.trader, "c"),
                    pool_order(seq_n, seeded.trader, "s"),
                )
                runs.append(phase("order", base, "", args, pools, tmp, hello=hbase))
            if want("cancel"):
                items = seeded.cancels
                pools = (pool_cancel(items[:conc_n]), pool_cancel(items[conc_n:]))
                runs.append(phase("cancel", base, "", args, pools, tmp, hello=hbase))
        finally:
            stop(server)
    finally:
        stop(hello)
    report(runs, args, load, time.monotonic() - started, fsync)
    shutil.rmtree(tmp, ignore_errors=True)


def report(
    runs: list[Run], args: argparse.Namespace, load: tuple[float, ...], took: float, fsync: float
) -> None:
    cmd = "bench/http.py " + shlex.join(sys.argv[1:])
    print(f"## bourse serve vs hello-world under wrk ({cmd.strip()})")
    print(
        f"host: {os.cpu_count()} CPUs, Python {platform.python_version()}, SQLite, "
        f"wrk -t{args.threads} -c{args.connections} {args.seconds:g}s + one connection "
        f"{args.seq_seconds:g}s; load average at start {load[0]:.2f} {load[1]:.2f}; "
        f"took {took:.0f}s; fsync of the database's disk: p50 {fsync:.2f} ms"
    )
    print()
    print("| endpoint | req/s | hello req/s | x hello | p50 ms | p99 ms | 1-conn p50 ms | errors |")
    print("|---|---|---|---|---|---|---|---|")
    for r in runs:
        print(
            f"| {r.name} | {r.rps:,.0f} | {r.hello_rps:,.0f} | {r.rps / r.hello_rps:.2f} | "
            f"{r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.seq_p50_ms:.2f} | "
            f"{r.errors}{' ' + r.note if r.note else ''} |"
        )
    order = next((r for r in runs if r.name == "order"), None)
    if order is not None:
        ratio = order.rps / order.hello_rps
        print()
        print(
            f"signed order: {ratio:.3f} of hello-world (goal >= {GOAL_RATIO}: "
            f"{'met' if ratio >= GOAL_RATIO else 'NOT met'}); sequential p50 "
            f"{order.seq_p50_ms:.2f} ms (goal <= {GOAL_SEQ_P50_MS} ms: "
            f"{'met' if order.seq_p50_ms <= GOAL_SEQ_P50_MS else 'NOT met'})"
        )


if __name__ == "__main__":
    main()
