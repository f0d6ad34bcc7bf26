"""Crash-test worker: runs a live engine on a database and reports every acknowledged command.

    python crash_worker.py DB_URL ROUND SEED [THREADS] [MAX_PER_THREAD] [SECONDS]

Opens ``Engine(SqlStore(...))`` on an already migrated database (listing assets, symbols and
funding accounts on first use), starts the engine thread and several submitter threads that
place limit/IOC/market orders, cancel their own orders and transfer funds. After each command
is acknowledged (its future resolved, i.e. its batch is committed) the thread prints one line
and flushes stdout:

    O <order_id> <account> <client_id>      an order was accepted
    C <order_id> <account>                  an order was cancelled
    T <transfer_id> <from_account> <client_id>

``READY`` is printed once the engine runs, ``DONE`` when every thread finished (bounded by
MAX_PER_THREAD commands and SECONDS of wall time). ``tests/engine/test_crash.py`` SIGKILLs it
somewhere in between and checks the database.
"""

from __future__ import annotations

import random
import sys
import threading
import time

from bourse.domain.accounts import AccountKind
from bourse.domain.errors import DomainError
from bourse.domain.orders import BUY, SELL, OrderRequest, OrderType
from bourse.engine import Engine
from bourse.engine import commands as c
from bourse.sandbox.listings import ASSETS, SYMBOLS
from bourse.store.db import make_engine
from bourse.store.sql import SqlStore

N_ACCOUNTS = 8
#: symbol -> (mid price units, tick, qty range)
MARKETS = {
    "BTCUSDT": (3_000_000, 100, (1_000, 20_000)),
    "ETHUSDT": (200_000, 10, (1_000, 50_000)),
}
FUNDING = {"USDT": 10**9 * 10**8, "BTC": 10**5 * 10**8, "ETH": 10**6 * 10**8}

_out_lock = threading.Lock()


def emit(line: str) -> None:
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def setup(engine: Engine) -> list[int]:
    users = sorted(a.id for a in engine.wallet.accounts.values() if a.kind is AccountKind.USER)
    if not engine.exchange.symbols:
        engine.apply_batch_now([c.AddAsset(a) for a in ASSETS] + [c.AddSymbol(s) for s in SYMBOLS])
    if len(users) < N_ACCOUNTS:
        opened = engine.apply_batch_now(
            [c.OpenAccount(AccountKind.USER)] * (N_ACCOUNTS - len(users))
        )
        engine.apply_batch_now(
            [
                c.CreditDeposit(a.id, asset, amount, f"fund-{a.id}-{asset}")
                for a in opened
                for asset, amount in FUNDING.items()
            ]
        )
        users += [a.id for a in opened]
    return users


def submitter(
    engine: Engine, accounts: list[int], rnd: int, idx: int, seed: int, limit: int, until: float
) -> None:
    rng = random.Random(seed * 1000 + idx)
    mine: list[tuple[int, int, str]] = []  # (order id, account, symbol) this thread placed
    for i in range(limit):
        if time.monotonic() > until:
            return
        r = rng.random()
        try:
            if r < 0.12 and mine:
                oid, acc, sym = mine.pop(rng.randrange(len(mine)))
                o = engine.submit(c.CancelOrder(acc, sym, order_id=oid)).result(30)
                emit(f"C {o.id} {acc}")
            elif r < 0.27:
                src, dst = rng.sample(accounts, 2)
                cid = f"r{rnd}t{idx}n{i}"
                amount = rng.randint(1, 10**6)
                tid = engine.submit(c.Transfer(src, dst, "USDT", amount, cid)).result(30)
                emit(f"T {tid} {src} {cid}")
            else:
                sym = rng.choice(list(MARKETS))
                mid, tick, (qlo, qhi) = MARKETS[sym]
                side = rng.choice((BUY, SELL))
                offset = tick * rng.randint(-5, 30)
                price = mid - offset if side == BUY else mid + offset
                otype = OrderType.LIMIT if rng.random() < 0.85 else OrderType.IMMEDIATE_OR_CANCEL
                acc = rng.choice(accounts)
                cid = f"r{rnd}t{idx}n{i}"
                req = OrderRequest(
                    acc, sym, side, otype, qty=rng.randint(qlo, qhi), price=price, client_id=cid
                )
                o = engine.submit(c.PlaceOrder(req)).result(30)
                emit(f"O {o.id} {acc} {cid}")
                if o.is_open:
                    mine.append((o.id, acc, sym))
        except DomainError:
            continue


def main(argv: list[str]) -> int:
    url, rnd, seed = argv[0], int(argv[1]), int(argv[2])
    threads_n = int(argv[3]) if len(argv) > 3 else 6
    limit = int(argv[4]) if len(argv) > 4 else 5_000
    seconds = float(argv[5]) if len(argv) > 5 else 20.0
    db = make_engine(url)
    engine = Engine(SqlStore(db))
    accounts = setup(engine)
    engine.start()
    until = time.monotonic() + seconds
    threads = [
        threading.Thread(
            target=submitter, args=(engine, accounts, rnd, i, seed, limit, until), daemon=True
        )
        for i in range(threads_n)
    ]
    emit("READY")
    for th in threads:
        th.start()
    for th in threads:
        th.join(seconds + 30)
    engine.stop()
    emit("DONE")
    db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
