"""Property tests: generated command streams through the Exchange and through the Engine.

After every command (Exchange) or batch (Engine) the accounting invariants must hold:

* the ledger balances per asset and no customer bucket is negative;
* every bucket equals the sum of all postings into and out of it (from the store's journal);
* the book is never crossed and level totals match their orders;
* every fill conserves base and quote: the buyer's locked quote goes to the seller, the seller's
  locked base to the buyer, fees go to fee revenue, nothing else moves under the trade's id;
* each account's locked bucket equals what its open orders (and pending withdrawals) hold;
* a refused command changes nothing;
* a new Engine over the same store rebuilds identical books and balances;
* client ids are idempotent: a retry returns the first order, other parameters are refused.
"""

from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bourse.domain.accounts import CHAIN_CLEARING, FEE_REVENUE, AccountKind, may_go_negative
from bourse.domain.errors import DomainError, IdempotencyConflict
from bourse.domain.fees import FeeSchedule
from bourse.domain.ledger import AVAILABLE, LOCKED, P_AMOUNT, P_KIND, P_REF
from bourse.domain.matching import Exchange
from bourse.domain.orders import BUY, SELL, OrderRequest, OrderStatus, OrderType, StpMode
from bourse.engine import Engine
from bourse.engine import commands as c
from bourse.sandbox.listings import ASSETS, SYMBOLS
from bourse.store.memory import MemoryStore

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

SYMS = {s.name: s for s in SYMBOLS[:2]}  # BTCUSDT (base x100, notional x1), ETHUSDT (x1000, x10)
ACCOUNTS = (100, 101, 102, 103)
TYPES = list(OrderType)
STPS = [None, *StpMode]
S = OrderStatus
FUNDS = {"USDT": 5_000 * 10**8, "BTC": 2 * 10**7, "ETH": 2 * 10**8}  # 5000 USDT, 0.2 BTC, 2 ETH


# --- generating requests ------------------------------------------------------------------------
@st.composite
def requests(draw, account=None) -> OrderRequest:
    name = draw(st.sampled_from(sorted(SYMS)))
    sym = SYMS[name]
    acc = account if account is not None else draw(st.sampled_from(ACCOUNTS))
    side = draw(st.sampled_from((BUY, SELL)))
    otype = draw(st.sampled_from(TYPES))
    center = 30_000 if name == "BTCUSDT" else 2_000
    price = (center + draw(st.integers(-6, 6))) * 10**sym.price_scale
    qty = draw(st.integers(1, 6)) * 10 ** (sym.qty_scale - 2) + draw(st.sampled_from((0, 0, 7)))
    stp = draw(st.sampled_from(STPS))
    if otype is OrderType.MARKET:
        if draw(st.booleans()):
            quote = draw(st.integers(10, 2_500)) * 10**8 + draw(st.integers(0, 10**6))
            return OrderRequest(acc, name, side, otype, quote_qty=quote, stp=stp)
        return OrderRequest(acc, name, side, otype, qty=qty, stp=stp)
    return OrderRequest(acc, name, side, otype, qty=qty, price=price, stp=stp)


# --- invariants -------------------------------------------------------------------------------
def lock_asset(sym, side: int) -> str:
    return sym.quote.code if side == BUY else sym.base.code


def check_books(ex: Exchange) -> None:
    for book in ex.books.values():
        assert not book.is_crossed(), book.symbol
        seen = set()
        for side in (book.bids, book.asks):
            assert sorted(side.keys) == side.keys
            assert {side.sign * k for k in side.keys} == set(side.levels) == set(side.level_qty)
            for price, level in side.levels.items():
                assert level, "empty level kept"
                assert side.level_qty[price] == sum(o.remaining for o in level)
                ids = [o.id for o in level]
                assert ids == sorted(ids), "time priority broken"
                for o in level:
                    assert (
                        o.price == price
                        and o.remaining > 0
                        and o.status
                        in (
                            S.NEW,
                            S.PARTIALLY_FILLED,
                        )
                    )
                    seen.add(o.id)
        assert seen == set(book.orders)
    assert set(ex.open_orders) == {i for b in ex.books.values() for i in b.orders}


