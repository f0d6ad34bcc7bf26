"""``bourse serve``: the exchange, its banner, and the operator API's credential and runtime
file in ``$BOURSE_HOME`` (``bourse.operations.home``)."""

from __future__ import annotations

import errno
import gc
import os
import socket
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import typer
from rich.panel import Panel
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from bourse.cli.access_log import queue_access_log
from bourse.cli.common import (
    MAX_PORT,
    DbOption,
    console,
    db_url,
    err,
    fail,
    open_platform,
    safe_url,
)
from bourse.cli.cpu import CpuOption, choose_or_fail, claim
from bourse.config import AuthLimits, RateLimits
from bourse.operations.home import ensure_token, home_for
from bourse.operations.runtime import (
    RunningServer,
    announce,
    any_process,
    running_server,
    withdraw,
)

if TYPE_CHECKING:
    import uvicorn

    from bourse.services.bundle import Services


#: behind a proxy: the client IP from the proxy's header (shared by serve and gateway)
TrustForwardedOption = Annotated[
    bool,
    typer.Option(
        "--trust-forwarded-for",
        envvar="BOURSE_TRUST_FORWARDED_FOR",
        help="Take the client IP (rate limits, IP whitelists, throttles) from the last "
        "X-Forwarded-For hop, the one your proxy appends. Only behind a proxy you run, with "
        "the server not reachable around it: otherwise any client chooses its IP.",
    ),
]
#: no body outside the signature, not even on ccxt's broker writes
StrictSignaturesOption = Annotated[
    bool,
    typer.Option(
        "--strict-signatures",
        envvar="BOURSE_STRICT_SIGNATURES",
        help="Refuse a JSON body outside the signature on the broker writes ccxt sends that "
        "way (MEXC takes them; each signature serves once): ccxt's broker writes then fail "
        "(docs/security.md).",
    ),
]


def public_url(host: str, port: int) -> str:
    """The URL a local client should use for a server bound to ``host``:``port``."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket ourselves so ``--port 0`` still tells us the real port.

    TCP_NODELAY is set on it, and Linux hands it down to every accepted connection: without
    it a response written in two pieces (headers, then body) can wait for the client's delayed
    ACK (Nagle's algorithm), ~40 ms a response. The protocol is named (``IPPROTO_TCP``, not 0)
    so that asyncio's transports also recognise the connections as TCP and set it themselves.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def server_config(
    app: Any, log_level: str, log_format: str = "text", access_log: bool = True
) -> uvicorn.Config:
    """The server stack ``bourse serve`` runs ``app`` on (``bench/http.py`` serves its
    hello-world baseline with it too, so the two differ only by the app): uvicorn, with uvloop
    and httptools when installed (they are dependencies); its logs one line per event, as
    ``log_format`` (``bourse.api.observability.logs``), the access log written by a thread of
    its own (``queue_access_log``)."""
    import uvicorn

    from bourse.api.observability.logs import log_config
    from bourse.api.ws.limits import StreamLimits

    config = uvicorn.Config(
        app,
        log_level=log_level,
        lifespan="auto",
        log_config=log_config(log_format, log_level),
        access_log=access_log,
        # the client IP is Bourse's to decide (--trust-forwarded-for, services.throttle), not
        # uvicorn's: its default takes X-Forwarded-For from any client connecting over loopback
        proxy_headers=False,
        # a /ws message over the cap is refused (1009) before it is read whole (uvicorn's own
        # default is 16 MiB); the app checks the same cap under any other server
        ws_max_size=StreamLimits().max_message_bytes,
    )
    if access_log:
        queue_access_log()
    return config


def _seed_with_progress(platform: Any) -> Any:
    from bourse.sandbox.demo import DEMO_ACCOUNTS, seed_demo

    steps = sum(len(a.funds) + 1 + int(a.api_key) for a in DEMO_ACCOUNTS) + 1
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task("seeding the demo exchange", total=steps)

        def step(message: str) -> None:
            progress.update(task, advance=1, description=message)

        result = seed_demo(platform, progress=step)
        progress.update(task, completed=steps)
    return result


def _parse_per(text: str, option: str, form: str, example: str) -> tuple[int, int]:
    """``COUNT/SECONDS`` as two positive integers, else a one-line error naming ``option``."""
    try:
        count, seconds = (int(x) for x in text.split("/", 1))
        if count < 1 or seconds < 1:
            raise ValueError
    except ValueError:
        raise fail(f"{option} {text!r}: expected {form}, e.g. {example}") from None
    return count, seconds


def parse_rate_limit(text: str) -> RateLimits:
    """``REQUESTS/SECONDS`` (e.g. ``500/10``) as ``RateLimits`` with MEXC's special caps."""
    requests, seconds = _parse_per(text, "--rate-limit", "REQUESTS/SECONDS", "500/10")
    return RateLimits(requests=requests, window_ms=seconds * 1000)


