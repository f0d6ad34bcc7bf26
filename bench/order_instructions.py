"""The engine's and committer's instructions per signed order, counted with callgrind.

``bench/http.py``'s order phase sends IMMEDIATE_OR_CANCEL buys below every ask, each with its
own ``newClientOrderId``: each is applied, cancels unfilled, and commits. This runs the same
orders through the engine's batch path on the calling thread, as the engine thread and its
committer thread run it in ``bourse serve`` (``engine.pipeline.Pipeline.run`` over a queue
holding ``--batches`` batches of ``--batch`` orders: apply, close and collect, commit to the
``SqlStore`` of a fresh SQLite file, acknowledge, answer each batch's awaiting loop), with the
commit made at once instead of on the committer thread. Everything else is as served: the
database migrated and seeded as ``bench/http.py`` seeds it (in a child process, which valgrind
does not follow), the engine built as ``open_platform`` builds it with its market-data
listener, each order a ``PlaceOrder`` as ``api.mexc.trading.new_order`` makes it (its replay
key included) answered through a ``LoopReply`` of a uvloop loop. Nothing here is timed, so
others' load on the machine does not move the figure. Run each side twice, with the orders and
without them (``--setup-only``: the same database, engine, commands and replies built, nothing
applied), and divide the difference by the orders (``PYTHONHASHSEED=0``: string hashes, and
so dict probes, the same in every run)::

    PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python bench/order_instructions.py --batch 11
    PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python bench/order_instructions.py --batch 11 --setup-only

(``Collected :`` in valgrind's output; per order = (run - setup) / (``--batches`` x
``--batch``)). ``--batch 11`` is what a wrk run with 16 connections batches (400 batches, the
default); ``--batch 1 --batches 2000`` one order at a time. SQLite's instructions count (in
this process), the kernel's do not (the fsync). Compile the matching core first when the
figure is for the compiled core (``bourse.native``). ``--check`` runs the loop after the count
and checks every order answered ``CANCELED``. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TRADER = "bench-trader"


def seed_into(url: str, resting: int) -> None:
    """Migrate and seed ``url`` as ``bench/http.py`` does (the child process)."""
    sys.path.insert(0, str(HERE))
    import http_module

    http_module.load().seed(url, resting)


class SyncCommitter:
    """``engine.committer.Committer`` with the commit made at once on the calling thread (the
    same steps its thread runs for a job); the pipeline then finds it done."""

    def __init__(self, commit: Any) -> None:
        from bourse.engine.committer import Commit  # once: an import per batch costs ~6,000

        self._commit = commit
        self._job = Commit

    def submit(self, changes: Any) -> Any:
        job = self._job(changes)
        try:
            job.seconds = self._commit(job.changes)
        except BaseException as exc:
            job.error = exc
        job.done = True
        job._finished.release()
        return job


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batches", type=int, default=400, help="batches applied and committed")
    ap.add_argument("--batch", type=int, default=11, help="orders per batch")
    ap.add_argument("--resting", type=int, default=0, help="resting bids seeded (bench/http.py)")
    ap.add_argument("--setup-only", action="store_true", help="build everything, apply nothing")
    ap.add_argument("--check", action="store_true", help="check every answer (after the count)")
    ap.add_argument("--seed-into", help=argparse.SUPPRESS)
    args = ap.parse_args()
    sys.path.insert(0, str(HERE.parent / "src"))
    if args.seed_into:
        seed_into(args.seed_into, args.resting)
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="bourse-orderinstr-"))
    os.environ["BOURSE_HOME"] = str(tmp)
    url = f"sqlite:///{tmp}/bench.db"
    if "BOURSE_SECRET_KEY" not in os.environ:
        from bourse.services.apikeys import generate_server_key

        os.environ["BOURSE_SECRET_KEY"] = generate_server_key()
    seeding = [sys.executable, __file__, "--seed-into", url, "--resting", str(args.resting)]
    subprocess.run(seeding, check=True)

    import uvloop

    from bourse.bootstrap import client_order_id_retention_s
    from bourse.config import Config
    from bourse.domain.fees import FeeSchedule
    from bourse.domain.money import to_units
    from bourse.domain.orders import BUY, OrderRequest, OrderType
    from bourse.engine import commands as c
    from bourse.engine.engine import Engine
    from bourse.engine.pipeline import STOP, Pipeline
    from bourse.engine.replies import LoopReply
    from bourse.engine.trace import Trace
    from bourse.services.marketdata import MarketData
    from bourse.store.db import make_engine
    from bourse.store.queries import Queries
    from bourse.store.sql import SqlStore

    config = Config(database_url=url)
    db = make_engine(url, lock_timeout_ms=config.lock_timeout_ms)
    store = SqlStore(db)
    engine = Engine(  # as ``open_platform`` builds it
        store,
        fees=FeeSchedule(maker=config.maker_fee_ppm, taker=config.taker_fee_ppm),
        stp_default=config.stp_default,
        order_id_retention_ms=client_order_id_retention_s(config) * 1000,
        max_batch=args.batch,  # the pipeline then takes ``--batch`` commands at a time
    )
    MarketData.from_store(Queries(db), engine)
    trader = next(a.id for a in engine.wallet.accounts.values() if a.name == TRADER)
    sym = engine.exchange.symbols["BTCUSDT"]
    qty, price = to_units("0.01", sym.qty_scale), to_units("29000", sym.price_scale)
    api_key = "mx0" + "k" * 29

    loop = uvloop.new_event_loop()
    n = args.batches * args.batch
    items: list[Any] = []
    for i in range(n):
        signature = hashlib.sha256(str(i).encode()).hexdigest()
        req = OrderRequest(
            account=trader,
            symbol=sym.name,
            side=BUY,
            type=OrderType.IMMEDIATE_OR_CANCEL,
            qty=qty,
            price=price,
            quote_qty=0,
            client_id=f"i{i}",
            stp=None,
            source="",
            broker_id=None,
        )
        replay = hashlib.sha256(f"{api_key}:{signature}#".encode()).hexdigest()
        trace = Trace(f"{i:016x}", f"api_key:{api_key}")
        items.append((c.PlaceOrder(req, replay=replay), LoopReply(loop), trace))
    gc.collect()
    gc.freeze()  # as ``Engine.start`` does
    if not args.setup_only:
        q = engine._queue
        for item in items:
            q.put(item)
        q.put(STOP)
        Pipeline(engine, SyncCommitter(engine._commit)).run()  # type: ignore[arg-type]
    if args.check and not args.setup_only:
        loop.run_until_complete(asyncio.sleep(0))
        statuses: dict[str, int] = {}
        for _, reply, _ in items:
            status = str(reply.future.result().status)
            statuses[status] = statuses.get(status, 0) + 1
        print(f"{n} orders in {engine.batches} batches: {statuses}", file=sys.stderr)
        assert statuses == {"CANCELED": n}, statuses
    loop.close()
    store.close()
    db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
