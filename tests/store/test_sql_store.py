"""``SqlStore``: round trips, upsert/delete semantics, atomic batches, restart behaviour."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from bourse.domain.accounts import AccountKind
from bourse.domain.errors import IdempotencyConflict
from bourse.domain.money import Asset, to_units
from bourse.domain.orders import (
    BUY,
    SELL,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    StpMode,
    Trade,
)
from bourse.domain.reference_price import SCALE, Reference
from bourse.domain.symbols import Symbol
from bourse.domain.wallet import Account, Withdrawal, WithdrawalStatus
from bourse.engine import Engine, EngineUnavailable
from bourse.engine import commands as c
from bourse.engine.changes import BatchChanges, DepositRecord, IdempotencyRecord
from bourse.sandbox.listings import ASSETS, SYMBOLS
from bourse.store import tables as t
from bourse.store.sql import SqlStore


def _count(engine, table) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def _order(oid: int, **kw) -> Order:  # type: ignore[no-untyped-def]
    o = Order(oid, 100, "BTCUSDT", BUY, OrderType.LIMIT, 3_000_000, 1_000, 0, "c1",
              StpMode.CANCEL_TAKER, "api", 7, 1_000)  # fmt: skip
    for k, v in kw.items():
        setattr(o, k, v)
    return o


def test_empty_database_loads_empty(db_engine) -> None:  # type: ignore[no-untyped-def]
    snap = SqlStore(db_engine).load()
    assert snap.assets == [] and snap.symbols == [] and snap.accounts == []
    assert snap.balances == {} and snap.open_orders == [] and snap.sequences == {}
    assert SqlStore(db_engine).get_order(1) is None
    assert SqlStore(db_engine).get_withdrawal(1) is None


def test_round_trip_of_every_kind_of_row(db_engine) -> None:  # type: ignore[no-untyped-def]
    store = SqlStore(db_engine)
    usdt, btc = Asset("USDT", 8, "Tether"), Asset("BTC", 8, "Bitcoin")
    sym = Symbol("BTCUSDT", btc, usdt, 2, 6, 1, 10**9, 10**8, 10**15, True, ("LIMIT", "MARKET"))
    w = Withdrawal(1, 100, "USDT", 500, 5, "addr", "TRC20", "", "w1",
                   WithdrawalStatus.REVIEW, "", 1_000, 1_000)  # fmt: skip
    big = 2**63 - 1
    store.commit(
        BatchChanges(
            assets=[usdt, btc],
            symbols=[sym],
            accounts=[Account(100, AccountKind.USER), Account(101, AccountKind.BROKER_SUB, 100)],
            postings=[(3, 0, 100, 0, "USDT", 1_000, "deposit", 1)],
            balances={(100, "USDT"): (495, 505), (3, "USDT"): (-1_000, 0), (101, "BTC"): (big, 0)},
            orders=[
                _order(1, locked=30, status=OrderStatus.PARTIALLY_FILLED, remaining=10),
                _order(
                    2,
                    status=OrderStatus.FILLED,
                    remaining=0,
                    filled_qty=1_000,
                    broker_id=None,
                    cancel_reason="x",
                ),
            ],  # fmt: skip
            withdrawals=[w],
            fees=[(100, 10, 20)],
            deposits=[DepositRecord(1, "tx1", 100, "USDT", 1_000, 1_000)],
            idempotency=[IdempotencyRecord("withdraw", 100, "w1", "f" * 32, 1, 1_000)],
            sequences={"order": 3, "deposit": 2, "withdrawal": 2},
        )
    )
    snap = SqlStore(db_engine).load()
    assert snap.assets == [Asset("BTC", 8, "Bitcoin"), Asset("USDT", 8, "Tether")]
    assert snap.symbols == [sym] and snap.symbols[0].base is snap.assets[0]
    assert snap.accounts == [
        Account(100, AccountKind.USER),
        Account(101, AccountKind.BROKER_SUB, 100),
    ]
    assert snap.accounts[0].kind is AccountKind.USER
    assert snap.balances[(101, "BTC")] == (big, 0) and snap.balances[(3, "USDT")] == (-1_000, 0)
    assert [o.id for o in snap.open_orders] == [1]
    o = snap.open_orders[0]
    assert (o.locked, o.remaining, o.status, o.stp, o.type, o.broker_id) == (
        30, 10, OrderStatus.PARTIALLY_FILLED, StpMode.CANCEL_TAKER, OrderType.LIMIT, 7,
    )  # fmt: skip
    assert o.status is OrderStatus.PARTIALLY_FILLED and o.stp is StpMode.CANCEL_TAKER
    assert (
        snap.open_withdrawals == [w] and snap.open_withdrawals[0].status is WithdrawalStatus.REVIEW
    )
    assert snap.fee_overrides == {100: (10, 20)}
    assert snap.idempotency == {("withdraw", 100, "w1"): ("f" * 32, 1)}
    assert snap.sequences == {"order": 3, "deposit": 2, "withdrawal": 2}
    done = store.get_order(2)
    assert done is not None and done.status is OrderStatus.FILLED and done.cancel_reason == "x"
    assert done.broker_id is None and done.filled_qty == 1_000
    assert store.get_withdrawal(1) == w


def test_upserts_keep_the_last_change_of_a_batch(db_engine) -> None:  # type: ignore[no-untyped-def]
    store = SqlStore(db_engine)
    w = Withdrawal(1, 100, "USDT", 500, 5, "a", "n", "", "", WithdrawalStatus.PENDING, "", 1, 1)
    w2 = Withdrawal(
        1, 100, "USDT", 500, 5, "a", "n", "", "", WithdrawalStatus.PROCESSING, "t", 1, 2
    )
    w3 = Withdrawal(1, 100, "USDT", 500, 5, "a", "n", "", "", WithdrawalStatus.SUCCESS, "t", 1, 3)
    store.commit(BatchChanges(withdrawals=[w, w2], fees=[(100, 1, 2), (101, 3, 4), (100, 5, 6)]))
    snap = store.load()
    assert snap.open_withdrawals == [w2]
    assert snap.fee_overrides == {100: (5, 6), 101: (3, 4)}
    # settle: final withdrawals are not open any more; clearing an override deletes the row,
    # and set-clear-set within one batch keeps the last one
    store.commit(
        BatchChanges(withdrawals=[w3], fees=[(100, None, None), (101, None, None), (101, 7, 8)])
    )
    snap = store.load()
    assert snap.open_withdrawals == []
    assert snap.fee_overrides == {101: (7, 8)}
    assert store.get_withdrawal(1) == w3
    store.commit(BatchChanges(fees=[(101, 9, 9), (101, None, None)]))
    assert store.load().fee_overrides == {}
    # balances and orders are overwritten, not duplicated
    store.commit(BatchChanges(balances={(100, "USDT"): (1, 2)}, orders=[_order(5)]))
    store.commit(
        BatchChanges(
            balances={(100, "USDT"): (3, 4)},
            orders=[_order(5, status=OrderStatus.CANCELED, remaining=0)],
        )
    )
    snap = store.load()
    assert snap.balances == {(100, "USDT"): (3, 4)} and snap.open_orders == []
    assert _count(db_engine, t.orders) == 1 and _count(db_engine, t.balances) == 1


def test_reference_prices_round_trip_and_start_at_old_trades(db_engine) -> None:  # type: ignore[no-untyped-def]
    """A reference is kept exactly, past 64 bits in billionths of a unit; a symbol that traded
    before references were kept (no row) starts at its newest trade, its history at its first."""
    store = SqlStore(db_engine)
    usdt, btc = Asset("USDT", 8, "Tether"), Asset("BTC", 8, "Bitcoin")
    sym = Symbol("BTCUSDT", btc, usdt, 2, 6, 1, 10**9, 10**8, 10**15, True, ("LIMIT",))
    old = [
        Trade(i, "BTCUSDT", price, 1, price, 1, 2, 100, 101, BUY, 0, 0, None, None, t, "", "")
        for i, (price, t) in enumerate([(3_000_000, 1_000), (3_100_000, 2_000)], start=1)
    ]
    huge = Reference((2**63 - 1) * SCALE + SCALE - 1, 2**63 - 1, 5_000, 2**63 - 1)
    store.commit(
        BatchChanges(
            assets=[usdt, btc],
            symbols=[sym],
            trades=old,
            references={"ETHUSDT": Reference(7, 1, 3_000, 3_000), "MXUSDT": huge},
        )
    )
    store.commit(
        BatchChanges(references={"ETHUSDT": Reference(25_000 * SCALE + 1, 9, 4_000, 3_000)})
    )
    snap = SqlStore(db_engine).load()
    assert snap.references == {
        "BTCUSDT": Reference(3_100_000 * SCALE, 3_100_000, 2_000, 1_000),  # since its first
        "ETHUSDT": Reference(25_000 * SCALE + 1, 9, 4_000, 3_000),
        "MXUSDT": huge,
    }
    # the last prices are the references' (the engine's), where a symbol has one
    assert snap.last_prices == {"BTCUSDT": 3_100_000, "ETHUSDT": 9, "MXUSDT": 2**63 - 1}
    assert _count(db_engine, t.reference_prices) == 2


#: text a row may carry that an array literal or a SQL string could get wrong
AWKWARD = ['a"b', "back\\slash", "c,d", "{e}", " f ", "NULL", "null", "", "é€😀", "'; --", '\\"']


def test_awkward_text_and_nulls_round_trip(db_engine) -> None:  # type: ignore[no-untyped-def]
    """Every text value comes back as written (PostgreSQL writes each column as one array
    literal: quotes, backslashes, commas, braces, blanks and the word NULL are escaped), and
    a NULL stays NULL next to values in the same column."""
    store = SqlStore(db_engine)
    orders = [
        _order(i + 1, client_id=v, source=v[::-1], broker_id=None if i % 2 else i)
        for i, v in enumerate(AWKWARD)
    ]
    accounts = [Account(200 + i, AccountKind.USER, name=v) for i, v in enumerate(AWKWARD)]
    keys = [IdempotencyRecord("order", 100, v, v + "fp", i, 1) for i, v in enumerate(AWKWARD)]
    store.commit(
        BatchChanges(accounts=accounts, orders=orders, idempotency=keys, sequences={"order": 99})
    )
    for i, v in enumerate(AWKWARD):
        got = store.get_order(i + 1)
        assert got is not None
        assert (got.client_id, got.source, got.broker_id) == (v, v[::-1], None if i % 2 else i)
    snap = SqlStore(db_engine).load()
    assert [a.name for a in snap.accounts] == AWKWARD
    assert snap.idempotency == {("order", 100, v): (v + "fp", i) for i, v in enumerate(AWKWARD)}


def test_a_failing_batch_leaves_nothing_behind(db_engine) -> None:  # type: ignore[no-untyped-def]
    store = SqlStore(db_engine)
    # a transfer's key: only an order's is replaced (an expired key used again)
    rec = IdempotencyRecord("transfer", 100, "dup", "f", 1, 1)
    store.commit(BatchChanges(idempotency=[rec], sequences={"order": 2}))
    bad = BatchChanges(
        postings=[(3, 0, 100, 0, "USDT", 7, "deposit", 1)],
        balances={(100, "USDT"): (7, 0), (3, "USDT"): (-7, 0)},
        orders=[_order(9)],
        idempotency=[rec],  # the same key again: the last write of the batch fails
        sequences={"order": 10},
    )
    with pytest.raises((IntegrityError, sqlite3.IntegrityError, psycopg.IntegrityError)):
        store.commit(bad)
    assert _count(db_engine, t.postings) == 0
    assert _count(db_engine, t.balances) == 0
    assert _count(db_engine, t.orders) == 0
    assert store.load().sequences == {"order": 2}
    # the store recovers: the next batch goes through on a fresh connection
    store.commit(BatchChanges(balances={(100, "USDT"): (1, 0)}, sequences={"order": 10}))
    assert store.load().balances == {(100, "USDT"): (1, 0)}
    assert store.load().sequences == {"order": 10}


def test_engine_failed_commit_is_not_acknowledged(db_engine) -> None:  # type: ignore[no-untyped-def]
    """A batch whose commit fails is reported as such and the engine reloads the last state."""
    store = SqlStore(db_engine)
    engine = Engine(store)
    engine.apply_batch_now([c.AddAsset(a) for a in ASSETS] + [c.AddSymbol(s) for s in SYMBOLS])
    (acc,) = engine.apply_batch_now([c.OpenAccount(AccountKind.USER)])
    engine.apply_batch_now([c.CreditDeposit(acc.id, "USDT", 10**12, "tx-a")])
    real_commit = store.commit

    def broken(changes: BatchChanges) -> None:
        changes.idempotency.append(IdempotencyRecord("deposit", 0, "tx-a", "x", 1, 1))
        real_commit(changes)

    store.commit = broken  # type: ignore[method-assign]
    with pytest.raises(EngineUnavailable):
        engine.apply_batch_now([c.CreditDeposit(acc.id, "USDT", 5, "tx-b")])
    store.commit = real_commit  # type: ignore[method-assign]
    assert engine.exchange.ledger.available(acc.id, "USDT") == 10**12
    assert engine.apply_batch_now([c.CreditDeposit(acc.id, "USDT", 5, "tx-b")]) == [True]
    assert Engine(store).exchange.ledger.available(acc.id, "USDT") == 10**12 + 5
    store.close()  # the writer's (its PostgreSQL heartbeat ends with it)


def test_idempotent_retries_survive_a_restart(db_engine) -> None:  # type: ignore[no-untyped-def]
    engine = Engine(SqlStore(db_engine))
    engine.apply_batch_now([c.AddAsset(a) for a in ASSETS] + [c.AddSymbol(s) for s in SYMBOLS])
    a, b = engine.apply_batch_now([c.OpenAccount(AccountKind.USER)] * 2)
    engine.apply_batch_now(
        [
            c.CreditDeposit(a.id, "USDT", to_units("100000", 8), "t1"),
            c.CreditDeposit(b.id, "BTC", to_units("2", 8), "t2"),
        ]
    )
    sell = OrderRequest(b.id, "BTCUSDT", SELL, OrderType.LIMIT, qty=500_000, price=3_000_000)
    buy = OrderRequest(a.id, "BTCUSDT", BUY, OrderType.LIMIT, qty=500_000, price=3_100_000,
                       client_id="x1")  # fmt: skip
    engine.apply_batch_now([c.PlaceOrder(sell)])
    (first,) = engine.apply_batch_now([c.PlaceOrder(buy)])
    assert first.status is OrderStatus.FILLED
    tid = engine.apply_batch_now([c.Transfer(a.id, b.id, "USDT", 100, "tr1")])[0]

    engine.store.close()  # the first "process" stops (and gives back the writer lock)
    again = Engine(SqlStore(db_engine))
    (retry,) = again.apply_batch_now([c.PlaceOrder(buy)])  # filled: read back from the store
    assert (retry.id, retry.status, retry.filled_qty) == (first.id, first.status, first.qty)
    assert again.apply_batch_now([c.Transfer(a.id, b.id, "USDT", 100, "tr1")]) == [tid]
    assert again.apply_batch_now([c.CreditDeposit(a.id, "USDT", to_units("100000", 8), "t1")]) == [
        False
    ]
    with pytest.raises(IdempotencyConflict):
        again.apply_batch_now([c.Transfer(a.id, b.id, "USDT", 101, "tr1")])
    assert again.exchange.next_order_id == engine.exchange.next_order_id
    assert again.wallet.next_transfer_id == engine.wallet.next_transfer_id
    again.store.close()
