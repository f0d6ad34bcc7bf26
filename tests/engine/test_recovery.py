"""Recovery: an engine rebuilt from the database is the engine that wrote it.

A seeded random stream of commands (accounts, deposits, every order type, cancels, transfers,
withdrawals through reserve/approve/process/settle/void, fee overrides, freezes, idempotent
retries) runs through ``Engine(SqlStore)`` in batches of varying size. Then a second engine is
built from the same database and must hold the same books (per symbol, side and level: order
ids in FIFO order with their remaining quantity), balances, open orders, withdrawals,
idempotency keys, sequences, last prices and reference prices; its ledger balances to zero;
and the stored balances equal the sums of the stored postings per (account, bucket, asset). The same stream through a
``MemoryStore`` must give the same snapshot, so the SQL store behaves like the reference one.
"""

from __future__ import annotations

import contextlib
import itertools
import random
from collections import defaultdict
from typing import Any

import pytest
from sqlalchemy import select

from bourse.domain.accounts import AccountKind
from bourse.domain.errors import DomainError
from bourse.domain.orders import BUY, ORDER_FIELDS, SELL, Order, OrderRequest, OrderType, StpMode
from bourse.domain.wallet import WithdrawalStatus
from bourse.engine import Engine
from bourse.engine import commands as c
from bourse.sandbox.listings import ASSETS, SYMBOLS
from bourse.store import tables as t
from bourse.store.db import make_engine
from bourse.store.memory import MemoryStore
from bourse.store.sql import SqlStore

#: (mid price in price units, price tick, qty range in qty units) per symbol
MARKETS = {
    "BTCUSDT": (3_000_000, 100, (1_000, 40_000)),
    "ETHUSDT": (200_000, 10, (1_000, 100_000)),
    "MXUSDT": (30_000, 5, (100, 20_000)),
}
DEPOSITS = {"USDT": 10_000_000 * 10**8, "BTC": 50 * 10**8, "ETH": 500 * 10**8, "MX": 10**6 * 10**8}


def make_clock() -> Any:
    """A deterministic millisecond clock, so two runs of one stream stamp the same times."""
    return itertools.count(1_700_000_000_000).__next__


def setup_exchange(engine: Engine, n_users: int = 6) -> list[int]:
    """List the default assets/symbols, open accounts (users, a broker with subs), fund them."""
    engine.apply_batch_now([c.AddAsset(a) for a in ASSETS] + [c.AddSymbol(s) for s in SYMBOLS])
    users = [a.id for a in engine.apply_batch_now([c.OpenAccount(AccountKind.USER)] * n_users)]
    (master,) = engine.apply_batch_now([c.OpenAccount(AccountKind.BROKER_MASTER, name="b")])
    subs = engine.apply_batch_now(
        [c.OpenAccount(AccountKind.BROKER_SUB, parent=master.id, name=f"s{i}") for i in range(2)]
    )
    accounts = users + [master.id] + [s.id for s in subs]
    engine.apply_batch_now(
        [
            c.CreditDeposit(acc, asset, amount, f"seed-{acc}-{asset}")
            for acc in accounts
            for asset, amount in DEPOSITS.items()
        ]
    )
    return accounts


def _order_command(rng: random.Random, accounts: list[int], n: int) -> c.Command:
    symbol = rng.choice(list(MARKETS))
    mid, tick, (qlo, qhi) = MARKETS[symbol]
    side = rng.choice((BUY, SELL))
    otype = rng.choices(
        [
            OrderType.LIMIT,
            OrderType.MARKET,
            OrderType.IMMEDIATE_OR_CANCEL,
            OrderType.FILL_OR_KILL,
            OrderType.LIMIT_MAKER,
        ],
        weights=[10, 2, 2, 2, 2],
    )[0]
    qty = rng.randint(qlo, qhi)
    # mostly passive prices (a deep book), sometimes aggressive ones (trades)
    offset = tick * rng.randint(-8, 40)
    price = mid - offset if side == BUY else mid + offset
    quote_qty = 0
    if otype is OrderType.MARKET:
        price = 0
        if side == BUY and rng.random() < 0.5:
            quote_qty, qty = rng.randint(50, 5_000) * 10**8, 0
    stp = rng.choice([None, None, None, StpMode.NONE, StpMode.CANCEL_MAKER, StpMode.CANCEL_BOTH])
    client_id = f"o{n}" if rng.random() < 0.5 else ""
    return c.PlaceOrder(
        OrderRequest(
            rng.choice(accounts),
            symbol,
            side,
            otype,
            qty=qty,
            price=price,
            quote_qty=quote_qty,
            client_id=client_id,
            stp=stp,
            source=rng.choice(["", "api"]),
            broker_id=rng.choice([None, None, 7]),
        )
    )


