"""WebSocket streams: `bourse serve --demo` to N subscribers, against a bare broadcast.

Two phases, same client, same machine, one after the other:

1. **ours**: ``bourse serve --demo --port 0`` in its own process group (a temporary SQLite
   database through ``BOURSE_DATABASE_URL``, the demo market maker trading), the URL read from its
   banner. N subscribers on loopback (aiohttp, one asyncio loop in this process) connect to
   ``/ws`` and each subscribes to the 100 ms aggregated deals and depth of BTCUSDT. Subscriber 0
   also captures the first ``--capture`` frames it receives, with their arrival times.
2. **bare**: this script with ``--bare-server`` in another process group: a minimal Starlette
   ``/ws`` endpoint on the same uvicorn (same WebSocket implementation) that acks the
   subscription and replays the captured frames to every connection, with the captured gaps (so
   at the same rate), looping over the capture. Each frame is re-stamped (``createTime`` and
   ``sendTime`` = now) and serialized once, then sent to each connection in turn.

Lag, for both: the client's wall clock when ``receive()`` returned (``time.time()``, ms) minus the
frame's ``PushDataV3ApiWrapper.createTime``. In Bourse that is the stream hub's ``now_ms()`` when
it flushes the 100 ms window the frame belongs to, i.e. after the engine committed the batches
in it, just before the frame is serialized and queued to each connection; so it measures
serialization, fan-out, the sockets and the client, not the up-to-100 ms aggregation window. For
the bare server it is the replay's ``now_ms()`` just before the send loop. Both servers and the
client run on this machine's one clock; ``createTime`` is truncated to the millisecond, so lags
carry up to +1 ms. For deals frames, ours also reports trade-to-client lag: receive time minus
the newest deal's ``time`` (the engine clock when the command was applied, before its commit),
which includes the aggregation window.

Only loopback. Every phase is bounded in time (start-up, connect, measure, shutdown) and the
script stops the process groups it started, on error too.

    .venv/bin/python bench/ws.py                 # 1,000 subscribers, 20 s per phase
    .venv/bin/python bench/ws.py --quick         # 100 subscribers, 5 s per phase

Not part of the test suite (``tests/ws/test_bench_smoke.py`` runs it tiny so it cannot rot).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import importlib.util
import json
import os
import platform
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# run as a script, this folder comes first on sys.path, and bench/http.py would hide the
# standard library's ``http`` package: take the folder off
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import aiohttp  # noqa: E402

from bourse.api.ws.proto.PushDataV3ApiWrapper_pb2 import PushDataV3ApiWrapper  # noqa: E402

SYMBOL = "BTCUSDT"
CHANNELS = (
    f"spot@public.aggre.deals.v3.api.pb@100ms@{SYMBOL}",
    f"spot@public.aggre.depth.v3.api.pb@100ms@{SYMBOL}",
)
GOAL_P99_MS = 50.0
CONNECT_CONCURRENCY = 50
STARTUP_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 10.0
CAPTURE_WAIT_S = 30.0
NOW_MS: Callable[[], float] = lambda: time.time() * 1000.0  # noqa: E731


# --- child processes -----------------------------------------------------------------------------
class Child:
    """A child process in its own process group, its output in a log file."""

    def __init__(self, cmd: list[str], log: Path, env: dict[str, str], cwd: Path) -> None:
        self.log = log
        self.name = " ".join(cmd[:3])
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float) -> str:
        """The first match of ``pattern`` in the output, waiting at most ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.output())
            if m:
                return m.group(0)
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} gave no {pattern!r}:\n{self.output()[-3000:]}")

    def cpu_s(self) -> float:
        """User + system CPU seconds of the process (all its threads) so far."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        """SIGTERM to the group, SIGKILL after ``STOP_TIMEOUT_S``."""
        for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, 5.0)):
            if self.proc.poll() is not None:
                return
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(wait)


def wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            import urllib.request  # after the sys.path guard (bench/http.py)

            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def bourse_command() -> list[str]:
    script = Path(sys.executable).with_name("bourse")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bourse.cli"]


def raise_open_files(needed: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        soft = want
    return soft


# --- the client ----------------------------------------------------------------------------------
@dataclass
class Phase:
    """What the subscribers of one phase saw."""

    name: str
    capture_max: int = 0
    measuring: bool = False
    connected: int = 0
    failed: int = 0
    closed_early: int = 0
    frames: int = 0
    lags: list[float] = field(default_factory=list)
    trade_lags: list[float] = field(default_factory=list)
    #: per distinct frame (channel, createTime): [first subscriber's lag, last subscriber's lag]
    spread: dict[tuple[str, int], list[float]] = field(default_factory=dict)
    capture: list[tuple[float, bytes]] = field(default_factory=list)
    #: monotonic times: subscriber 0 subscribed; the capture ended (full, or the phase ended)
    capture_from: float = 0.0
    capture_to: float | None = None
    connect_s: float = 0.0
    window_s: float = 0.0
    client_cpu_s: float = 0.0
    server_cpu_s: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def capture_span_s(self) -> float:
        return (self.capture_to or self.capture_from) - self.capture_from


async def subscribe(session: aiohttp.ClientSession, url: str) -> aiohttp.ClientWebSocketResponse:
    ws = await session.ws_connect(url, autoping=True, max_msg_size=0, compress=0)
    await ws.send_str(json.dumps({"method": "SUBSCRIPTION", "params": list(CHANNELS)}))
    want = ",".join(CHANNELS)
    for _ in range(100):  # the ack comes first; skip any data frame before it, boundedly
        msg = await ws.receive()
        if msg.type == aiohttp.WSMsgType.TEXT:
            if json.loads(msg.data).get("msg") != want:
                raise RuntimeError(f"subscription refused: {msg.data}")
            return ws
        if msg.type != aiohttp.WSMsgType.BINARY:
            raise RuntimeError(f"closed while subscribing: {msg.type.name}")
    raise RuntimeError("no subscription ack")


async def read(ws: aiohttp.ClientWebSocketResponse, phase: Phase, capture: bool) -> None:
    """Read frames until cancelled or closed; record lags while ``phase.measuring``."""
    mono = time.monotonic
    while True:
        msg = await ws.receive()
        now = NOW_MS()
        if msg.type != aiohttp.WSMsgType.BINARY:
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                phase.closed_early += 1
                return
            if msg.type == aiohttp.WSMsgType.ERROR:
                phase.closed_early += 1
                phase.errors.append(repr(ws.exception()))
                return
            continue
        if capture and phase.capture_to is None:
            if len(phase.capture) < phase.capture_max:
                phase.capture.append((mono(), msg.data))
            else:  # the first frame that does not fit ends the captured period
                phase.capture_to = mono()
        if phase.measuring:
            w = PushDataV3ApiWrapper.FromString(msg.data)
            phase.frames += 1
            lag = now - w.createTime
            phase.lags.append(lag)
            first_last = phase.spread.setdefault((w.channel, w.createTime), [lag, lag])
            first_last[0], first_last[1] = min(first_last[0], lag), max(first_last[1], lag)
            if w.HasField("publicAggreDeals") and w.publicAggreDeals.deals:
                phase.trade_lags.append(now - max(d.time for d in w.publicAggreDeals.deals))


async def run_phase(
    phase: Phase, url: str, subscribers: int, seconds: float, server: Child
) -> None:
    """Connect ``subscribers`` (bounded concurrency and time), then measure for ``seconds``."""
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    readers: list[asyncio.Task[None]] = []
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=20)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(i: int) -> None:
            async with gate:
                try:
                    ws = await asyncio.wait_for(subscribe(session, url), 30)
                except Exception as exc:
                    phase.failed += 1
                    if len(phase.errors) < 5:
                        phase.errors.append(f"connect {i}: {exc!r}")
                    return
            phase.connected += 1
            if i == 0:
                phase.capture_from = time.monotonic()
            readers.append(asyncio.ensure_future(read(ws, phase, capture=i == 0)))

        started = time.monotonic()
        try:
            await asyncio.wait_for(
                asyncio.gather(*(one(i) for i in range(subscribers))), 60 + subscribers * 0.1
            )
            phase.connect_s = time.monotonic() - started
            await asyncio.sleep(1.0)  # let frames queued while connecting drain
            cpu0, server0 = time.process_time(), server.cpu_s()
            t0 = time.monotonic()
            phase.measuring = True
            await asyncio.sleep(seconds)
            phase.measuring = False
            phase.window_s = time.monotonic() - t0
            phase.client_cpu_s = time.process_time() - cpu0
            phase.server_cpu_s = server.cpu_s() - server0
            # a short run on a quiet book may not have captured a frame yet: wait a little
            until = time.monotonic() + CAPTURE_WAIT_S
            while phase.capture_max and not phase.capture and time.monotonic() < until:
                await asyncio.sleep(0.1)
            if phase.capture_to is None:
                phase.capture_to = time.monotonic()
        finally:
            phase.measuring = False
            for task in readers:
                task.cancel()
            await asyncio.wait_for(asyncio.gather(*readers, return_exceptions=True), 30)
    # leaving the session closes every socket without waiting for close handshakes


# --- the bare server (a child process) ----------------------------------------------------------
def bare_server(capture_path: Path, life_s: float) -> None:
    """Serve ``/ws`` on a free loopback port: ack, then replay the capture to everyone."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    captured = json.loads(capture_path.read_text())
    period = captured["period"]
    frames = [(off, base64.b64decode(data)) for off, data in captured["frames"]]
    conns: set[WebSocket] = set()

    async def broadcast() -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for cycle in range(int(life_s / max(period, 0.01)) + 1):
            for off, data in frames:
                await asyncio.sleep(max(0.0, start + cycle * period + off - loop.time()))
                w = PushDataV3ApiWrapper.FromString(data)
                w.createTime = w.sendTime = time.time_ns() // 1_000_000
                out = w.SerializeToString()
                for ws in list(conns):
                    try:
                        await ws.send_bytes(out)
                    except Exception:
                        conns.discard(ws)

    async def endpoint(ws: WebSocket) -> None:
        await ws.accept()
        try:
            request = json.loads(await ws.receive_text())
            msg = ",".join(request.get("params", []))
            await ws.send_text(json.dumps({"id": 0, "code": 0, "msg": msg}))
            conns.add(ws)
            while True:
                await ws.receive_text()
        except (WebSocketDisconnect, RuntimeError, ValueError):
            pass
        finally:
            conns.discard(ws)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):  # type: ignore[no-untyped-def]
        task = asyncio.ensure_future(broadcast())
        yield
        task.cancel()

    app = Starlette(routes=[WebSocketRoute("/ws", endpoint)], lifespan=lifespan)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    print(f"bare server on ws://127.0.0.1:{sock.getsockname()[1]}/ws", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    loop = asyncio.new_event_loop()
    loop.call_later(life_s, lambda: setattr(server, "should_exit", True))
    loop.run_until_complete(server.serve(sockets=[sock]))


# --- the report ---------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def row(label: str, p: Phase, subscribers: int) -> str:
    rate = p.frames / p.window_s if p.window_s else 0.0
    firsts = [f for f, _ in p.spread.values()]
    lasts = [last for _, last in p.spread.values()]
    cpu = (p.server_cpu_s / p.window_s, p.client_cpu_s / p.window_s) if p.window_s else (0, 0)
    return (
        f"| {label:<19} | {p.connected:>5}/{subscribers:<5} | {len(p.spread):>6} | {p.frames:>8} "
        f"| {rate:>6.0f} | {pct(p.lags, 0.5):>6.1f} | {pct(p.lags, 0.99):>6.1f} "
        f"| {max(p.lags, default=float('nan')):>6.1f} | {pct(firsts, 0.5):>6.1f} "
        f"| {pct(lasts, 0.5):>6.1f} | {p.closed_early:>6} | {cpu[0]:>6.1%} | {cpu[1]:>6.1%} |"
    )


def report(ours: Phase, bare: Phase, args: argparse.Namespace) -> None:
    import uvicorn

    impl = "websockets-sansio" if importlib.util.find_spec("websockets") else "wsproto"
    print(
        f"host: {platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"uvicorn {uvicorn.__version__} (ws: {impl}), aiohttp {aiohttp.__version__} clients "
        f"in one asyncio loop"
    )
    print(
        f"subscribers: {args.subscribers}, each on {len(CHANNELS)} channels "
        f"(aggre.deals + aggre.depth @100ms@{SYMBOL}); {args.seconds:g} s measured per phase; "
        f"connect took {ours.connect_s:.1f} s (ours), {bare.connect_s:.1f} s (bare)"
    )
    print(
        "lag = client receive time (time.time()) - frame createTime (ours: stream hub's window "
        "flush, after the commit; bare: just before the send loop); the bare server replays "
        f"the {len(ours.capture)} frames captured from ours "
        f"({ours.capture_span_s:.1f} s of subscriber 0's stream) at their captured pace"
    )
    print(
        "| server              | connected   | frames | messages | msgs/s | p50 ms | p99 ms "
        "| max ms | 1st ms | last ms | closed | srv CPU | cli CPU |"
    )
    print(row("bourse serve --demo", ours, args.subscribers))
    print(row("bare replay", bare, args.subscribers))
    print(
        f"ours, trade-to-client (deals frames: receive - newest deal time, includes the 100 ms "
        f"window): p50 {pct(ours.trade_lags, 0.5):.1f} ms, p99 {pct(ours.trade_lags, 0.99):.1f} ms"
    )
    print(
        "frames: distinct frames (channel, createTime); 1st/last ms: median over frames of the "
        "lag of the first / last subscriber to get it; CPU: share of one core in the window"
    )
    ours_rate = ours.frames / ours.window_s if ours.window_s else 0.0
    bare_rate = bare.frames / bare.window_s if bare.window_s else 0.0
    ratio = ours_rate / bare_rate if bare_rate else float("nan")
    p99_ours, p99_bare = pct(ours.lags, 0.99), pct(bare.lags, 0.99)
    print(f"ratio msgs/s ours/bare: {ratio:.2f}")
    print(
        f"p99 lag: ours {p99_ours:.1f} ms, bare {p99_bare:.1f} ms "
        f"(ratio ours/bare {p99_ours / p99_bare if p99_bare else float('nan'):.2f})"
    )
    verdict = "met" if p99_ours < GOAL_P99_MS else "NOT met"
    print(f"goal p99 < {GOAL_P99_MS:g} ms at {args.subscribers} subscribers: {verdict}")
    for p in (ours, bare):
        for e in p.errors[:5]:
            print(f"  {p.name} error: {e}")


# --- main ---------------------------------------------------------------------------------------
def measure(args: argparse.Namespace, tmp: Path, stack: contextlib.ExitStack) -> None:
    env = {**os.environ, "BOURSE_DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}"}
    env.pop("BOURSE_PUBLIC_URL", None)
    ours_srv = Child(
        [*bourse_command(), "serve", "--demo", "--port", "0", "--log-level", "warning"],
        tmp / "bourse.log",
        env,
        tmp,
    )
    stack.callback(ours_srv.stop)
    base = ours_srv.wait_for(r"http://127\.0\.0\.1:\d+", STARTUP_TIMEOUT_S)
    wait_http(base + "/api/v3/ping", 30)
    ours = Phase("ours", capture_max=args.capture)
    ws_url = base.replace("http", "ws", 1) + "/ws"
    asyncio.run(run_phase(ours, ws_url, args.subscribers, args.seconds, ours_srv))
    ours_srv.stop()
    if not ours.capture:
        raise RuntimeError("captured no frame from the demo server")

    # offsets from subscriber 0's subscription; the replay repeats every ``period`` seconds
    t0, t1 = ours.capture_from, ours.capture_to or time.monotonic()
    capture_path = tmp / "capture.json"
    frames = [(t - t0, base64.b64encode(d).decode()) for t, d in ours.capture]
    capture_path.write_text(json.dumps({"period": t1 - t0, "frames": frames}))
    life = STARTUP_TIMEOUT_S + 60 + args.subscribers * 0.1 + args.seconds
    bare_srv = Child(
        [sys.executable, __file__, "--bare-server", str(capture_path), "--bare-life", f"{life}"],
        tmp / "bare.log",
        dict(os.environ),
        tmp,
    )
    stack.callback(bare_srv.stop)
    url = bare_srv.wait_for(r"ws://127\.0\.0\.1:\d+/ws", 60)
    bare = Phase("bare")
    asyncio.run(run_phase(bare, url, args.subscribers, args.seconds, bare_srv))
    bare_srv.stop()
    report(ours, bare, args)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--subscribers", type=int, help="WebSocket subscribers (default 1000)")
    ap.add_argument("--seconds", type=float, help="measured seconds per phase (default 20)")
    ap.add_argument("--quick", action="store_true", help="100 subscribers, 5 s (a fast check)")
    ap.add_argument("--capture", type=int, default=400, help="frames captured for the replay")
    ap.add_argument("--bare-server", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--bare-life", type=float, default=300.0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.bare_server is not None:
        bare_server(args.bare_server, args.bare_life)
        return
    args.subscribers = args.subscribers or (100 if args.quick else 1000)
    args.seconds = args.seconds or (5.0 if args.quick else 20.0)
    if not (1 <= args.subscribers <= 5000 and 0 < args.seconds <= 600):
        ap.error("need 1 <= --subscribers <= 5000 and 0 < --seconds <= 600")
    # the subscribers' sockets here, the server's in its child (it inherits the limit)
    limit = raise_open_files(args.subscribers * 2 + 512)
    if limit < args.subscribers + 256:
        ap.error(f"open-file limit {limit} too low for {args.subscribers} subscribers")
    # a SIGTERM unwinds like Ctrl-C, so the children are stopped either way
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="bourse-bench-ws-") as d, contextlib.ExitStack() as st:
        measure(args, Path(d), st)


if __name__ == "__main__":
    main()