def check_locks(ex: Exchange, extra: dict[tuple[int, str], int] | None = None) -> None:
    """Locked buckets equal what open orders (and ``extra`` reserves) hold."""
    want: dict[tuple[int, str], int] = defaultdict(int)
    for o in ex.open_orders.values():
        sym = ex.symbols[o.symbol]
        if o.side == BUY:
            assert o.locked == sym.notional(o.price, o.remaining), o
        else:
            assert o.locked == sym.base_units(o.remaining), o
        want[(o.account, lock_asset(sym, o.side))] += o.locked
    for k, v in (extra or {}).items():
        want[k] += v
    for key, (_, locked) in ex.ledger.balances.items():
        assert locked == want.get(key, 0), (key, locked, want.get(key, 0))
    counts: dict[int, int] = defaultdict(int)
    for o in ex.open_orders.values():
        counts[o.account] += 1
    assert {a: n for a, n in ex.open_count.items() if n} == dict(counts)


def check_ledger(ex: Exchange) -> None:
    ex.ledger.check()
    for (acc, _asset), (avail, locked) in ex.ledger.balances.items():
        if not may_go_negative(acc):
            assert avail >= 0 and locked >= 0


def buckets_from_postings(postings) -> dict[tuple[int, str], list[int]]:
    out: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
    for from_account, from_bucket, to_account, to_bucket, asset, amount, _, _ in postings:
        assert amount > 0
        out[(from_account, asset)][from_bucket] -= amount
        out[(to_account, asset)][to_bucket] += amount
    return out


def check_postings_match(balances: dict, postings) -> None:
    derived = buckets_from_postings(postings)
    for key in set(derived) | set(balances):
        got = list(balances.get(key, (0, 0)))
        assert got == derived.get(key, [0, 0]), (key, got, derived.get(key))


def check_trades(symbols, trades, postings, orders_by_id=None) -> None:
    """Every fill conserves base and quote; fees go to fee revenue; nothing else moves."""
    by_ref: dict[int, list] = defaultdict(list)
    for p in postings:
        if p[P_KIND] in ("trade", "fee", "order_refund"):
            by_ref[p[P_REF]].append(p)
    assert set(by_ref) <= {t.id for t in trades}
    for t in trades:
        sym = symbols[t.symbol]
        base, quote = sym.base.code, sym.quote.code
        b, s = t.buyer_account, t.seller_account
        assert t.quote_qty == t.price * t.qty * sym.notional_mult and t.qty > 0
        got = sorted((p[P_KIND], *p[:P_KIND]) for p in by_ref[t.id] if p[P_KIND] != "order_refund")
        want = [
            ("trade", b, LOCKED, s, AVAILABLE, quote, t.quote_qty),
            ("trade", s, LOCKED, b, AVAILABLE, base, t.qty * sym.base_mult),
        ]
        if t.buyer_fee:
            fee_asset = t.fee_asset(True, base, quote)
            want.append(("fee", b, AVAILABLE, FEE_REVENUE, AVAILABLE, fee_asset, t.buyer_fee))
        if t.seller_fee:
            fee_asset = t.fee_asset(False, base, quote)
            want.append(("fee", s, AVAILABLE, FEE_REVENUE, AVAILABLE, fee_asset, t.seller_fee))
        assert got == sorted(want), (t.id, got, want)
        assert 0 <= t.buyer_fee <= t.qty * sym.base_mult and 0 <= t.seller_fee <= t.quote_qty
        refunds = [p for p in by_ref[t.id] if p[P_KIND] == "order_refund"]
        if refunds:
            (r,) = refunds
            assert t.taker_side == BUY
            assert r[:P_AMOUNT] == (
                b,
                LOCKED,
                b,
                AVAILABLE,
                quote,
            )
            if orders_by_id is not None:
                limit = orders_by_id[t.buyer_order].price
                assert r[P_AMOUNT] == (limit - t.price) * t.qty * sym.notional_mult
        elif orders_by_id is not None and t.taker_side == BUY:
            limit = orders_by_id[t.buyer_order].price
            assert limit in (0, t.price)