def random_commands(
    engine: Engine, rng: random.Random, accounts: list[int], n: int, sent: list[c.Command]
) -> list[c.Command]:
    """One batch of 1-8 commands chosen from the engine's current (committed) state.

    ``sent`` collects retryable commands already sent; some are sent again (client retries).
    """
    out: list[c.Command] = []
    for _ in range(rng.randint(1, 8)):
        n += 1
        r = rng.random()
        open_orders = list(engine.exchange.open_orders.values())
        open_w = list(engine.wallet.withdrawals.values())
        if r < 0.50:
            cmd: c.Command = _order_command(rng, accounts, n)
        elif r < 0.62 and open_orders:
            o = rng.choice(open_orders)
            if rng.random() < 0.7 or not o.client_id:
                cmd = c.CancelOrder(o.account, o.symbol, order_id=o.id)
            else:
                cmd = c.CancelOrder(o.account, o.symbol, client_id=o.client_id)
        elif r < 0.64:
            cmd = c.CancelAll(rng.choice(accounts), rng.choice(list(MARKETS)))
        elif r < 0.74:
            src, dst = rng.sample(accounts, 2)
            asset = rng.choice(list(DEPOSITS))
            cmd = c.Transfer(src, dst, asset, rng.randint(1, DEPOSITS[asset] // 1000), f"t{n}")
        elif r < 0.77:
            asset = rng.choice(list(DEPOSITS))
            cmd = c.CreditDeposit(
                rng.choice(accounts), asset, rng.randint(1, DEPOSITS[asset] // 100), f"d{n}"
            )
        elif r < 0.82:
            asset = rng.choice(list(DEPOSITS))
            cmd = c.ReserveWithdrawal(
                rng.choice(accounts),
                asset,
                rng.randint(1, DEPOSITS[asset] // 1000),
                rng.randint(0, 1000),
                f"addr{n}",
                "TRC20",
                memo=rng.choice(["", "memo"]),
                client_id=f"w{n}" if rng.random() < 0.5 else "",
                review=rng.random() < 0.3,
            )
        elif r < 0.92 and open_w:
            w = rng.choice(open_w)
            if w.status is WithdrawalStatus.REVIEW and rng.random() < 0.5:
                cmd = c.ApproveWithdrawal(w.id)
            elif w.status is WithdrawalStatus.PENDING and rng.random() < 0.4:
                cmd = c.MarkWithdrawalProcessing(w.id, f"tx{n}")
            elif rng.random() < 0.6:
                cmd = c.SettleWithdrawal(w.id, rng.choice(["", f"txs{n}"]))
            else:
                cmd = c.VoidWithdrawal(w.id, failed=rng.random() < 0.5)
        elif r < 0.94:
            if rng.random() < 0.3:
                cmd = c.SetFees(rng.choice(accounts), None, None)
            else:
                cmd = c.SetFees(rng.choice(accounts), rng.randint(0, 2000), rng.randint(0, 2000))
        elif r < 0.95:
            acc = engine.wallet.accounts[rng.choice(accounts)]
            cmd = c.SetAccountFrozen(acc.id, not acc.frozen)
        elif r < 0.97:
            cmd = c.OpenAccount(AccountKind.USER, name=f"late{n}")
        elif sent:
            cmd = rng.choice(sent)  # a client retry: the same command again
        else:
            continue
        out.append(cmd)
    sent.extend(x for x in out if isinstance(x, c.PlaceOrder | c.Transfer | c.ReserveWithdrawal))
    return out


def run_stream(engine: Engine, seed: int, steps: int) -> dict[str, int]:
    """Run ``steps`` random batches; returns how many batches raised a domain error."""
    rng = random.Random(seed)
    accounts = setup_exchange(engine)
    stats = {"batches": 0, "refused": 0}
    n = 0
    sent: list[c.Command] = []
    for _ in range(steps):
        cmds = random_commands(engine, rng, accounts, n, sent)
        n += len(cmds) + 8
        if rng.random() < 0.1:  # unfreeze everyone now and then so trading goes on
            cmds += [
                c.SetAccountFrozen(a, False) for a in accounts if engine.wallet.accounts[a].frozen
            ]
        stats["batches"] += 1
        try:
            engine.apply_batch_now(cmds)
        except DomainError:
            stats["refused"] += 1
    return stats


# --- what "the same state" means -----------------------------------------------------------------
def order_fields(o: Order) -> tuple[Any, ...]:
    return tuple(getattr(o, s) for s in ORDER_FIELDS)


def book_state(engine: Engine) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, book in engine.exchange.books.items():
        sides = []
        for side in (book.bids, book.asks):
            levels = []
            for key in reversed(side.keys):
                price = side.sign * key
                queue = [(o.id, o.remaining) for o in side.levels[price]]
                assert sum(q for _, q in queue) == side.level_qty[price]
                levels.append((price, queue))
            sides.append(levels)
        out[name] = sides
    return out


def engine_state(engine: Engine) -> dict[str, Any]:
    ex, w = engine.exchange, engine.wallet
    return {
        "books": book_state(engine),
        "open_orders": {i: order_fields(o) for i, o in ex.open_orders.items()},
        "open_count": {a: n for a, n in ex.open_count.items() if n},
        "balances": {k: tuple(v) for k, v in ex.ledger.balances.items() if v != [0, 0]},
        "accounts": dict(w.accounts),
        "assets": dict(w.assets),
        "symbols": dict(ex.symbols),
        "fees": dict(ex.fees.overrides),
        "withdrawals": dict(w.withdrawals),
        "idempotency": dict(engine.idempotency),
        "last_prices": dict(ex.last_prices),
        "references": dict(ex.references),
        "sequences": (
            ex.next_order_id,
            ex.next_trade_id,
            w.next_withdrawal_id,
            w.next_transfer_id,
            engine.next_account_id,
            engine.next_deposit_id,
        ),
    }


def snapshot_state(snap: Any) -> dict[str, Any]:
    return {
        "assets": sorted(snap.assets, key=lambda a: a.code),
        "symbols": sorted(snap.symbols, key=lambda s: s.name),
        "accounts": sorted(snap.accounts, key=lambda a: a.id),
        "balances": snap.balances,
        "open_orders": [order_fields(o) for o in snap.open_orders],
        "fees": snap.fee_overrides,
        "withdrawals": sorted(snap.open_withdrawals, key=lambda w: w.id),
        "idempotency": snap.idempotency,
        "sequences": snap.sequences,
        "last_prices": snap.last_prices,
        "references": snap.references,
    }


def postings_sums(conn: Any) -> dict[tuple[int, str], list[int]]:
    """Balances per (account, asset) as [available, locked], from the stored postings alone."""
    sums: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
    p = t.postings.c
    for fa, fb, ta, tb, asset, amount in conn.execute(
        select(p.from_account, p.from_bucket, p.to_account, p.to_bucket, p.asset, p.amount)
    ):
        sums[(fa, asset)][fb] -= amount
        sums[(ta, asset)][tb] += amount
    return sums


def assert_store_consistent(conn: Any) -> None:
    """Stored balances equal the postings sums; every asset sums to zero."""
    sums = postings_sums(conn)
    b = t.balances.c
    stored = {
        (r[0], r[1]): [r[2], r[3]]
        for r in conn.execute(select(b.account_id, b.asset, b.available, b.locked))
    }
    nonzero = {k: v for k, v in stored.items() if v != [0, 0]}
    assert nonzero == {k: v for k, v in sums.items() if v != [0, 0]}
    totals: dict[str, int] = defaultdict(int)
    for (_, asset), (avail, locked) in stored.items():
        totals[asset] += avail + locked
    assert all(v == 0 for v in totals.values()), totals


# --- the tests -----------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [1, 2])
def test_engine_rebuilt_from_db_is_identical(migrated_url: str, seed: int) -> None:
    db = make_engine(migrated_url)
    try:
        first = Engine(SqlStore(db), clock=make_clock())
        stats = run_stream(first, seed, steps=250)
        assert stats["refused"] < stats["batches"]
        first.exchange.ledger.check()
        before = engine_state(first)
        assert sum(len(s[0]) + len(s[1]) for s in before["books"].values()) > 5
        assert first.exchange.next_trade_id > 20, "the stream should trade"

        first.store.close()  # one writer at a time: the second engine takes over
        second = Engine(SqlStore(db), clock=make_clock())
        second.exchange.ledger.check()
        assert engine_state(second) == before

        with db.connect() as conn:
            assert_store_consistent(conn)
            # the in-memory ledger equals the stored postings, bucket by bucket
            sums = {k: v for k, v in postings_sums(conn).items() if v != [0, 0]}
            assert sums == {k: list(v) for k, v in before["balances"].items()}

        # the rebuilt engine keeps working and its work survives another restart
        accounts = sorted(a for a in second.wallet.accounts if a >= 100)
        run_more = random.Random(seed + 100)
        sent: list[c.Command] = []
        for i in range(30):
            cmds = random_commands(second, run_more, accounts, 10_000 + i * 10, sent)
            with contextlib.suppress(DomainError):
                second.apply_batch_now(cmds)
        third = Engine(SqlStore(db), clock=make_clock())
        assert engine_state(third) == engine_state(second)
        third.exchange.ledger.check()
        second.store.close()
    finally:
        db.dispose()


def test_sql_store_matches_memory_store(migrated_url: str) -> None:
    """The same stream through MemoryStore and SqlStore loads back the same snapshot."""
    db = make_engine(migrated_url)
    try:
        mem = MemoryStore()
        sql = SqlStore(db)
        e_mem = Engine(mem, clock=make_clock())
        e_sql = Engine(sql, clock=make_clock())
        run_stream(e_mem, 7, steps=200)
        run_stream(e_sql, 7, steps=200)
        assert engine_state(e_mem) == engine_state(e_sql)
        assert snapshot_state(sql.load()) == snapshot_state(mem.load())
        # finished orders and withdrawals read back the same, one by one
        for oid in range(1, e_sql.exchange.next_order_id):
            a, b = mem.get_order(oid), sql.get_order(oid)
            assert (a is None) == (b is None)
            if a is not None:
                assert order_fields(a) == order_fields(b)
        for wid in range(1, e_sql.wallet.next_withdrawal_id):
            assert mem.get_withdrawal(wid) == sql.get_withdrawal(wid)
    finally:
        sql.close()
        db.dispose()
