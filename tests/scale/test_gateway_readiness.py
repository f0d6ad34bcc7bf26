"""A gateway's ``/readyz`` says whether an engine is behind it (``bus.heartbeat``): 200 while
the active engine beats, through a failover to the standby too; 503 with the engine check's
reason within a few seconds after the last engine is killed (kill -9, no standby left), while
the store and NATS checks stay ok; 200 again once an engine runs again. A hung engine stops
beating too, and beats again once it goes on: its thread stuck with a command in flight, and
stuck with none (in the handler of a command no gateway sent: the beat's probe through the
engine's queue goes unanswered) within ``STALL_S`` and a beat interval; an idle engine beats on."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from bourse.bootstrap import open_platform
from bourse.bus.gateway import CommandClient
from bourse.bus.heartbeat import INTERVAL_S, SILENCE_S, STALL_S
from bourse.config import Config
from bourse.engine import commands as c
from bourse.engine.handlers import HANDLERS
from bourse.engine.trace import Trace
from tests.faults.serve import World
from tests.scale.topology import ACTIVE, STANDBY, Topology, logs
from tests.support.nats import NATS_URL

pytestmark = pytest.mark.slow

#: seconds a gateway may take to be ready once an engine runs (it must hear a beat first)
READY_S = 30.0
#: seconds past ``SILENCE_S`` within which a gateway must say no engine is there
NOTICE_S = 3.0


def _readyz(http: httpx.Client, url: str) -> tuple[int, dict[str, Any]]:
    r = http.get(f"{url}/readyz")
    return r.status_code, r.json()


def _until(http: httpx.Client, url: str, code: int, within: float) -> dict[str, Any]:
    """The body of the first ``/readyz`` answer with status ``code`` (at most ``within`` s)."""
    deadline = time.monotonic() + within
    while True:
        got, body = _readyz(http, url)
        if got == code:
            return body
        assert time.monotonic() < deadline, f"/readyz not {code} within {within:g} s: {body}"
        time.sleep(0.1)


class Poller:
    """Asks ``/readyz`` every 0.1 s on a thread of its own; ``stop()`` gives the answers."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seen: list[tuple[int, dict[str, Any]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=10) as http:
            while not self._stop.is_set():
                self.seen.append(_readyz(http, self.url))
                self._stop.wait(0.1)

    def stop(self) -> list[tuple[int, dict[str, Any]]]:
        self._stop.set()
        self._thread.join(15)
        return self.seen


def test_a_gateway_is_ready_only_with_an_engine_behind_it(topology: Topology, world: World) -> None:
    active = topology.engine()
    standby = topology.engine(wait=STANDBY)
    gw, url = topology.gateway()
    with httpx.Client(timeout=10) as http:
        body = _until(http, url, 200, READY_S)
        assert "engine heard" in body["checks"]["engine"]["detail"], body

        # a failover: the standby beats before the gateways miss the dead engine
        poller = Poller(url)
        active.kill9()
        killed = time.monotonic()
        standby.wait_for(ACTIVE, 60)
        took_over = time.monotonic() - killed
        time.sleep(4 * INTERVAL_S)  # the new engine's beats reach the gateway
        seen = poller.stop()
        assert seen and seen[-1][0] == 200, (seen[-1:], logs(standby, gw))
        if took_over < SILENCE_S - 1:  # a normal takeover (on a slow machine the bound may pass)
            flaps = [body for code, body in seen if code != 200]
            assert not flaps, (f"takeover in {took_over:.1f} s", flaps[:3])

        # the last engine gone: not ready, and the engine check says why
        standby.kill9()
        killed = time.monotonic()
        body = _until(http, url, 503, SILENCE_S + NOTICE_S)
        noticed = time.monotonic() - killed
        checks = body["checks"]
        assert not checks["engine"]["ok"], body
        assert "no engine heard for" in checks["engine"]["detail"], body
        assert "\n" not in checks["engine"]["detail"] and "127.0.0.1" not in str(body)
        assert all(c["ok"] for name, c in checks.items() if name != "engine"), body
        assert noticed > SILENCE_S - 2 * INTERVAL_S, f"503 after {noticed:.1f} s only"
        # and /metrics says how long it has heard nothing (deploy/prometheus alerts on it)
        token = (world.home / "operator.token").read_text().strip()
        scrape = http.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"})
        heard = re.search(r"^bourse_engine_heard_seconds (\S+)$", scrape.text, re.M)
        assert heard is not None and float(heard.group(1)) > SILENCE_S, scrape.text[:2000]

        # an engine again: ready again
        again = topology.engine()
        body = _until(http, url, 200, READY_S)
        assert body["checks"]["engine"]["ok"], (body, logs(again, gw))
    print(f"takeover in {took_over:.1f} s; 503 {noticed:.1f} s after the last engine died")