def check_order(o) -> None:
    if o.qty:
        assert o.filled_qty + o.remaining == o.qty
        assert (o.status is S.FILLED) == (o.remaining == 0)
    if o.status in (S.FILLED, S.CANCELED, S.PARTIALLY_CANCELED):
        assert o.locked == 0
    if o.status is S.CANCELED:
        assert o.filled_qty == 0
    if o.status is S.PARTIALLY_CANCELED:
        assert o.filled_qty > 0


def snapshot(ex: Exchange):
    return (
        {k: tuple(v) for k, v in ex.ledger.balances.items()},
        len(ex.ledger.journal),
        ex.next_order_id,
        ex.next_trade_id,
        {
            n: (b.bids.depth(1000), b.asks.depth(1000), sorted(b.orders))
            for n, b in ex.books.items()
        },
    )


# --- the Exchange directly ----------------------------------------------------------------------
def new_exchange() -> Exchange:
    ex = Exchange(fees=FeeSchedule(maker=1000, taker=2000), max_open_orders=8)
    for s in SYMS.values():
        ex.add_symbol(s)
    for acc in ACCOUNTS:
        for asset, amount in FUNDS.items():
            ex.ledger.post(CHAIN_CLEARING, AVAILABLE, acc, AVAILABLE, asset, amount, "deposit")
    ex.fees.set_account(103, 0, 0)
    return ex


@st.composite
def exchange_ops(draw):
    kind = draw(st.sampled_from(("place",) * 6 + ("cancel", "cancel_all", "fees")))
    if kind == "place":
        return ("place", draw(requests()))
    if kind == "fees":
        return ("fees", draw(st.sampled_from(ACCOUNTS)), draw(st.integers(0, 5000)))
    return (
        kind,
        draw(st.sampled_from(ACCOUNTS)),
        draw(st.sampled_from(sorted(SYMS))),
        draw(st.integers(0, 50)),
    )


@SETTINGS
@given(st.lists(exchange_ops(), min_size=1, max_size=80))
def test_exchange_stream_keeps_invariants(ops):
    ex = new_exchange()
    every: dict[int, object] = {}
    for now, op in enumerate(ops, 1):
        before = snapshot(ex)
        try:
            if op[0] == "place":
                o = ex.place(op[1], now)
                every[o.id] = o
                check_order(o)
                if o.type is OrderType.FILL_OR_KILL:
                    assert o.status in (S.FILLED, S.CANCELED)
                if o.type is not OrderType.LIMIT and o.type is not OrderType.LIMIT_MAKER:
                    assert o.id not in ex.open_orders
                if o.type is OrderType.LIMIT_MAKER:
                    assert o.filled_qty == 0
            elif op[0] == "cancel":
                _, acc, name, pick = op
                mine = [o for o in ex.books[name].orders.values() if o.account == acc]
                target = mine[pick % len(mine)].id if mine else 10**9
                o = ex.cancel(acc, name, now, order_id=target)
                assert o.status in (S.CANCELED, S.PARTIALLY_CANCELED) and o.locked == 0
            elif op[0] == "cancel_all":
                for o in ex.cancel_all(op[1], op[2], now):
                    assert o.status in (S.CANCELED, S.PARTIALLY_CANCELED) and o.locked == 0
            else:
                ex.fees.set_account(op[1], op[2], op[2] * 2)
        except DomainError:
            assert snapshot(ex) == before, "a refused command changed state"
        check_ledger(ex)
        check_books(ex)
        check_locks(ex)
        for o in ex.changed_orders.values():
            check_order(o)
    check_postings_match(ex.ledger.balances, ex.ledger.journal)
    check_trades(ex.symbols, ex.trades, ex.ledger.journal, every)


# --- through the Engine -------------------------------------------------------------------------
def new_engine(store: MemoryStore) -> Engine:
    return Engine(store, fees=FeeSchedule(maker=1000, taker=2000), clock=lambda: 1)