def parse_login_limit(text: str, enabled: bool) -> AuthLimits:
    """``FAILURES/SECONDS`` per client IP (e.g. ``30/60``) as ``AuthLimits``."""
    failures, seconds = _parse_per(text, "--login-limit", "FAILURES/SECONDS", "30/60")
    return AuthLimits(enabled=enabled, per_ip=(failures, seconds * 1000))


def serve(
    demo: Annotated[
        bool, typer.Option("--demo", help="Seed demo accounts and run a market maker.")
    ] = False,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=MAX_PORT, help="Port to listen on (0: any free port).")
    ] = 8080,
    db: DbOption = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    log_format: Annotated[
        str,
        typer.Option(
            help="Logs one line per event: text (for a person) or json (for a log pipeline); "
            "each carries the request id (X-Request-Id)."
        ),
    ] = "text",
    metrics: Annotated[
        bool,
        typer.Option(
            "--metrics/--no-metrics",
            help="Collect Prometheus metrics (GET /metrics with the operator credential).",
        ),
    ] = True,
    access_log: Annotated[
        bool,
        typer.Option(
            "--access-log/--no-access-log",
            help="One line per request (written by a thread of its own; off: not even that).",
        ),
    ] = True,
    seed: Annotated[int | None, typer.Option(help="Random seed of the demo market maker.")] = None,
    rate_limit: Annotated[
        str,
        typer.Option(
            help="Requests per endpoint per window, as REQUESTS/SECONDS (MEXC: 500/10); "
            "counted per account on signed endpoints, per IP on public ones."
        ),
    ] = "500/10",
    no_rate_limit: Annotated[
        bool,
        typer.Option(
            "--no-rate-limit",
            help="Switch rate limits and the log-in/OAuth client throttles off (load tests).",
        ),
    ] = False,
    login_limit: Annotated[
        str,
        typer.Option(
            help="Failed log-ins and OAuth client authentications per client IP, as "
            "FAILURES/SECONDS (docs/security.md)."
        ),
    ] = "30/60",
    bus: Annotated[
        str | None,
        typer.Option(
            envvar="BOURSE_BUS_URL",
            help="NATS server (nats://127.0.0.1:4222) of the bus: several processes on one "
            "database serve the same streams. Default: streams stay in this process.",
        ),
    ] = None,
    bus_name: Annotated[
        str, typer.Option(envvar="BOURSE_BUS_NAME", help="Name of this exchange on the bus.")
    ] = "bourse",
    role: Annotated[
        str,
        typer.Option(
            help="With --bus: writer (owns the engine), follower (serves /ws and market data "
            "from the bus), gateway (as a follower, and sends commands to `bourse engine`) or "
            "auto (the writer unless another process writes the database)."
        ),
    ] = "auto",
    settle_at: Annotated[
        str,
        typer.Option(
            envvar="BOURSE_REBATE_SETTLE_AT",
            help='UTC time of day (HH:MM) of the daily broker rebate settlement; "off": none '
            "(rebates still accrue live; bourse brokers settle pays on demand).",
        ),
    ] = "00:05",
    client_order_id_retention: Annotated[
        int | None,
        typer.Option(
            envvar="BOURSE_CLIENT_ORDER_ID_RETENTION",
            min=65,
            help="Seconds a closed order's newClientOrderId stays reserved: a retry within them "
            "returns the order, a reuse after them places a new one (an open order keeps its "
            "id). Default 86400 (24 hours).",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="With --bus: one engine and this many gateway processes sharing the listening "
            "socket (docs/scaling.md). Default 1: everything in this process.",
        ),
    ] = 1,
    listen_fd: Annotated[
        int | None, typer.Option(hidden=True, help="Serve on this inherited socket (--workers).")
    ] = None,
    cpu: CpuOption = "auto",
    trust_forwarded_for: TrustForwardedOption = False,
    strict_signatures: StrictSignaturesOption = False,
    faucet_limit: Annotated[
        list[str] | None,
        typer.Option(
            help="With --demo: the most the faucet gives an account a day, as ASSET=AMOUNT "
            "(repeatable; default USDT, USDC and MX 100000, BTC 5, ETH 100, others 1000).",
        ),
    ] = None,
) -> None:
    """Serve the MEXC-compatible API, the operator API (/admin/v1) and, with --demo, a live
    demo market."""
    if workers > 1 and (not bus or demo or role not in ("auto", "writer")):
        raise fail("--workers needs --bus (NATS), and runs its own engine: no --demo, no --role")
    # the port first, before the seconds of importing the platform: a taken one is said at once
    try:
        sock = socket.socket(fileno=listen_fd) if listen_fd is not None else _bind(host, port)
    except OSError as exc:
        hint = " (use --port N)" if exc.errno in (errno.EADDRINUSE, errno.EACCES) else ""
        own = _own_server(db, port) if exc.errno == errno.EADDRINUSE else None
        if own is not None:
            raise fail(
                f"cannot listen on {host}:{port}: the server of {safe_url(own.database)} already "
                f"runs at {own.url} (pid {own.pid}); stop it first with bourse stop"
            ) from exc
        raise fail(f"cannot listen on {host}:{port}: {exc}{hint}") from exc
    from bourse.api.observability.logs import FORMATS
    from bourse.app import create_app
    from bourse.cli.crash import exit_on_engine_crash
    from bourse.cli.uvicorn_server import Server
    from bourse.cli.workers import run_workers
    from bourse.sandbox.controls import start_sandbox
    from bourse.sandbox.demo import demo_credentials, remember_url
    from bourse.sandbox.faucet import parse_limits
    from bourse.services.brokers.settlement import next_run
    from bourse.store.db import identify

    if log_format not in FORMATS:
        raise fail(f"--log-format {log_format!r}: expected json or text")
    settle = None if settle_at.strip().lower() == "off" else settle_at.strip()
    if settle is not None:
        try:
            next_run(0, settle)
        except ValueError:
            raise fail(f'--settle-at {settle_at!r}: expected HH:MM (UTC) or "off"') from None
    # an exchange allocates many long-lived objects (orders, balances): collect less often
    gc.set_threshold(100_000, 50, 100)

    # before any thread starts: each inherits the CPU (bourse.cli.cpu)
    pinned = None if workers > 1 else claim(cpu)
    spread = [choose_or_fail(cpu, i) for i in range(workers + 1)] if workers > 1 else []
    url = public_url(host, sock.getsockname()[1])
    os.environ.setdefault("BOURSE_PUBLIC_URL", url)  # the OAuth issuer, unless set
    if client_order_id_retention is not None:  # --workers' `bourse engine` keeps the same
        os.environ["BOURSE_CLIENT_ORDER_ID_RETENTION"] = str(client_order_id_retention)
    limits = RateLimits.off() if no_rate_limit else parse_rate_limit(rate_limit)
    try:
        limits_of_faucet = parse_limits(faucet_limit or [])
    except ValueError as exc:
        raise fail(f"--faucet-limit {exc}") from None
    auth = parse_login_limit(login_limit, enabled=not no_rate_limit)
    database = db_url(db)
    home = home_for(database)
    try:
        token = ensure_token(home)
    except OSError as exc:
        raise fail(f"cannot keep the operator credential in {home}: {exc}") from exc
    if role not in ("writer", "follower", "gateway", "auto"):
        raise fail(f"--role {role!r}: expected writer, follower, gateway or auto")
    # before any connection: pg_stat_activity shows each session's process (store.db.identify)
    identify("gateway" if role == "gateway" else "serve")
    if workers > 1:
        assert bus is not None
        args = ["--log-level", log_level, "--log-format", log_format, "--rate-limit", rate_limit]
        args += ["--login-limit", login_limit, "--settle-at", settle_at]
        args += [] if metrics else ["--no-metrics"]
        args += [] if access_log else ["--no-access-log"]
        args += ["--no-rate-limit"] if no_rate_limit else []
        args += ["--trust-forwarded-for"] if trust_forwarded_for else []
        args += ["--strict-signatures"] if strict_signatures else []
        print_banner(url, None, limits=limits.describe(), home=str(home), bus=f"{bus} (workers)")
        cpus = ["none" if c is None else str(c) for c in spread]
        run_workers(workers, sock.fileno(), url, database, home, bus, bus_name, args, cpus)
        return
    bus_config: dict[str, Any] = {"bus_url": bus, "bus_name": bus_name, "role": role} if bus else {}
    if not bus:  # the database's only engine (with --bus, a second server follows the first)
        running = any_process(home, database)
        if running is not None:
            raise fail(
                f"a server runs for {safe_url(database)}: {running.label()}; stop it first "
                "with bourse stop"
            )
    # production (no --demo): the server key must be given, apart from the data
    with open_platform(
        database,
        create=True,
        rate_limits=limits,
        auth_limits=auth,
        rebate_settle_at=settle,
        client_order_id_retention_s=client_order_id_retention,
        require_secret_key=not demo,
        trust_forwarded_for=trust_forwarded_for,
        unsigned_broker_bodies=not strict_signatures,
        **bus_config,
    ) as platform:
        exit_on_engine_crash(platform.engine, "bourse serve")  # crash-only (cli.crash)
        following = platform.mirror is not None
        if demo and following:
            raise fail("--demo seeds the exchange: only the writer can (this server follows one)")
        if demo and not following:  # the seed writes now: take the writer lock first
            _become_writer(platform)
        if demo:
            seeded = _seed_with_progress(platform)
            # the market maker, the faucet, the injected faults and the reset (bourse sandbox)
            start_sandbox(platform, seeded.accounts, seed=seed, faucet_limits=limits_of_faucet)
            # the simulated chain: blocks advance, deposits confirm, withdrawals broadcast;
            # the unsigned /sandbox/... endpoints (send a deposit, approve a review) are on
            platform.wallet.settings.sandbox = True
            platform.chain.start()
        if not following:  # the CLI's commands go to the writer, not to a follower
            remember_url(platform, url)
        # before the banner, so whoever reads it finds the process announced; a gateway runs
        # operations (through its engine), a follower is only listed (it is read-only)
        kind = "gateway" if role == "gateway" else "follower" if following else "serve"
        runtime = announce(home, database, url, role=kind)
        print_banner(
            url,
            demo_credentials(platform) if demo else None,
            limits=limits.describe(),
            auth=auth.describe(),
            home=str(home),
            bus=f"{bus} ({_bus_role(role, following)})" if bus else None,
            cpu=pinned,
        )

        def done() -> None:
            """Once it stops serving (also on SIGTERM, after which uvicorn ends the process):
            no longer announced, then the market maker and the engine stop, finishing what is
            queued, and the database is released."""
            withdraw(runtime)
            platform.close()  # the sandbox's market maker first (Services.close)

        server = Server(
            server_config(
                create_app(platform, operator_token=token, metrics=metrics),
                log_level,
                log_format,
                access_log,
            ),
            on_shutdown=done,
        )
        try:
            server.run(sockets=[sock])
        finally:
            done()
            sock.close()


