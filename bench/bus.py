"""The bus: delivery lag of committed batches, in-process against NATS JetStream.

One engine on a temporary SQLite database (or ``--db``) commits ``--batches`` batches (a resting
order and a crossing one each, so every event carries orders, a trade, postings and book
levels) at ``--rate`` batches per second from a thread of this process. Every batch goes to:

* **in-process**: an ``InProcessBus`` subscriber on this process's asyncio loop (what the
  stream hub of a single-process server gets);
* **nats**: a ``NatsBus`` subscriber (its own connection and ordered JetStream consumer, in the
  same loop): encode, publish with async acks, the server, the consumer, decode;
* **mirror**: a ``Mirror`` (what a follower process runs) with its own engine copy on a second
  connection to the database, folding each event in and handing it on to an ``InProcessBus``
  attached to it (what a follower's hub gets).

Lag: ``time.perf_counter()`` when the subscriber got the event minus when the engine's listener
published it (right after the commit), same process, same clock. Prints p50/p99/max per path and
the engine's batches per second.

    .venv/bin/python bench/bus.py                      # 5,000 batches at 1,000/s
    .venv/bin/python bench/bus.py --batches 500 --rate 200

Needs a NATS server with JetStream (``--nats``, default nats://127.0.0.1:4222; ``scripts/test``
starts one). Uses a stream of its own, deleted afterwards. Bounded in time (``--timeout``).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from bourse.bus import InProcessBus, feed
from bourse.bus.mirror import Mirror
from bourse.bus.nats import NatsBus
from bourse.domain.accounts import AccountKind
from bourse.domain.orders import BUY, SELL, OrderRequest, OrderType
from bourse.engine import Engine
from bourse.engine import commands as c
from bourse.sandbox.listings import ASSETS, SYMBOLS
from bourse.store.db import make_engine, migrate
from bourse.store.sql import SqlStore

P, Q = 5_000_000, 100_000


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def order(account: int, side: int, price: int, qty: int) -> c.PlaceOrder:
    return c.PlaceOrder(OrderRequest(account, "BTCUSDT", side, OrderType.LIMIT, qty, price))


async def run(args: argparse.Namespace, url: str) -> None:
    db_w, db_f = make_engine(url), make_engine(url)
    writer = Engine(SqlStore(db_w))
    writer.apply_batch_now([c.AddAsset(x) for x in ASSETS] + [c.AddSymbol(s) for s in SYMBOLS])
    a, b = (x.id for x in writer.apply_batch_now([c.OpenAccount(AccountKind.USER)] * 2))
    writer.apply_batch_now(
        [c.CreditDeposit(a, "USDT", 10**18, "a"), c.CreditDeposit(b, "BTC", 10**18, "b")]
    )
    nats = NatsBus(args.nats, f"bench{uuid.uuid4().hex[:12]}").start()
    local = InProcessBus()
    sent: dict[int, float] = {}
    mirror: Mirror | None = None
    try:
        in_sub = local.subscribe(maxsize=10**7)
        nats_sub = nats.subscribe(maxsize=10**7)
        await nats_sub.started()
        # the clock starts before either feed captures and publishes the batch
        writer.subscribe(lambda _: sent.__setitem__(writer.batches, time.perf_counter()))
        feed(writer, local)
        feed(writer, nats)
        mirror = Mirror(Engine(SqlStore(db_f)), nats).start(timeout=15)
        mirrored = InProcessBus()
        mirror_sub = mirrored.subscribe(maxsize=10**7)
        mirror.attach(mirrored)
        first = writer.batches + 1
        last = writer.batches + args.batches
        lags: dict[str, list[float]] = {"in-process": [], "nats": [], "mirror": []}

        async def collect(name: str, sub: Any) -> None:
            async for event in sub:
                now = time.perf_counter()
                if event.version >= first and event.version in sent:
                    lags[name].append((now - sent[event.version]) * 1000)
                if event.version >= last:
                    return

        def load() -> float:
            t0 = time.perf_counter()
            for i in range(args.batches):
                due = t0 + i / args.rate
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                writer.apply_batch_now(
                    [order(a, BUY, P - i % 10, Q), order(b, SELL, P - i % 10, Q)]
                )
            return time.perf_counter() - t0

        loop = asyncio.get_running_loop()
        tasks = [
            asyncio.ensure_future(collect("in-process", in_sub)),
            asyncio.ensure_future(collect("nats", nats_sub)),
            asyncio.ensure_future(collect("mirror", mirror_sub)),
        ]
        took = await loop.run_in_executor(None, load)
        done, pending = await asyncio.wait(tasks, timeout=args.timeout)
        for t in pending:
            t.cancel()
        print(
            f"{args.batches} batches in {took:.2f} s ({args.batches / took:,.0f}/s asked "
            f"{args.rate:,.0f}/s); db {url.split(':', 1)[0]}; NATS {args.nats}; "
            f"lost {nats.lost}; mirror reloads {mirror.loads - 1}"
        )
        print(f"{'path':<12}{'events':>8}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
        for name, values in lags.items():
            print(
                f"{name:<12}{len(values):>8}{pct(values, 0.5):>10.2f}{pct(values, 0.99):>10.2f}"
                f"{max(values, default=float('nan')):>10.2f}"
            )
        nats_sub.close()
        in_sub.close()
    finally:
        if mirror is not None:
            mirror.close()
        nats.close()
        nats.delete_stream()
        db_w.dispose()
        db_f.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--batches", type=int, default=5000)
    ap.add_argument("--rate", type=float, default=1000.0, help="batches per second")
    ap.add_argument("--nats", default="nats://127.0.0.1:4222")
    ap.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for delivery")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'bench.db'}"
        migrate(url)
        asyncio.run(run(args, url))
    threading.Event().wait(0)


if __name__ == "__main__":
    main()
