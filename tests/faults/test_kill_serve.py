"""kill -9 of ``bourse serve`` under mixed load loses nothing acknowledged and applies nothing
twice, on SQLite and PostgreSQL.

Clients over real HTTP send orders (some crossing, so trades settle), cancels, sub-account
transfers, withdrawals and OAuth refreshes. At a seeded random moment the server process gets
SIGKILL. Then, with the server down:

* ``bourse check`` passes (the ledger audit of the integrity work);
* every acknowledged order, cancel, transfer, withdrawal and refresh is in the database, once;
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
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bourse.store import oauth_tables as ot
from bourse.store import tables as t
from bourse.store.db import make_engine
from tests.faults.serve import Serve, World, bourse_check, prepare
from tests.support.mexc import Signer

pytestmark = pytest.mark.slow

ROUNDS = 3
#: requests per worker per round at most (the kill comes well before)
MAX_REQUESTS = 2_000
ADDRESS = "0x" + "ab" * 20


@dataclass
class Ledger:
    """What the clients were told (acknowledged) and what was in flight when the server died."""

    acks: list[tuple[Any, ...]] = field(default_factory=list)
    pending: list[tuple[Any, ...]] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)
    #: requests sent again after a restart (they were in flight at a kill)
    retried: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ack(self, *row: Any) -> None:
        with self.lock:
            self.acks.append(row)

    def in_flight(self, *row: Any) -> None:
        with self.lock:
            self.pending.append(row)


def _mexc_shaped(r: httpx.Response, led: Ledger, what: str) -> bool:
    """A 200, or a MEXC error body; anything else is recorded as bad."""
    if r.status_code == 200:
        return True
    try:
        body = r.json()
    except ValueError:
        body = None
    if not (isinstance(body, dict) and {"code", "msg"} <= set(body)):
        led.bad.append(f"{what}: {r.status_code} {r.text[:200]}")
    return False


def _trader(url: str, world: World, k: int, rnd: int, stop: threading.Event, led: Ledger) -> None:
    u = world.users[k]
    rng = random.Random(rnd * 100 + k)
    with httpx.Client(base_url=url, timeout=10) as http:
        s = Signer(http, u.api_key, u.secret)
        for i in range(MAX_REQUESTS):
            if stop.is_set():
                return
            kind = rng.random()
            try:
                if kind < 0.6:
                    cid = f"r{rnd}o{k}n{i}"
                    side = rng.choice(["BUY", "SELL"])
                    price = str(rng.choice([29_000, 29_500, 30_000, 30_500, 31_000]))
                    params = dict(symbol="BTCUSDT", side=side, type="LIMIT", quantity="0.001",
                                  price=price, newClientOrderId=cid)  # fmt: skip
                    try:
                        r = s.post("/api/v3/order", **params)
                    except httpx.TransportError:
                        led.in_flight("O", u.account, cid, params)
                        return
                    if _mexc_shaped(r, led, "order"):
                        oid = r.json()["orderId"]
                        led.ack("O", u.account, cid, oid)
                        if rng.random() < 0.4:
                            try:
                                r = s.delete("/api/v3/order", symbol="BTCUSDT", orderId=oid)
                            except httpx.TransportError:
                                return
                            if _mexc_shaped(r, led, "cancel"):
                                led.ack("C", u.account, oid)
                elif kind < 0.8:
                    cid = f"r{rnd}t{k}n{i}"
                    params = dict(fromAccountType="SPOT", toAccountType="SPOT", asset="USDT",
                                  amount="1", toAccount=u.sub_name, clientTranId=cid)  # fmt: skip
                    path = "/api/v3/capital/sub-account/universalTransfer"
                    try:
                        r = s.post(path, **params)
                    except httpx.TransportError:
                        led.in_flight("T", u.account, cid, params)
                        return
                    if _mexc_shaped(r, led, "transfer"):
                        led.ack("T", u.account, cid, int(r.json()["tranId"]))
                else:
                    cid = f"r{rnd}w{k}n{i}"
                    params = dict(coin="USDT", network="ETH", address=ADDRESS, amount="10",
                                  withdrawOrderId=cid)  # fmt: skip
                    try:
                        r = s.post("/api/v3/capital/withdraw", **params)
                    except httpx.TransportError:
                        led.in_flight("W", u.account, cid, params)
                        return
                    if _mexc_shaped(r, led, "withdraw"):
                        led.ack("W", u.account, cid, int(r.json()["id"]))
            except httpx.TransportError:
                return


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
        threading.Thread(target=_trader, args=(serve.url, world, k, rnd, stop, led))
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


def _retry_pending(serve: Serve, world: World, led: Ledger) -> None:
    """Send each request that was in flight at the kill again, with its client id: it answers
    the stored result or applies now; the check after the next round sees each once."""
    users = {u.account: u for u in world.users}
    paths = {
        "O": "/api/v3/order",
        "T": "/api/v3/capital/sub-account/universalTransfer",
        "W": "/api/v3/capital/withdraw",
    }
    led.retried += len(led.pending)
    with httpx.Client(base_url=serve.url, timeout=10) as http:
        for kind, account, cid, params in led.pending:
            u = users[account]
            r = Signer(http, u.api_key, u.secret).post(paths[kind], **params)
            if r.status_code == 200:
                body = r.json()
                ident = body.get("orderId") or body.get("tranId") or body.get("id")
                led.ack(kind, account, cid, int(ident) if kind != "O" else ident)
            else:
                assert {"code", "msg"} <= set(r.json()), r.text
    led.pending.clear()


def _check_store(world: World, led: Ledger) -> dict[str, int]:
    code, out = bourse_check(world)
    assert code == 0, f"bourse check failed after kill -9:\n{out}"
    db = make_engine(world.url)
    counts: dict[str, int] = defaultdict(int)
    try:
        with db.connect() as conn:
            o, tr, w = t.orders.c, t.transfers.c, t.withdrawals.c
            orders = {(r.account_id, r.client_id): r for r in conn.execute(select(t.orders))}
            by_id = {r.id: r for r in orders.values()}
            transfers = {
                (r.from_account, r.client_id): r for r in conn.execute(select(t.transfers))
            }
            withdrawals = {
                (r.account_id, r.client_id): r for r in conn.execute(select(t.withdrawals))
            }
            hashes = set(conn.execute(select(ot.oauth_tokens.c.access_hash)).scalars())
            # nothing applied twice: one row per client id
            for table, cols in ((t.orders, (o.account_id, o.client_id)),
                                (t.transfers, (tr.from_account, tr.client_id)),
                                (t.withdrawals, (w.account_id, w.client_id))):  # fmt: skip
                dup = conn.execute(
                    select(*cols, func.count()).where(cols[1] != "").group_by(*cols)
                    .having(func.count() > 1)
                ).all()  # fmt: skip
                assert not dup, f"{table.name} applied twice: {dup}"
            # a rotated refresh token has exactly one successor
            twins = conn.execute(
                select(ot.oauth_tokens.c.parent_id, func.count())
                .where(ot.oauth_tokens.c.parent_id.is_not(None))
                .group_by(ot.oauth_tokens.c.parent_id)
                .having(func.count() > 1)
            ).all()  # fmt: skip
            assert not twins, f"a refresh token rotated twice: {twins}"
    finally:
        db.dispose()
    for kind, *rest in led.acks:
        if kind == "O":
            acc, cid, oid = rest
            row = orders.get((acc, cid))
            assert row is not None and row.id == int(oid), f"acknowledged order {cid} lost"
        elif kind == "C":
            row = by_id.get(int(rest[1]))
            assert row is not None and row.status in ("CANCELED", "PARTIALLY_CANCELED"), rest
        elif kind == "T":
            acc, cid, tid = rest
            row = transfers.get((acc, cid))
            assert row is not None and row.id == tid, f"acknowledged transfer {cid} lost"
        elif kind == "W":
            acc, cid, wid = rest
            row = withdrawals.get((acc, cid))
            assert row is not None and row.id == wid, f"acknowledged withdrawal {cid} lost"
        elif kind == "R":
            assert rest[0] in hashes, "an acknowledged OAuth refresh is lost"
        counts[kind] += 1
    return counts


def test_kill_9_of_bourse_serve_under_mixed_load(migrated_url: str, tmp_path: Path) -> None:
    world = prepare(migrated_url, tmp_path)
    rng = random.Random(20261203 + (0 if migrated_url.startswith("sqlite") else 1))
    led = Ledger()
    t0 = time.monotonic()
    for rnd in range(ROUNDS):
        serve = Serve(world)
        try:
            _retry_pending(serve, world, led)
            _load(serve, world, rnd, rng.uniform(0.8, 2.5), led)
        finally:
            if serve.proc.poll() is None:
                serve.kill9()
        assert not led.bad, led.bad
        counts = _check_store(world, led)
    # the last round's requests in flight, answered by a server that then stops cleanly
    serve = Serve(world)
    try:
        _retry_pending(serve, world, led)
    finally:
        serve.stop()
    counts = _check_store(world, led)
    assert counts["O"] > 30 and counts["T"] > 3 and counts["W"] > 3 and counts["R"] > 3, counts
    print(
        f"after {ROUNDS} kills, {time.monotonic() - t0:.1f} s: acknowledged and found {dict(counts)}, "
        f"{led.retried} sent again after a restart"
    )