def _become_writer(platform: Services) -> None:
    """Take the database's writer lock before the demo's seed: an engine of another home or
    host that writes it ends the start in one line, not at the first batch with a traceback.
    On PostgreSQL a writer that died uncleanly holds the lock until its session times out
    (``WRITER_IDLE_TIMEOUT_MS``): wait that long, twice, first. (Without ``--demo`` nothing is
    written at start: the server serves, answers orders 503 while another engine holds the
    lock, and takes it once free, the failover of docs/scaling.md.)"""
    import time

    from bourse.store.sql import WRITER_IDLE_TIMEOUT_MS, StoreLocked

    url = platform.config.database_url
    patience = 2 * WRITER_IDLE_TIMEOUT_MS / 1000 if platform.store.dialect == "postgresql" else 0.0
    deadline = time.monotonic() + patience
    while True:
        try:
            if not platform.store.ensure_writer():
                platform.engine.reload()  # another writer committed since the platform loaded
            return
        except StoreLocked as exc:
            if time.monotonic() >= deadline:
                raise fail(f"{exc} ({safe_url(url)}); stop it first") from exc
            time.sleep(0.5)


def _bus_role(role: str, following: bool) -> str:
    if role == "gateway":
        return "gateway: commands to the engine over NATS"
    return "follower: read-only" if following else "writer"


