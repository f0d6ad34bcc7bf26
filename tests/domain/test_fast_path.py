"""``Exchange.place``'s fast paths decide exactly as the full pipeline (``Exchange._place``).

``place`` runs a valid LIMIT, IOC or MARKET-by-quantity order with the checks of ``validation``
and ``locking`` written out inline (it is every order's path, see ``bench/engine.py``); anything
else, and any order failing one of those checks, falls through to ``_place``. Two copies of a
rule can drift apart, so this test runs the same random command streams through an exchange
that uses the fast paths and one that always takes ``_place``, and requires the same outcome of
every command (the order's every field, or the same error and message), the same ledger
journal, the same balances and the same books. The streams reach every branch of the fast
paths' guards: unknown symbols, suspended symbols, restricted order types, zero and out-of-range
quantities and notionals, quote quantities on priced orders, short funds, the open-order cap,
self-trades under each STP mode, STP groups, fees paid in MX, and cancels.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import replace
from typing import Any

import pytest

from bourse.domain.accounts import CHAIN_CLEARING
from bourse.domain.errors import DomainError
from bourse.domain.fees import FeeSchedule
from bourse.domain.ledger import AVAILABLE
from bourse.domain.matching import Exchange
from bourse.domain.matching import state as state_module
from bourse.domain.orders import BUY, ORDER_FIELDS, SELL, Order, OrderRequest, OrderType, StpMode
from bourse.sandbox.listings import SYMBOLS

ACCOUNTS = (100, 101, 102, 103)
MID = 3_000_000  # 30,000.00 in price units
TYPES = (
    OrderType.LIMIT,
    OrderType.IMMEDIATE_OR_CANCEL,
    OrderType.MARKET,
    OrderType.FILL_OR_KILL,
    OrderType.LIMIT_MAKER,
)
STP = (None, StpMode.NONE, StpMode.CANCEL_TAKER, StpMode.CANCEL_MAKER, StpMode.CANCEL_BOTH)
#: BTCUSDT with limits that each bind first somewhere in the streams: the quantity limits inside
#: the notional ones (0.0001-10 BTC; 1-5,000,000 USDT)
BTC = replace(SYMBOLS[0], min_qty=100, max_qty=10**7)
#: prices at which an edge-sized order's notional can equal a limit exactly
EDGE_PRICE = {"max_notional": 10**8, "min_notional": 500_000, "all_in": MID}


class Pipeline(Exchange):
    """The reference: every order through the full pipeline, no fast path."""

    def place(self, req: OrderRequest, now: int) -> Order:
        return self._place(req, now)


def build(cls: type[Exchange], funds: list[int]) -> Exchange:
    ex = cls(fees=FeeSchedule(maker=1000, taker=2000), max_open_orders=2)
    ex.add_symbol(BTC)
    # the same market, suspended, and one allowing LIMIT only
    ex.add_symbol(replace(BTC, name="HALTUSDT", trading=False))
    ex.add_symbol(replace(BTC, name="ONLYUSDT", order_types=("LIMIT",)))
    ex.stp_peers = {100: {100, 101}, 101: {100, 101}}
    ex.mx_deduct = {102}
    for acc, units in zip(ACCOUNTS, funds, strict=True):
        for asset, scale_units in (("USDT", units), ("BTC", units // 30_000), ("MX", units)):
            ex.ledger.post(CHAIN_CLEARING, AVAILABLE, acc, AVAILABLE, asset, scale_units, "deposit")
    return ex


def outcome(fn: Any, *args: Any) -> tuple[Any, ...]:
    try:
        res = fn(*args)
    except DomainError as e:
        return ("error", type(e).__name__, str(e))
    orders = res if isinstance(res, list) else [res]
    return tuple(tuple(getattr(o, f) for f in ORDER_FIELDS) for o in orders)


def state(ex: Exchange) -> tuple[Any, ...]:
    changed, trades = ex.drain()
    books = {
        name: (
            [(o.id, o.remaining) for o in book.orders.values()],
            list(book.bids.keys),
            list(book.asks.keys),
            dict(book.bids.level_qty),
            dict(book.asks.level_qty),
        )
        for name, book in ex.books.items()
    }
    return (
        sorted(ex.ledger.balances.items()),
        list(ex.ledger.journal),
        sorted((i, tuple(getattr(o, f) for f in ORDER_FIELDS)) for i, o in changed.items()),
        trades,
        books,
        dict(ex.open_count),
        sorted(ex.open_orders),
        dict(ex.last_prices),
    )


def stream(rnd: random.Random, n: int) -> list[tuple[Any, ...]]:
    """``n`` commands, mostly valid orders around the mid (so books fill, cross and hit the
    open-order cap), with every kind of refusal mixed in."""
    out: list[tuple[Any, ...]] = []
    for _ in range(n):
        acc = rnd.choice(ACCOUNTS)
        if rnd.random() < 0.15:
            out.append(("cancel", acc, rnd.randint(1, n)))
            continue
        odd = rnd.random() < 0.2  # one field off its valid range
        edge: tuple[str, int] | None = None
        sym = (
            rnd.choice(["HALTUSDT", "ONLYUSDT", "NOPEUSDT"])
            if odd and rnd.random() < 0.3
            else "BTCUSDT"
        )
        side = 7 if odd and rnd.random() < 0.1 else rnd.choice((BUY, SELL))
        otype = rnd.choice(TYPES[:3] * 3 + TYPES[3:])
        qty = rnd.randint(BTC.min_qty, 300_000)
        price = MID + rnd.randint(-2_000, 2_000)
        quote = rnd.choice((0, 0, 0, 5 * 10**8)) if otype is OrderType.MARKET else 0
        if otype is OrderType.MARKET:
            price = 0
            qty = 0 if quote else qty
        if odd:
            field, value = rnd.choice(
                [
                    ("qty", 0), ("qty", -1), ("qty", 33), ("qty", BTC.max_qty), ("qty", BTC.max_qty + 1),
                    ("qty", 10**8), ("price", 0), ("price", -5), ("price", 1), ("price", 10**12),
                    ("quote", 5 * 10**8), ("quote", 10**20), ("qty", BTC.min_qty - 1),
                    ("edge", "max_notional"), ("edge", "min_notional"), ("edge", "all_in"),
                ]
            )  # fmt: skip
            if field == "edge":
                qty = -1  # sized against the exchange's state when the command runs
                quote = 0
                price = EDGE_PRICE[value]
                otype = rnd.choice(TYPES[:2])
                sym = "BTCUSDT"
                side = rnd.choice((BUY, SELL))
                edge = (value, rnd.choice((0, 1)))
            elif field == "qty":
                qty = value
            elif field == "price":
                price = value
            else:
                quote = value
        out.append(("place", acc, sym, side, otype, qty, price, quote, rnd.choice(STP), edge))
    return out


def edge_qty(ex: Exchange, account: int, side: int, price: int, edge: str, over: int) -> int:
    """A quantity exactly at one of the order's limits (``over``: one unit past it)."""
    per = price * BTC.notional_mult  # quote ledger units of one quantity unit
    if edge == "max_notional":
        return BTC.max_notional // per + over
    if edge == "min_notional":
        return -(-BTC.min_notional // per) - over
    if side == BUY:  # all_in: everything the account has available, or one unit more
        return ex.ledger.available(account, "USDT") // per + over
    return ex.ledger.available(account, "BTC") // BTC.base_mult + over


@pytest.mark.parametrize("seed", range(40))
def test_fast_paths_decide_as_the_pipeline(seed: int) -> None:
    rnd = random.Random(seed)
    funds = [10**9, 10**16] + [rnd.choice((10**9, 10**12, 10**16)) for _ in ACCOUNTS[2:]]
    fast, ref = build(Exchange, funds), build(Pipeline, funds)
    seen: set[str] = set()
    for now, cmd in enumerate(stream(rnd, 300), start=10):
        if cmd[0] == "place":
            _, acc, sym, side, otype, q, p, quote, stp, edge = cmd
            if edge is not None:
                q = edge_qty(ref, acc, side, p, *edge)
            req = OrderRequest(acc, sym, side, otype, qty=q, price=p, quote_qty=quote, stp=stp)
            got = outcome(fast.place, req, now)
            want = outcome(ref.place, req, now)
        else:
            _, acc, oid = cmd
            got = outcome(fast.cancel, acc, "BTCUSDT", now, oid)
            want = outcome(ref.cancel, acc, "BTCUSDT", now, oid)
        assert got == want, cmd
        assert state(fast) == state(ref), cmd
        seen.add(want[1] if want[0] == "error" else "placed")
        for ex in (fast, ref):  # each account's index holds its open orders
            for a in ACCOUNTS:
                mine = {o.id for o in ex.open_orders.values() if o.account == a}
                assert mine <= ex.rested_by_account.get(a, set()), (cmd, a)
                if now % 7 == 0:  # reading drops the closed ones (not each time: they pile up)
                    assert {o.id for o in ex.open_of(a)} == mine, (cmd, a)
    fast.ledger.check()
    # the stream reached the fast paths and the refusals they must hand over
    assert {"placed", "TooManyOpenOrders", "InsufficientFunds"} <= seen, seen


def test_the_open_order_index_stays_within_the_open_orders(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Closed ids are dropped from ``rested_by_account`` by ``drain`` once they outnumber twice
    the open orders plus a margin, whoever reads the index or not."""
    monkeypatch.setattr(state_module, "SWEEP_MARGIN", 256)
    ex = build(Exchange, [10**16] * len(ACCOUNTS))
    ex.max_open_orders = 10**9
    rnd = random.Random(7)
    most = rested = 0  # the most orders open at once; orders that rested
    for now in range(1, 20_001):
        acc = rnd.choice(ACCOUNTS)
        side = rnd.choice((BUY, SELL))
        price = MID + rnd.randint(-3, 3)  # at the mid: most orders trade soon after resting
        req = OrderRequest(acc, "BTCUSDT", side, OrderType.LIMIT, qty=BTC.min_qty, price=price)
        with contextlib.suppress(DomainError):
            rested += ex.place(req, now).id in ex.open_orders
        if now % 100 == 0:
            ex.drain()
            ex.ledger.drain()
            most = max(most, len(ex.open_orders))
            indexed = sum(len(ids) for ids in ex.rested_by_account.values())
            assert indexed <= len(ex.open_orders) + 2 * most + 256 + 100, (now, indexed)
    assert indexed < rested  # swept: without sweeps it holds every id that ever rested
