"""SQLite pages a committed order writes: WAL frames per order and per commit, by B-tree.

A count, not a timing: the same tree gives the same figures on any machine, however loaded. On
a fresh SQLite file seeded as ``bench/http.py`` seeds it, this places ``--orders`` signed-order
look-alikes (``bench/http.py``'s pool: an IMMEDIATE_OR_CANCEL buy below every ask with its own
``newClientOrderId``, which cancels) through the real engine and ``SqlStore.commit``, ``B`` to a
batch (``Engine.apply_batch_now``: the batch sizes are exact, where a served engine's depend
on timing), for each ``B`` of ``--batches``. Under ``wrk -c16`` a batch holds ~11 orders.

Automatic checkpoints are off for the run, so the WAL holds every frame written: each commit
appends one frame per page it changed, and the figure is the WAL's frames over the orders and
the commits. Each frame is then named after the B-tree its page belongs to (``dbstat``), and
``checkpoint`` estimates what a served database copies back: the distinct pages of each run of
1000 frames (SQLite's default ``wal_autocheckpoint``), per commit. Every B-tree a commit touches
costs at least one frame, and later a checkpoint copy.

    .venv/bin/python bench/store_pages.py
    .venv/bin/python bench/store_pages.py --batches 11 --orders 2200

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
from collections import Counter
from pathlib import Path

import http_module

bh = http_module.load()

#: frames SQLite's default ``wal_autocheckpoint`` lets the WAL grow to before a checkpoint
AUTOCHECKPOINT = 1000
WAL_HEADER, FRAME_HEADER = 32, 24


def wal_pages(path: Path, page_size: int) -> list[int]:
    """The page number of each frame of the WAL file ``path``, in order."""
    data = path.read_bytes()
    step = FRAME_HEADER + page_size
    return [int.from_bytes(data[i : i + 4], "big") for i in range(WAL_HEADER, len(data), step)]


def measure(batch: int, orders: int, warm: int) -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix="bourse-pages-"))
    os.environ["BOURSE_HOME"] = str(tmp)
    os.environ.setdefault("BOURSE_SECRET_KEY", bh.generate_server_key())
    db_path = tmp / "bench.db"
    url = f"sqlite:///{db_path}"
    bh.seed(url, 0)
    from sqlalchemy import event

    from bourse.domain.money import to_units
    from bourse.domain.orders import BUY, OrderRequest, OrderType
    from bourse.engine import commands as c
    from bourse.engine.engine import Engine
    from bourse.store.db import make_engine
    from bourse.store.sql import SqlStore

    db = make_engine(url)

    def no_autocheckpoint(dbapi: sqlite3.Connection, _record: object) -> None:
        dbapi.execute("PRAGMA wal_autocheckpoint = 0")

    event.listen(db, "connect", no_autocheckpoint)
    store = SqlStore(db)
    engine = Engine(store)  # not started: ``apply_batch_now`` applies and commits in place
    trader = next(a.id for a in engine.wallet.accounts.values() if a.name == "bench-trader")
    sym = engine.exchange.symbols[bh.SYMBOL]
    qty, price = to_units("0.01", sym.qty_scale), to_units("29000", sym.price_scale)

    def place(i: int) -> c.PlaceOrder:
        return c.PlaceOrder(
            OrderRequest(
                account=trader,
                symbol=sym.name,
                side=BUY,
                type=OrderType.IMMEDIATE_OR_CANCEL,
                qty=qty,
                price=price,
                client_id=f"i{i}",
            )
        )

    def run(first: int, n: int) -> None:
        for at in range(first, first + n, batch):
            results = engine.apply_batch_now([place(i) for i in range(at, at + batch)])
            assert all(str(o.status) == "CANCELED" for o in results), results

    run(0, warm)  # the B-trees' right edges as a served database has them, not fresh ones
    raw = db.raw_connection()
    try:
        page_size = raw.execute("PRAGMA page_size").fetchone()[0]
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        commits = store.commits
        run(warm, orders)
        commits = store.commits - commits
        pages = wal_pages(Path(f"{db_path}-wal"), page_size)
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()  # dbstat sees every page
        owner = dict(raw.execute("SELECT pageno, name FROM dbstat").fetchall())
    finally:
        raw.close()
        store.close()
        db.dispose()
    copies = sum(
        len(set(pages[i : i + AUTOCHECKPOINT])) for i in range(0, len(pages), AUTOCHECKPOINT)
    )
    by_tree = Counter(owner.get(p, "(free/other)") for p in pages)
    return {
        "frames": len(pages),
        "commits": commits,
        "copies": copies,
        "by_tree": by_tree,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--orders", type=int, default=3168, help="orders measured (after warm-up)")
    ap.add_argument("--warm", type=int, default=1056, help="orders placed before measuring")
    ap.add_argument("--batches", default="1,11,32", help="batch sizes, comma-separated")
    args = ap.parse_args()
    print(f"{args.orders} orders measured after {args.warm} (bench/http.py's seeding)")
    for b in (int(x) for x in args.batches.split(",")):
        n, warm = args.orders // b * b, args.warm // b * b
        r = measure(b, n, warm)
        frames, commits = int(r["frames"]), int(r["commits"])  # type: ignore[call-overload]
        print(
            f"B={b:<3} {frames / n:6.2f} frames/order  {frames / commits:6.2f} frames/commit  "
            f"checkpoint ~{int(r['copies']) / commits:5.2f} copies/commit  "  # type: ignore[call-overload]
            f"({commits} commits)"
        )
        by_tree = r["by_tree"]
        assert isinstance(by_tree, Counter)
        print(
            "       per commit: "
            + ", ".join(f"{k} {v / commits:.2f}" for k, v in by_tree.most_common())
        )


if __name__ == "__main__":
    main()
