"""``bourse engine`` and ``bourse gateway``: the exchange split into processes on NATS.

``bourse engine`` is the writer without HTTP: it holds the database's writer lock, applies the
commands gateways put on the command stream (``bus.engine_server``) and publishes every
committed batch on the bus. Started while another engine holds the lock it is a standby: it
waits for the lock (the active engine's death releases it, ``kill -9`` included), then recovers
from the store and consumes the commands no engine finished. An active engine that loses the
lock (its database session killed or timed out) stops taking commands at once and exits 1:
its supervisor restarts it, as a standby. ``bourse gateway`` is ``bourse
serve`` in the gateway role: HTTP and WebSocket from a mirror of the engine, commands over NATS
(``bus.gateway``). Both announce themselves in ``$BOURSE_HOME`` (``operations.runtime``): the
engine as active or standby, the gateway with its URL, where the ``bourse`` commands send their
operations. docs/scaling.md shows the topology.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bourse.cli.common import MAX_PORT, DbOption, db_url, err, fail, safe_url
from bourse.cli.cpu import CpuOption, claim
from bourse.cli.serve import (
    StrictSignaturesOption,
    TrustForwardedOption,
    public_url,
    serve,
)
from bourse.config import Config
from bourse.operations.home import home_for
from bourse.operations.runtime import announce, withdraw

if TYPE_CHECKING:
    from bourse.cli.engine_health import EngineHealth

BusOption = Annotated[
    str,
    typer.Option(envvar="BOURSE_BUS_URL", help="NATS server of the bus (nats://127.0.0.1:4222)."),
]
BusNameOption = Annotated[
    str, typer.Option(envvar="BOURSE_BUS_NAME", help="Name of this exchange on the bus.")
]
#: seconds between two tries of a standby for the writer lock
STANDBY_POLL_S = 0.25
#: seconds between two looks of the active engine at its writer lock and its engine thread
FENCE_POLL_S = 0.1


def _wait_for_lock(url: str, stop: threading.Event) -> bool:
    """Wait until no process holds the writer lock (True), or ``stop`` is set (False). A cheap
    probe (take the lock, give it back) so a standby loads nothing while it waits."""
    from bourse.store.db import ensure_database, make_engine, migrate
    from bourse.store.sql import SqlStore, StoreLocked

    ensure_database(url)
    db = make_engine(url)
    try:
        migrate(db)
        waiting = False
        while not stop.is_set():
            probe = SqlStore(db)
            try:
                probe.ensure_writer()
                return True
            except StoreLocked:
                if not waiting:
                    err.print("standby: another engine holds the writer lock; waiting for it")
                    waiting = True
            finally:
                probe.close()
            stop.wait(STANDBY_POLL_S)
        return False
    finally:
        db.dispose()


def engine(
    db: DbOption = None,
    bus: BusOption = "nats://127.0.0.1:4222",
    bus_name: BusNameOption = "bourse",
    health_host: Annotated[
        str, typer.Option(help="Address of the health endpoints (with --health-port).")
    ] = "127.0.0.1",
    health_port: Annotated[
        int | None,
        typer.Option(
            min=0, max=MAX_PORT, help="Serve /healthz and /readyz on this port (0: any free port)."
        ),
    ] = None,
    cpu: CpuOption = "auto",
    client_order_id_retention: Annotated[
        int | None,
        typer.Option(
            envvar="BOURSE_CLIENT_ORDER_ID_RETENTION",
            min=65,
            help="Seconds a closed order's newClientOrderId stays reserved (as bourse serve's; "
            "default 86400).",
        ),
    ] = None,
) -> None:
    """Run the engine (no HTTP but its probes): apply the gateways' commands from NATS and
    publish what it commits. A second one waits as the standby and takes over when the active
    one dies."""
    from bourse.cli.engine_health import EngineHealth
    from bourse.store.db import identify

    claim(cpu)  # before any thread starts: each inherits the CPU (bourse.cli.cpu)
    identify("engine")  # its sessions, the standby's too, say so in pg_stat_activity
    url = db_url(db)
    home = home_for(url)
    health = None
    if health_port is not None:
        health = EngineHealth(health_host, health_port).start()
        err.print(f"engine: health on {public_url(health_host, health.port)}", highlight=False)
    health_url = public_url(health_host, health.port) if health is not None else ""

    def say(state: str) -> Path:
        """Announce this engine in its home, as ``state`` (bourse status, bourse stop)."""
        try:
            return announce(home, url, health_url, role="engine", state=state)
        except OSError as exc:
            raise fail(f"cannot write the runtime file in {home}: {exc}") from exc

    try:
        runtime = say("standby")
        try:
            _run(url, bus, bus_name, health, lambda: say("active"), client_order_id_retention)
        finally:
            withdraw(runtime)
    finally:
        if health is not None:
            health.stop()


def _run(
    url: str,
    bus: str,
    bus_name: str,
    health: EngineHealth | None,
    on_active: Callable[[], object],
    retention_s: int | None = None,
) -> None:
    from bourse.bootstrap import open_platform
    from bourse.cli.crash import exit_on_engine_crash
    from bourse.store.sql import StoreLocked

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    config = Config(
        database_url=url,
        bus_url=bus,
        bus_name=bus_name,
        role="engine",
        require_secret_key=True,
        client_order_id_retention_s=retention_s,
    )
    platform: Any = None
    while platform is None:
        if not _wait_for_lock(url, stop):
            return
        try:
            platform = open_platform(config)
        except StoreLocked:  # another standby was quicker
            continue
        except Exception as exc:
            raise fail(f"cannot run the engine on {safe_url(url)}: {exc}") from exc
    exit_on_engine_crash(platform.engine, "bourse engine")  # crash-only (cli.crash)
    if health is not None:
        health.active(platform)
    try:
        on_active()
        err.print(
            f"engine: active on {safe_url(url)}, commands from {bus} ({bus_name}); "
            f"{platform.engine.batches} batches",
            highlight=False,
        )
        lost = getattr(platform.engine.store, "writer_lost", threading.Event())
        while not stop.wait(FENCE_POLL_S):
            if lost.is_set():  # fenced: the command server took its last command already
                raise fail("the engine lost the database's writer lock; exiting (restart me)")
            if not platform.engine.running:
                raise fail("the engine thread stopped")
    finally:
        started = time.monotonic()
        platform.close()
        err.print(f"engine: stopped ({time.monotonic() - started:.1f} s to close)")


def gateway(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=MAX_PORT, help="Port to listen on (0: any free port).")
    ] = 8080,
    db: DbOption = None,
    bus: BusOption = "nats://127.0.0.1:4222",
    bus_name: BusNameOption = "bourse",
    no_rate_limit: Annotated[
        bool, typer.Option("--no-rate-limit", help="Switch rate limits off (load tests).")
    ] = False,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="One line per request.")
    ] = True,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    cpu: CpuOption = "auto",
    trust_forwarded_for: TrustForwardedOption = False,
    strict_signatures: StrictSignaturesOption = False,
) -> None:
    """Serve HTTP and WebSocket from the bus, sending commands to `bourse engine` over NATS
    (any number of gateways, on any host)."""
    serve(
        host=host,
        port=port,
        db=db,
        bus=bus,
        bus_name=bus_name,
        role="gateway",
        no_rate_limit=no_rate_limit,
        access_log=access_log,
        log_level=log_level,
        cpu=cpu,
        trust_forwarded_for=trust_forwarded_for,
        strict_signatures=strict_signatures,
    )
