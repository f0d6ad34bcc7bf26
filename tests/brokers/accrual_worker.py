"""Crash-test worker for live rebate accrual: trades for a broker while followers accrue.

    python accrual_worker.py DB_URL SECONDS

On an already migrated database: an approved broker, a maker and a taker (made on first use),
then the engine thread, the rebate follower (``bus.followers``) and a loop of crossing orders,
the taker's side attributed to the broker. Several extra accrual threads run at once (as a CLI
or another process would), so a SIGKILL lands in the middle of accrual transactions.
Prints ``READY`` once running and ``T`` after every acknowledged trade.
``tests/brokers/test_accrual_crash.py`` SIGKILLs it and checks the rebates.
"""

from __future__ import annotations

import sys
import threading
import time

from bourse.bus.followers import Followers
from bourse.domain.accounts import AccountKind
from bourse.domain.orders import BUY, SELL, OrderRequest, OrderType
from bourse.engine import Engine
from bourse.engine import commands as c
from bourse.sandbox.listings import ASSETS, SYMBOLS
from bourse.services.brokers import Brokers
from bourse.services.brokers import rebates as rb
from bourse.services.brokers.rebates import has_attributed_trades
from bourse.store.db import make_engine
from bourse.store.sql import SqlStore

FUNDS = {"USDT": 10**9 * 10**8, "BTC": 10**5 * 10**8}


def main(url: str, seconds: float) -> None:
    db = make_engine(url)
    engine = Engine(SqlStore(db))
    brokers = Brokers.create(db, engine)
    if not engine.exchange.symbols:
        engine.apply_batch_now([c.AddAsset(a) for a in ASSETS] + [c.AddSymbol(s) for s in SYMBOLS])
    users = sorted(a.id for a in engine.wallet.accounts.values() if a.kind is AccountKind.USER)
    if len(users) < 3:
        opened = engine.apply_batch_now([c.OpenAccount(AccountKind.USER)] * 3)
        engine.apply_batch_now(
            [c.CreditDeposit(a.id, k, n, f"f{a.id}{k}") for a in opened for k, n in FUNDS.items()]
        )
        users = [a.id for a in opened]
    owner, maker, taker = users[:3]
    broker = brokers.registry.by_account(owner)
    if broker is None:
        broker = brokers.registry.apply(owner, "API", "crash")
        brokers.registry.approve(broker.id)
    followers = Followers(idle=0.05)
    followers.add("rebates", brokers.accrue, wants=has_attributed_trades)
    followers.attach(engine).start()
    engine.start()
    until = time.monotonic() + seconds

    def accruer() -> None:  # another process accruing at the same time
        while time.monotonic() < until:
            rb._accrue(db, brokers.clock, 7, 10_000)

    for _ in range(2):
        threading.Thread(target=accruer, daemon=True).start()
    print("READY", flush=True)
    while time.monotonic() < until:
        engine.execute(
            c.PlaceOrder(OrderRequest(maker, "BTCUSDT", SELL, OrderType.LIMIT, 1_000, 3_000_000))
        )
        engine.execute(
            c.PlaceOrder(
                OrderRequest(
                    taker, "BTCUSDT", BUY, OrderType.LIMIT, 1_000, 3_000_000, broker_id=broker.id
                )
            )
        )
        print("T", flush=True)
    print("DONE", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
