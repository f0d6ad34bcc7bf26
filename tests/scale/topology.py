"""The scale-out topology on loopback: ``bourse engine`` (and a standby), ``bourse gateway``s,
the real NATS server and a private PostgreSQL database, every process a subprocess.

``Topology(world, name)`` names its bus ``name`` (unique per test: its JetStream streams are
its own); ``engine()`` starts an engine (the first takes the writer lock, a later one waits as
the standby), ``gateway()`` a gateway on a free port; ``close()`` stops them all and deletes
the streams.
"""

from __future__ import annotations

from typing import Any

import ccxt
from sqlalchemy import func, select, text

from bourse.bus.nats import NatsBus
from bourse.store import tables as t
from bourse.store.db import make_engine
from tests.faults.serve import World
from tests.support.mexc import point_at
from tests.support.nats import NATS_URL
from tests.support.process import Proc

#: seconds a process may take to start (imports, migrations, loading the store)
START_S = 60
ACTIVE = r"engine: active"
STANDBY = r"standby: another engine holds the writer lock"


class Topology:
    def __init__(self, world: World, name: str) -> None:
        self.world = world
        self.name = name
        self.procs: list[Proc] = []

    def _bus(self) -> list[str]:
        return ["--db", self.world.url, "--bus", NATS_URL, "--bus-name", self.name]

    def engine(
        self, wait: str = ACTIVE, env: dict[str, str] | None = None, args: tuple[str, ...] = ()
    ) -> Proc:
        """An engine (``env``: more environment variables for it, ``args``: more options)."""
        proc = Proc(
            ["engine", *self._bus(), *args],
            {**self.world.env(), **(env or {})},
            self.world.home.parent,
            "engine",
        )
        self.procs.append(proc)
        proc.wait_for(wait, START_S)
        return proc

    def gateway(self) -> tuple[Proc, str]:
        args = ["gateway", "--port", "0", "--no-rate-limit", "--no-access-log"]
        proc = Proc(
            [*args, "--log-level", "warning", *self._bus()],
            self.world.env(),
            self.world.home.parent,
            "gateway",
        )
        self.procs.append(proc)
        url = proc.wait_for(r"API\s+(http://[0-9.:]+)", START_S).group(1)
        return proc, url

    def close(self) -> None:
        for proc in self.procs:
            proc.stop()
        # the events stream, and the command stream: named as the bus of "<name>_CMD" would be
        for name in (self.name, f"{self.name}_CMD"):
            NatsBus(NATS_URL, name).delete_stream()


def mexc(url: str, key: str, secret: str) -> Any:
    """ccxt's unmodified ``mexc`` class pointed at ``url``."""
    ex = ccxt.mexc({"apiKey": key, "secret": secret, "enableRateLimit": False, "timeout": 15_000})
    point_at(ex, url)
    return ex


def logs(*procs: Proc) -> str:
    return "\n".join(f"--- {p.name}\n{p.log(2000)}" for p in procs)


def stored_transfers(url: str, account: int, amount: int) -> int:
    """How many transfers of ``amount`` from ``account`` the database holds (each answered
    command must be there exactly once)."""
    db = make_engine(url)
    try:
        with db.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).where(
                        t.transfers.c.from_account == account, t.transfers.c.amount == amount
                    )
                ).scalar_one()
            )
    finally:
        db.dispose()


def kill_writer_session(url: str) -> int:
    """pg_terminate_backend on the session holding this database's writer lock: how many."""
    db = make_engine(url)
    try:
        with db.begin() as conn:
            return len(
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(l.pid) FROM pg_locks l "
                        "JOIN pg_database d ON d.oid = l.database "
                        "WHERE l.locktype = 'advisory' AND l.granted "
                        "AND d.datname = current_database()"
                    )
                ).all()
            )
    finally:
        db.dispose()
