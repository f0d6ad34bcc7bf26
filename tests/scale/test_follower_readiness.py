"""A plain follower (``bourse serve --bus`` on a database another ``bourse serve --bus`` writes)
is ready only while it hears its writer's heartbeat (``bus.heartbeat``): 200 while the writer
runs; once the writer is killed -9, 503 within ``SILENCE_S`` + 1 s with the engine check's
reason, while the store and NATS checks stay ok, and ``/metrics`` says how long it heard none.
The writer beats only while it holds the writer role: its PostgreSQL session (and with it the
writer lock) killed, it falls silent."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bourse.bootstrap import open_platform
from bourse.bus.heartbeat import INTERVAL_S, SILENCE_S, Listener
from bourse.bus.nats import NatsBus
from bourse.config import Config
from bourse.services.apikeys import generate_server_key
from tests.faults.serve import World
from tests.scale.topology import kill_writer_session
from tests.support.databases import create_pg_database, drop_pg_database, pg_template
from tests.support.nats import NATS_URL, unique_name
from tests.support.process import Proc

pytestmark = pytest.mark.slow

#: seconds a ``bourse serve`` may take to print its banner (imports, migrations, loading)
START_S = 60.0
#: seconds past ``SILENCE_S`` within which the follower must say no writer is there
NOTICE_S = 1.0


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """An empty migrated PostgreSQL database and a ``BOURSE_HOME`` (no users: nothing to load)."""
    url = create_pg_database("bourse_follower", template=pg_template())
    home = tmp_path / ".bourse"
    home.mkdir()
    try:
        yield World(url, home, generate_server_key())
    finally:
        drop_pg_database(url)


@pytest.fixture
def bus_name() -> Iterator[str]:
    name = unique_name()
    yield name
    NatsBus(NATS_URL, name).delete_stream()


def _serve(world: World, bus_name: str, role: str) -> Proc:
    """``bourse serve --bus --role ROLE`` on the world's database (``_url`` once it serves)."""
    args = ["serve", "--port", "0", "--no-rate-limit", "--no-access-log", "--log-level", "warning"]
    args += ["--settle-at", "off", "--bus", NATS_URL, "--bus-name", bus_name, "--role", role]
    return Proc(args, world.env(), world.home.parent, role)


def _url(proc: Proc) -> str:
    return proc.wait_for(r"API\s+(http://[0-9.:]+)", START_S).group(1)


def _readyz(http: httpx.Client, url: str) -> tuple[int, dict[str, Any]]:
    r = http.get(f"{url}/readyz")
    return r.status_code, r.json()


def _heard_seconds(http: httpx.Client, url: str, world: World) -> float:
    token = (world.home / "operator.token").read_text().strip()
    scrape = http.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"})
    found = re.search(r"^bourse_engine_heard_seconds (\S+)$", scrape.text, re.M)
    assert found is not None, scrape.text[:2000]
    return float(found.group(1))


def test_a_follower_is_ready_only_while_it_hears_its_writer(world: World, bus_name: str) -> None:
    writer = _serve(world, bus_name, "writer")  # both start at once: a few seconds each
    follower = _serve(world, bus_name, "follower")
    try:
        _url(writer)
        url = _url(follower)
        assert "(follower: read-only)" in follower.log(), follower.log()
        with httpx.Client(timeout=10) as http:
            deadline = time.monotonic() + 10  # its copy loads, then the first beat arrives
            while (got := _readyz(http, url))[0] != 200:
                assert time.monotonic() < deadline, (got, follower.log())
                time.sleep(0.05)
            detail = got[1]["checks"]["engine"]["detail"]
            assert detail.startswith("follower, caught up with the bus, writer heard"), got
            assert _heard_seconds(http, url, world) < SILENCE_S

            writer.kill9()
            killed = time.monotonic()
            while (got := _readyz(http, url))[0] == 200:
                assert time.monotonic() - killed < SILENCE_S + NOTICE_S, got
                time.sleep(0.05)
            noticed = time.monotonic() - killed
            code, body = got
            checks = body["checks"]
            assert code == 503 and not checks["engine"]["ok"], body
            assert checks["engine"]["detail"].startswith("follower, no writer heard for "), body
            assert all(c["ok"] for name, c in checks.items() if name != "engine"), body
            # not the kill noticed some other way: the silence was waited out
            assert noticed > SILENCE_S - 2 * INTERVAL_S, f"503 after {noticed:.1f} s only"
            assert _heard_seconds(http, url, world) > SILENCE_S
    finally:
        follower.stop()
        writer.stop()
    print(f"503 {noticed:.1f} s after the writer died")


def test_a_fenced_writer_stops_beating(world: World, bus_name: str) -> None:
    config = Config(
        database_url=world.url,
        bus_url=NATS_URL,
        bus_name=bus_name,
        role="writer",
        secret_key=world.secret_key,
        rebate_settle_at=None,
    )
    with open_platform(config) as platform:
        listener = Listener(NATS_URL, bus_name).start()
        try:
            deadline = time.monotonic() + 5
            while listener.heard.problem("writer") is not None:
                assert time.monotonic() < deadline, listener.heard.problem("writer")
                time.sleep(0.05)
            assert kill_writer_session(world.url) == 1
            # the store notices within its own heartbeat (a second), then no beat goes out
            deadline = time.monotonic() + 5
            while listener.heard.silence()[0] < 3 * INTERVAL_S:
                assert time.monotonic() < deadline, "a fenced writer beats on"
                time.sleep(0.05)
            assert platform.store.writer_lost.is_set()
        finally:
            listener.close()