def setup_engine() -> tuple[MemoryStore, Engine]:
    store = MemoryStore()
    eng = new_engine(store)
    eng.apply_batch_now([c.AddAsset(a) for a in ASSETS] + [c.AddSymbol(s) for s in SYMS.values()])
    accs = eng.apply_batch_now([c.OpenAccount(AccountKind.USER) for _ in ACCOUNTS])
    assert tuple(a.id for a in accs) == ACCOUNTS
    eng.apply_batch_now(
        [
            c.CreditDeposit(acc, asset, amount, f"dep-{acc}-{asset}")
            for acc in ACCOUNTS
            for asset, amount in FUNDS.items()
        ]
    )
    return store, eng


def run(eng: Engine, cmds: list) -> list:
    """Apply one batch; return each command's result or DomainError."""
    try:
        return eng.apply_batch_now(cmds)
    except DomainError:
        pass
    # the batch committed, but apply_batch_now only raises the first error: nothing to redo
    return [None] * len(cmds)


def engine_state(eng: Engine):
    ex = eng.exchange
    books = {}
    for name, b in ex.books.items():
        books[name] = tuple(
            [
                (
                    side.sign * k,
                    [(o.id, o.remaining, o.locked, o.status) for o in side.levels[side.sign * k]],
                )
                for k in side.keys
            ]
            for side in (b.bids, b.asks)
        )
    return (
        {k: tuple(v) for k, v in ex.ledger.balances.items() if v != [0, 0]},
        books,
        ex.next_order_id,
        ex.next_trade_id,
        dict(ex.fees.overrides),
        sorted(eng.wallet.withdrawals),
    )


def check_engine(store: MemoryStore, eng: Engine) -> None:
    ex = eng.exchange
    check_ledger(ex)
    check_books(ex)
    reserves: dict[tuple[int, str], int] = defaultdict(int)
    for w in eng.wallet.withdrawals.values():
        reserves[(w.account, w.asset)] += w.amount + w.fee
    check_locks(ex, reserves)
    # balances, in memory and in the store, are exactly the sum of all committed postings
    check_postings_match(ex.ledger.balances, store.postings)
    check_postings_match(store.balances, store.postings)
    check_trades(ex.symbols, store.trades, store.postings, store.orders)
    for o in store.orders.values():
        check_order(o)
    # replay: a new engine over the same store rebuilds the same books and balances
    assert engine_state(new_engine(store)) == engine_state(eng)


@st.composite
def engine_batches(draw, eng: Engine):
    cmds = []
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(("place",) * 6 + ("cancel", "cancel_all", "withdraw", "misc")))
        acc = draw(st.sampled_from(ACCOUNTS))
        if kind == "place":
            req = draw(requests(account=acc))
            if draw(st.integers(0, 3)) == 0:
                req = OrderRequest(**{**_fields(req), "client_id": f"c{draw(st.integers(0, 4))}"})
            cmds.append(c.PlaceOrder(req))
        elif kind == "cancel":
            mine = sorted(o.id for o in eng.exchange.open_orders.values() if o.account == acc)
            oid = draw(st.sampled_from(mine)) if mine else 10**9
            order = eng.exchange.open_orders.get(oid)
            cmds.append(c.CancelOrder(acc, order.symbol if order else "BTCUSDT", oid))
        elif kind == "cancel_all":
            cmds.append(c.CancelAll(acc, draw(st.sampled_from(sorted(SYMS)))))
        elif kind == "withdraw":
            open_w = sorted(eng.wallet.withdrawals)
            if open_w and draw(st.booleans()):
                wid = draw(st.sampled_from(open_w))
                cmds.append(
                    draw(st.sampled_from((c.SettleWithdrawal(wid, "tx"), c.VoidWithdrawal(wid))))
                )
            else:
                cmds.append(
                    c.ReserveWithdrawal(acc, "USDT", draw(st.integers(1, 10**11)), 10**6, "a", "n")
                )
        else:
            other = draw(st.sampled_from(ACCOUNTS))
            cmds.append(
                draw(
                    st.sampled_from(
                        (
                            c.Transfer(acc, other, "BTC", draw(st.integers(1, 10**6))),
                            c.SetFees(acc, draw(st.integers(0, 3000)), None),
                            c.SetAccountFrozen(acc, True),
                            c.SetAccountFrozen(acc, False),
                            c.CreditDeposit(acc, "ETH", 10**7, f"tx{draw(st.integers(0, 3))}"),
                        )
                    )
                )
            )
    return cmds