def print_banner(
    url: str,
    creds: dict[str, Any] | None,
    limits: str | None = None,
    home: str | None = None,
    auth: str | None = None,
    bus: str | None = None,
    cpu: int | None = None,
) -> None:
    lines = [
        f"[bold]API[/]        {url}   (use it where a MEXC client says https://api.mexc.com)",
        *([f"[bold]Limits[/]     {limits}"] if limits else []),
        *([f"[bold]Log-in[/]     {auth}"] if auth else []),
        *([f"[bold]Bus[/]        {bus}"] if bus else []),
        *(
            [f"[bold]CPU[/]        {cpu} (every thread; --cpu none: the scheduler's choice)"]
            if cpu is not None
            else []
        ),
        f"[bold]OpenAPI[/]    {url}/openapi.json",
        f"[bold]Web[/]        {url}/  (console: markets, trading, wallet, API keys; brokers at /broker)",
        f"[bold]OAuth[/]      {url}/.well-known/oauth-authorization-server",
        *(
            [
                f"[bold]Operator[/]   {url}/operator and {url}/admin/v1/...  "
                f"(credential: {home}/operator.token)"
            ]
            if home
            else []
        ),
    ]
    if creds is not None:
        for role, key in creds["accounts"].items():
            lines += [
                "",
                f"[bold]{role}[/] demo API key",
                f"  api key    [green]{key['api_key']}[/]",
                f"  secret     [green]{key['secret']}[/]",
            ]
            bound = key.get("bound_user_key")
            if bound:
                lines += [
                    "  trades with the user key bound to it:",
                    f"  api key    [green]{bound['api_key']}[/]",
                    f"  secret     [green]{bound['secret']}[/]",
                ]
        lines += ["", "Again later: [cyan]bourse demo-credentials --json[/]"]
    title = "Bourse demo exchange" if creds is not None else "Bourse"
    # never wrap a key in two: the panel grows wider than the terminal instead
    width = max(Text.from_markup(line).cell_len for line in lines) + 4
    console.print(
        Panel("\n".join(lines), title=title, expand=False), width=max(console.width, width)
    )


def _own_server(db: str | None, port: int) -> RunningServer | None:
    """The running server of this command's database, if it is the one on ``port``: the
    taken port is then not another program's, and another port would start a second server
    on the same data."""
    running = running_server(home_for(db_url(db)), db_url(db))
    if running is None or not running.url:
        return None
    try:
        served_port = urlsplit(running.url).port
    except ValueError:
        return None
    return running if served_port == port else None
