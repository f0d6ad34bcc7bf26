"""kill -9 of ``bourse serve`` under mixed load loses nothing acknowledged and applies nothing
twice, on SQLite and PostgreSQL.

Clients over real HTTP send orders (some crossing, so trades settle), cancels, sub-account
transfers, withdrawals and OAuth refreshes. At a seeded random moment the server process gets
SIGKILL. Then, with the server down:

* ``bourse check`` passes (the ledger audit of the integrity work);
* every acknowledged order, cancel, transfer, withdrawal (with its remark) and refresh is in
  the database, once;
* a request that was in flight when the server died is sent again to the restarted server with
  the same client id: it answers the one stored result (or applies now), never a second copy.

Three rounds per backend, each continuing on the database the last left; every answer the
clients got while the server ran is a MEXC-shaped answer (never a bare 500).
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.faults.load import MAX_REQUESTS, Ledger, check_store, retry_pending, trader
from tests.faults.serve import Serve, World, prepare

pytestmark = pytest.mark.slow

ROUNDS = 3


def _refresher(url: str, world: World, f: int, stop: threading.Event, led: Ledger) -> None:
    with httpx.Client(base_url=url, timeout=10) as http:
        for _ in range(MAX_REQUESTS):
            if stop.is_set() or world.refresh_tokens[f] == "":
                return
            data = {"grant_type": "refresh_token", "refresh_token": world.refresh_tokens[f]}
            try:
                r = http.post(
                    "/oauth/token", data=data, auth=(world.client_id, world.client_secret)
                )
            except httpx.TransportError:
                return
            if r.status_code != 200:
                body = (
                    r.json()
                    if r.headers.get("content-type", "").startswith("application/json")
                    else {}
                )
                if "error" not in body:
                    led.bad.append(f"refresh: {r.status_code} {r.text[:200]}")
                # the refresh before the kill may have rotated without answering: the client's
                # token is then a reused one, and the family is revoked (RFC 9700 4.14)
                world.refresh_tokens[f] = ""
                return
            tok = r.json()
            world.refresh_tokens[f] = tok["refresh_token"]
            led.ack("R", hashlib.sha256(tok["access_token"].encode()).hexdigest())
            time.sleep(0.02)


def _load(serve: Serve, world: World, rnd: int, kill_after: float, led: Ledger) -> None:
    stop = threading.Event()
    workers = [
        threading.Thread(target=trader, args=(serve.url, world, k, rnd, stop, led))
        for k in range(len(world.users))
    ] + [
        threading.Thread(target=_refresher, args=(serve.url, world, f, stop, led))
        for f in range(len(world.refresh_tokens))
    ]
    for w in workers:
        w.start()
    time.sleep(kill_after)
    serve.kill9()
    stop.set()
    for w in workers:
        w.join(30)
        assert not w.is_alive(), "a client hung after the server died"


def test_kill_9_of_bourse_serve_under_mixed_load(migrated_url: str, tmp_path: Path) -> None:
    world = prepare(migrated_url, tmp_path)
    rng = random.Random(20261203 + (0 if migrated_url.startswith("sqlite") else 1))
    led = Ledger()
    t0 = time.monotonic()
    for rnd in range(ROUNDS):
        serve = Serve(world)
        try:
            retry_pending(serve, world, led)
            _load(serve, world, rnd, rng.uniform(0.8, 2.5), led)
        finally:
            if serve.proc.poll() is None:
                serve.kill9()
        assert not led.bad, led.bad
        counts = check_store(world, led)
    # the last round's requests in flight, answered by a server that then stops cleanly
    serve = Serve(world)
    try:
        retry_pending(serve, world, led)
    finally:
        serve.stop()
    counts = check_store(world, led)
    assert counts["O"] > 30 and counts["T"] > 3 and counts["W"] > 3 and counts["R"] > 3, counts
    print(
        f"after {ROUNDS} kills, {time.monotonic() - t0:.1f} s: acknowledged and found {dict(counts)}, "
        f"{led.retried} sent again after a restart"
    )