def _fields(req: OrderRequest) -> dict:
    return {f: getattr(req, f) for f in OrderRequest.__dataclass_fields__}


@SETTINGS
@given(st.data())
def test_engine_batches_keep_invariants_and_replay(data):
    store, eng = setup_engine()
    check_engine(store, eng)
    for _ in range(data.draw(st.integers(1, 8))):
        run(eng, data.draw(engine_batches(eng)))
        check_engine(store, eng)
    # unfreeze everyone and trade on
    run(eng, [c.SetAccountFrozen(a, False) for a in ACCOUNTS])
    run(eng, data.draw(engine_batches(eng)))
    check_engine(store, eng)


@SETTINGS
@given(st.data())
def test_client_ids_are_idempotent(data):
    store, eng = setup_engine()
    first: dict[tuple[int, str], tuple[OrderRequest, int]] = {}
    for _ in range(data.draw(st.integers(1, 20))):
        acc = data.draw(st.sampled_from(ACCOUNTS))
        req = data.draw(requests(account=acc))
        cid = f"id{data.draw(st.integers(0, 3))}"
        if (acc, cid) in first and data.draw(st.booleans()):
            req = first[(acc, cid)][0]  # an exact retry
        req = OrderRequest(**{**_fields(req), "client_id": cid})
        before = engine_state(eng), len(store.postings), len(store.orders)
        try:
            (res,) = eng.apply_batch_now([c.PlaceOrder(req)])
        except IdempotencyConflict:
            prev = first[(acc, cid)][0]
            assert (req.symbol, req.side, req.type, req.qty, req.price, req.quote_qty, req.stp) != (
                prev.symbol,
                prev.side,
                prev.type,
                prev.qty,
                prev.price,
                prev.quote_qty,
                prev.stp,
            )
            assert (engine_state(eng), len(store.postings), len(store.orders)) == before
            continue
        except DomainError:
            assert (acc, cid) not in first or first[(acc, cid)][0] != req
            assert (engine_state(eng), len(store.postings)) == before[:2]
            continue
        if (acc, cid) in first:
            prev_req, prev_id = first[(acc, cid)]
            assert prev_req == req, "a different request was accepted under a used client id"
            assert res.id == prev_id
            assert (engine_state(eng), len(store.postings)) == before[:2], "a retry changed state"
        else:
            first[(acc, cid)] = (req, res.id)
        # the same id through a fresh engine over the same store
        if data.draw(st.integers(0, 4)) == 0:
            eng = new_engine(store)
    check_engine(store, eng)


def test_retry_after_restart_returns_the_first_order():
    store, eng = setup_engine()
    req = OrderRequest(
        100, "BTCUSDT", BUY, OrderType.LIMIT, qty=10_000, price=2_999_000, client_id="k"
    )
    (o,) = eng.apply_batch_now([c.PlaceOrder(req)])
    eng2 = new_engine(store)
    (again,) = eng2.apply_batch_now([c.PlaceOrder(req)])
    assert again.id == o.id and len(eng2.exchange.open_orders) == 1
    with pytest.raises(IdempotencyConflict):
        eng2.apply_batch_now([c.PlaceOrder(OrderRequest(**{**_fields(req), "qty": 20_000}))])
    # the same client id on another account is a different key
    (other,) = eng2.apply_batch_now(
        [c.PlaceOrder(OrderRequest(**{**_fields(req), "account": 101}))]
    )
    assert other.id != o.id