def _until_heard(client: CommandClient, heard: bool, within: float) -> float:
    """Seconds until ``client`` counts an engine as there (``heard``) or not (at most ``within``)."""
    started = time.monotonic()
    while (client.heard.problem() is None) != heard:
        why = client.heard.problem() or "an engine heard"
        assert time.monotonic() - started < within, f"after {within:g} s: {why}"
        time.sleep(0.05)
    return time.monotonic() - started


def _engine_config(topology: Topology, world: World) -> Config:
    """An engine of ``world``'s database on this test's bus."""
    return Config(
        database_url=world.url,
        bus_url=NATS_URL,
        bus_name=topology.name,
        role="engine",
        secret_key=world.secret_key,
    )


def test_a_hung_engine_stops_beating(topology: Topology, world: World) -> None:
    config = _engine_config(topology, world)
    a, b = world.users[0], world.users[1]
    with open_platform(config) as platform:
        client = CommandClient(NATS_URL, topology.name, timeout=60).start()
        try:
            _until_heard(client, True, 10)
            engine = platform.engine
            engine.lock.acquire()  # the engine thread blocks on its next command: hung
            try:
                sent = client.send(c.Transfer(a.account, b.account, "USDT", 1), Trace("hung"))
                went = _until_heard(client, False, STALL_S + SILENCE_S + 3)
                assert not sent.done()
            finally:
                engine.lock.release()
            assert isinstance(sent.result(30), int)
            _until_heard(client, True, 5)  # it goes on, and beats again
        finally:
            client.close()
    assert went > STALL_S + SILENCE_S - 2 * INTERVAL_S - 1, f"silent after {went:.1f} s only"


@dataclass(frozen=True, slots=True)
class Hang(c.Command):
    """A command whose handler waits for the test (registered by the test only)."""


def _gaps(client: CommandClient, seconds: float) -> float:
    """The longest silence between beats over ``seconds`` (asking every 0.05 s)."""
    longest, deadline = 0.0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        longest = max(longest, client.heard.silence()[0])
        time.sleep(0.05)
    return longest


def test_a_hung_engine_with_nothing_in_flight_stops_beating(
    topology: Topology, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _engine_config(topology, world)
    entered, release = threading.Event(), threading.Event()

    def hang(state: Any, cmd: Hang, now: int) -> None:
        entered.set()
        assert release.wait(60)

    monkeypatch.setitem(HANDLERS, Hang, hang)
    with open_platform(config) as platform:
        client = CommandClient(NATS_URL, topology.name, timeout=60).start()
        try:
            _until_heard(client, True, 10)
            idle = _gaps(client, 4 * STALL_S)  # idle: it beats on
            assert idle < 3 * INTERVAL_S, f"an idle engine was silent for {idle:.1f} s"
            # the engine thread stuck in a handler; no command of a gateway in flight
            hung = platform.engine.submit(Hang())
            try:
                assert entered.wait(10)
                since = time.monotonic()
                while (silent := client.heard.silence()[0]) < 3 * INTERVAL_S:
                    assert time.monotonic() - since < STALL_S + 10, "a hung engine beats on"
                    time.sleep(0.05)
                beat_for = time.monotonic() - silent - since
                assert not hung.done()
            finally:
                release.set()
            hung.result(30)
            # it goes on, and beats again
            back = time.monotonic()
            while client.heard.silence()[0] > time.monotonic() - back:
                assert time.monotonic() - back < 5, "released, and still no beat"
                time.sleep(0.05)
            resumed = time.monotonic() - back
        finally:
            client.close()
    # the bound: a probe waits STALL_S, sent at most an interval after the thread hung
    assert beat_for <= STALL_S + INTERVAL_S + 0.5, f"a hung engine beat for {beat_for:.1f} s"
    print(f"idle gaps up to {idle:.2f} s; hung: beat for {beat_for:.2f} s; back in {resumed:.2f} s")
