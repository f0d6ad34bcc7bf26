"""A follower's copy of the engine (``engine.replica.apply_committed``) keeps what the MX fee,
the STP groups and the dust conversions added to a batch: accounts paying fees in MX, each
account's STP peers, and the last and reference prices MX fees are priced at, equal to the
writer's."""

from __future__ import annotations

import itertools

from bourse.domain.accounts import DUST_DESK, AccountKind
from bourse.domain.matching.settlement import buckets
from bourse.domain.orders import BUY, SELL, OrderRequest, OrderType, StpMode
from bourse.domain.reference_price import AVERAGING_MS
from bourse.engine import Engine
from bourse.engine import commands as c
from bourse.engine.changes import BatchChanges
from bourse.engine.replica import apply_committed
from bourse.engine.state import load_state
from bourse.sandbox.listings import ASSETS, SYMBOLS
from bourse.store.memory import MemoryStore

UNIT = 10**8


def test_follower_matches_the_writer() -> None:
    ticks = itertools.count(1_700_000_000_000, 1000)
    later = [0]  # moved on once MXUSDT has traded, so its reference has history
    clock = lambda: next(ticks) + later[0]  # noqa: E731
    writer = Engine(MemoryStore(), stp_default=StpMode.NONE, clock=clock)
    batches: list[BatchChanges] = []
    writer.subscribe(batches.append)
    follower = load_state(MemoryStore(), (0, 500), StpMode.NONE, clock)

    run = writer.execute
    for asset in ASSETS:
        run(c.AddAsset(asset))
    for sym in SYMBOLS:
        run(c.AddSymbol(sym))
    master = run(c.OpenAccount(AccountKind.USER)).id
    a = run(c.OpenAccount(AccountKind.BROKER_SUB, parent=master)).id
    b = run(c.OpenAccount(AccountKind.BROKER_SUB, parent=master)).id
    for acc in (master, a, b):
        for asset in ("USDT", "MX", "BTC"):
            run(c.CreditDeposit(acc, asset, 1000 * UNIT, f"{acc}-{asset}"))
    run(c.CreditDeposit(DUST_DESK, "MX", 1000 * UNIT, "desk"))
    run(c.SetMxDeduct(a, True))
    gone = run(c.CreateStpGroup(master, "gone")).id
    group = run(c.CreateStpGroup(master, "desk")).id
    run(c.SetStpGroupMembers(master, gone, (master,), add=True))
    run(c.DeleteStpGroup(master, gone))
    run(c.SetStpGroupMembers(master, group, (a, b), add=True))
    for side, acc in ((SELL, master), (BUY, a)):
        req = OrderRequest(acc, "MXUSDT", side, OrderType.LIMIT, qty=1000, price=25_000)
        run(c.PlaceOrder(req))
    later[0] = AVERAGING_MS
    run(c.CreditDeposit(b, "ETH", 100_000, "dust"))
    run(c.ConvertDust(b, ("USDT", "ETH")))

    for changes in batches:
        apply_committed(follower, changes)
    ours, theirs = follower.exchange, writer.exchange
    assert ours.mx_deduct == theirs.mx_deduct == {a}
    assert ours.stp_peers == theirs.stp_peers == {a: {a, b}, b: {a, b}}
    assert ours.last_prices == theirs.last_prices == {"MXUSDT": 25_000}
    assert ours.references == theirs.references and set(ours.references) == {"MXUSDT"}
    assert [g.name for g in follower.stp_groups.owned(master)] == ["desk"]
    assert ours.ledger.balances == theirs.ledger.balances


def test_a_committed_batch_drops_the_cached_buckets() -> None:
    """``Ledger.pairs`` caches the bucket lists the match loop writes in place; a follower
    replaces those lists, so a cached pair would point at lists no longer in the ledger."""
    follower = load_state(MemoryStore(), (0, 500), StpMode.NONE, lambda: 1_700_000_000_000)
    ledger = follower.exchange.ledger
    ledger.balances[(7, "USDT")] = [5, 0]
    assert buckets(ledger, 7, "BTC", "USDT")[1] == [5, 0]

    apply_committed(follower, BatchChanges(balances={(7, "BTC"): (3, 0), (7, "USDT"): (9, 1)}))

    base, quote = buckets(ledger, 7, "BTC", "USDT")
    assert (base, quote) == ([3, 0], [9, 1])
    assert base is ledger.balances[(7, "BTC")] and quote is ledger.balances[(7, "USDT")]
