"""The mixed load of the fault tests, and what it checks afterwards.

``trader`` threads place orders (some crossing), cancel some, move money to a sub-account and
withdraw, each with a client id, over real HTTP; a ``Ledger`` records what was acknowledged
and what was in flight when the server went away. ``retry_pending`` sends the requests in
flight again (same client ids); ``check_store`` runs ``bourse check`` and finds every
acknowledged command in the database exactly once.
"""

from __future__ import annotations

import random
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import func, select

from bourse.store import oauth_tables as ot
from bourse.store import tables as t
from bourse.store.db import make_engine
from tests.faults.serve import Serve, World, bourse_check
from tests.support.mexc import Signer

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


def mexc_shaped(r: httpx.Response, led: Ledger, what: str) -> bool:
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


def trader(url: str, world: World, k: int, rnd: int, stop: threading.Event, led: Ledger) -> None:
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
                    if mexc_shaped(r, led, "order"):
                        oid = r.json()["orderId"]
                        led.ack("O", u.account, cid, oid)
                        if rng.random() < 0.4:
                            try:
                                r = s.delete("/api/v3/order", symbol="BTCUSDT", orderId=oid)
                            except httpx.TransportError:
                                return
                            if mexc_shaped(r, led, "cancel"):
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
                    if mexc_shaped(r, led, "transfer"):
                        led.ack("T", u.account, cid, int(r.json()["tranId"]))
                else:
                    cid = f"r{rnd}w{k}n{i}"
                    params = dict(coin="USDT", network="ETH", address=ADDRESS, amount="10",
                                  withdrawOrderId=cid, remark=f"for {cid}")  # fmt: skip
                    try:
                        r = s.post("/api/v3/capital/withdraw", **params)
                    except httpx.TransportError:
                        led.in_flight("W", u.account, cid, params)
                        return
                    if mexc_shaped(r, led, "withdraw"):
                        led.ack("W", u.account, cid, int(r.json()["id"]))
            except httpx.TransportError:
                return


def retry_pending(serve: Serve, world: World, led: Ledger) -> None:
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


def check_store(world: World, led: Ledger) -> dict[str, int]:
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
            assert row.remark == f"for {cid}", f"acknowledged withdrawal {cid} lost its remark"
        elif kind == "R":
            assert rest[0] in hashes, "an acknowledged OAuth refresh is lost"
        counts[kind] += 1
    return counts
