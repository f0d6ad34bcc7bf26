"""Matching throughput: Bourse's matching core against lightmatchingengine, same stream, one core.

A seeded stream of commands (limit orders on both sides around a random-walk mid price, market
orders, IOC orders and cancels of recent orders, from several accounts with ample funds) runs
through:

* ``ours``: ``bourse.domain.matching.Exchange.place/cancel`` directly, with full accounting:
  every order locks funds, every fill posts the trade, the price-improvement refund and both
  fees to the double-entry ledger, and the journal/changed orders are drained every
  ``--drain`` commands, as the engine does after a batch;
* ``lme``: ``lightmatchingengine.LightMatchingEngine`` (price-time matching only, no accounting).
  It has no market or IOC order types: a market order is ``add_order`` at price 0 (its market
  convention) and an IOC is ``add_order`` at its limit; for both, any remainder is then
  cancelled with ``cancel_order`` (LME would otherwise rest it, and a resting price-0 sell
  would cross the whole book);
* optionally (``--engine``) ``bourse.engine.Engine`` over a ``MemoryStore`` without history,
  fed in batches of ``--batch`` commands (``apply_batch_now``'s steps, keeping each result), to
  show what the single writer adds on top (command objects, futures, idempotency bookkeeping,
  order snapshots, batch collection and commit). A cancel there can only name an order whose
  batch has committed, so its stream differs slightly.

Self-trade prevention is off (``StpMode.NONE``) and the open-order cap lifted so both engines
do exactly the same matching; the run checks that both report the same filled quantity and the
same final book. Our ``OrderRequest`` objects are built from the stream before timing, as
LME's arguments are (the API layer builds them from the wire). Each side is timed alone in CPU
time of this process (``time.process_time``: other load on a shared machine counts less; GC
left on); ``--repeat`` interleaves runs and keeps the best of each. Prints commands/s for each,
the ratio ours/LME and a paste-ready summary with the command line. ``--spread`` sets how far
from the mid limit orders rest (book depth): LME scans all price levels on every order, ours
keeps the best level at the end of a sorted list.

    .venv/bin/python bench/engine.py                # 1,000,000 commands
    .venv/bin/python bench/engine.py --n 200000 --repeat 3 --engine
"""

from __future__ import annotations

import argparse
import gc
import platform
import random
import sys
import time
from concurrent.futures import Future
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1] / "src"))  # if not installed

from bourse.domain.errors import NoLiquidity  # noqa: E402
from bourse.domain.ledger import AVAILABLE  # noqa: E402
from bourse.domain.matching import Exchange  # noqa: E402
from bourse.domain.orders import BUY, SELL, OrderRequest, OrderType, StpMode  # noqa: E402
from bourse.sandbox.listings import BTC, SYMBOLS, USDT  # noqa: E402

SYMBOL = SYMBOLS[0]  # BTCUSDT: price scale 2, qty scale 6
NAME = SYMBOL.name
LIMIT, MARKET, IOC, CANCEL = 0, 1, 2, 3
FIRST_ACCOUNT = 100
FUNDS = 10**17  # ledger units per account and asset: "ample"

#: CPU time of this process: the machine may be shared, and this is a one-core, in-process run
_clock = time.process_time

_LIMIT = OrderType.LIMIT
_MARKET = OrderType.MARKET
_IOC = OrderType.IMMEDIATE_OR_CANCEL
_NONE = StpMode.NONE


def make_stream(
    n: int, seed: int, accounts: int, spread: int = 40
) -> list[tuple[int, int, int, int, int]]:
    """``n`` commands as (kind, account, side, price, qty) or (CANCEL, account, ref, 0, 0).

    ``ref`` is the stream index of an earlier limit order (which may already be gone).
    Prices are in BTCUSDT price units (0.01 USDT) on a 1 USDT tick; quantities in 1e-6 BTC.
    """
    rnd = random.Random(seed)
    rand, randint = rnd.random, rnd.randint
    mid = 3_000_000  # 30,000.00
    tick = 100
    out: list[tuple[int, int, int, int, int]] = []
    recent: list[int] = []  # stream indexes of limit orders, newest last
    for i in range(n):
        if rand() < 0.01:
            mid += tick * randint(-5, 5)
            mid = max(mid, 1_000_000)
        account = FIRST_ACCOUNT + randint(0, accounts - 1)
        r = rand()
        if r < 0.25 and recent:
            k = len(recent)
            j = k - 1 - min(int(rnd.expovariate(1 / 200)), k - 1)
            ref = recent[j]
            recent[j] = recent[-1]
            recent.pop()
            out.append((CANCEL, account, ref, 0, 0))
            continue
        side = BUY if rand() < 0.5 else SELL
        qty = randint(1, 200) * 1000  # 0.001 .. 0.2 BTC
        if r < 0.35:
            out.append((MARKET, account, side, 0, qty))
            continue
        # limits sit 2 ticks through the mid to ``spread`` ticks away; IOCs cross more often
        off = randint(-2, spread) if r < 0.85 else randint(-10, 5)
        price = mid - off * tick if side == BUY else mid + off * tick
        if r < 0.85:
            out.append((LIMIT, account, side, price, qty))
            recent.append(i)
            if len(recent) > 5000:
                del recent[: len(recent) - 5000]
        else:
            out.append((IOC, account, side, price, qty))
    return out


def new_exchange(accounts: int) -> Exchange:
    ex = Exchange(stp_default=_NONE, max_open_orders=10**9)
    ex.add_symbol(SYMBOL)
    for a in range(FIRST_ACCOUNT, FIRST_ACCOUNT + accounts):
        for asset in (BTC.code, USDT.code):
            ex.ledger.post(3, AVAILABLE, a, AVAILABLE, asset, FUNDS, "deposit", 0)
    ex.ledger.drain()
    return ex


def requests_for(stream: list) -> list:
    """Our input: the stream as the engine receives it, one ``OrderRequest`` per order (built by
    the API layer from the wire, so not timed here, just as LME's arguments are not)."""
    kinds = (_LIMIT, _MARKET, _IOC)
    out: list = []
    for kind, account, a, price, qty in stream:
        if kind == CANCEL:
            out.append((account_of(stream, a), a))
        else:
            out.append(OrderRequest(account, NAME, a, kinds[kind], qty, price))
    return out


def run_ours(stream: list, accounts: int, drain_every: int) -> tuple[float, Exchange, int]:
    reqs = requests_for(stream)
    ex = new_exchange(accounts)
    place, cancel, drain, ldrain = ex.place, ex.cancel, ex.drain, ex.ledger.drain
    open_orders = ex.open_orders
    ids: dict[int, int] = {}
    filled = 0
    now = 1
    t0 = _clock()
    for i, (kind, _account, _a, _price, _qty) in enumerate(stream):
        req = reqs[i]
        if kind == CANCEL:
            oid = ids.pop(req[1], None)
            if oid is not None and oid in open_orders:  # not filled meanwhile
                cancel(req[0], NAME, now, oid)
        else:
            try:
                o = place(req, now)
            except NoLiquidity:  # a market order on an empty side
                if kind != MARKET:
                    raise
                continue
            filled += o.filled_qty
            if kind == LIMIT:
                ids[i] = o.id
        if i % drain_every == 0:
            drain()
            ldrain()
    drain()
    ldrain()
    return _clock() - t0, ex, filled


def account_of(stream: list, index: int) -> int:
    return stream[index][1]


def run_lme(stream: list) -> tuple[float, object, int]:
    from lightmatchingengine.lightmatchingengine import LightMatchingEngine, Side

    lme = LightMatchingEngine()
    add, cancel = lme.add_order, lme.cancel_order
    sides = (Side.BUY, Side.SELL)
    orders: dict[int, object] = {}
    filled = 0
    t0 = _clock()
    for i, (kind, _account, a, price, qty) in enumerate(stream):
        if kind == CANCEL:
            o = orders.pop(a, None)
            if o is not None and o.leaves_qty > 0:
                cancel(o.order_id, NAME)
        else:
            o, _trades = add(NAME, price, qty, sides[a])
            filled += o.cum_qty
            if kind == LIMIT:
                orders[i] = o
            elif o.leaves_qty > 0:  # market / IOC remainder
                cancel(o.order_id, NAME)
    return _clock() - t0, lme, filled


def run_engine(stream: list, accounts: int, batch: int) -> tuple[float, object, int]:
    from bourse.domain.accounts import AccountKind
    from bourse.engine import Engine
    from bourse.engine import commands as c
    from bourse.engine.trace import SYSTEM
    from bourse.store.memory import MemoryStore

    store = MemoryStore()
    store.keep_history = False
    eng = Engine(store, stp_default=_NONE, clock=lambda: 1)
    eng.exchange.max_open_orders = 10**9
    eng.apply_batch_now([c.AddAsset(BTC), c.AddAsset(USDT), c.AddSymbol(SYMBOL)])
    accs = eng.apply_batch_now([c.OpenAccount(AccountKind.USER) for _ in range(accounts)])
    assert [a.id for a in accs] == list(range(FIRST_ACCOUNT, FIRST_ACCOUNT + accounts))
    eng.apply_batch_now(
        [
            c.CreditDeposit(a.id, asset, FUNDS, f"{a.id}-{asset}")
            for a in accs
            for asset in (BTC.code, USDT.code)
        ]
    )
    kinds = (_LIMIT, _MARKET, _IOC)
    req, place_cmd, cancel_cmd = OrderRequest, c.PlaceOrder, c.CancelOrder
    run_batch = eng._run_batch
    open_orders = eng.exchange.open_orders
    ids: dict[int, int] = {}
    filled = 0
    t0 = _clock()
    for start in range(0, len(stream), batch):
        chunk = stream[start : start + batch]
        cmds = []
        kinds_sent = []
        for off, (kind, account, a, price, qty) in enumerate(chunk):
            if kind == CANCEL:
                # ids are known once their batch committed; only cancel what is still open
                oid = ids.pop(a, None)
                if oid is None or oid not in open_orders:
                    continue
                cmds.append(cancel_cmd(stream[a][1], NAME, oid))
            else:
                cmds.append(place_cmd(req(account, NAME, a, kinds[kind], qty, price)))
            kinds_sent.append((kind, start + off))
        # apply_batch_now's own steps, keeping every command's outcome: it raises the first
        # refusal (a market order on an empty side, ...) and would drop the other results
        futs = [Future() for _ in cmds]
        run_batch([(cmd, fut, SYSTEM) for cmd, fut in zip(cmds, futs, strict=True)])
        results = [None if f.exception() else f.result() for f in futs]
        for (kind, index), res in zip(kinds_sent, results, strict=True):
            if res is not None and kind != CANCEL:
                filled += res.filled_qty
                if kind == LIMIT:
                    ids[index] = res.id
    return _clock() - t0, eng, filled


def book_state(ex: Exchange) -> tuple[list, list]:
    book = ex.books[NAME]
    return book.bids.depth(10**9), book.asks.depth(10**9)


def lme_state(lme) -> tuple[list, list]:
    ob = lme.order_books.get(NAME)
    if ob is None:
        return [], []
    bids = [(p, sum(o.leaves_qty for o in q)) for p, q in ob.bids.items() if q]
    asks = [(p, sum(o.leaves_qty for o in q)) for p, q in ob.asks.items() if q]
    return sorted(bids, reverse=True), sorted(asks)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="commands in the stream")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--accounts", type=int, default=8)
    ap.add_argument(
        "--spread", type=int, default=40, help="limit orders rest up to this many ticks from mid"
    )
    ap.add_argument("--drain", type=int, default=1000, help="drain journal every N commands")
    ap.add_argument("--engine", action="store_true", help="also run through Engine+MemoryStore")
    ap.add_argument("--batch", type=int, default=1000, help="engine batch size")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each, best time counts")
    ap.add_argument(
        "--gc-tuned",
        action="store_true",
        help="gc.freeze() and gc.set_threshold(100_000, 50, 100) for every run (what a "
        "long-running engine would do); default: Python's GC settings",
    )
    ap.add_argument("--skip-lme", action="store_true", help="only run ours (profiling)")
    args = ap.parse_args(argv)

    t = _clock()
    stream = make_stream(args.n, args.seed, args.accounts, args.spread)
    counts = [0, 0, 0, 0]
    for cmd in stream:
        counts[cmd[0]] += 1
    print(
        f"stream: {args.n:,} commands (seed {args.seed}, {args.accounts} accounts, "
        f"spread {args.spread} ticks): "
        f"{counts[LIMIT]:,} limit, {counts[MARKET]:,} market, {counts[IOC]:,} IOC, "
        f"{counts[CANCEL]:,} cancel; generated in {_clock() - t:.1f}s"
    )

    if args.gc_tuned:
        gc.collect()
        gc.freeze()
        gc.set_threshold(100_000, 50, 100)
    t_ours = t_lme = float("inf")
    for _ in range(args.repeat):  # interleaved, best of each: robust on a shared machine
        gc.collect()
        t, ex, filled_ours = run_ours(stream, args.accounts, args.drain)
        ex.ledger.check()
        t_ours = min(t_ours, t)
        if not args.skip_lme:
            gc.collect()
            t, lme, filled_lme = run_lme(stream)
            t_lme = min(t_lme, t)
    rate_ours = args.n / t_ours
    print(f"ours (Exchange, full ledger): {t_ours:8.2f}s  {rate_ours:12,.0f} cmds/s")
    rate_lme = None
    if not args.skip_lme:
        rate_lme = args.n / t_lme
        print(f"lightmatchingengine:          {t_lme:8.2f}s  {rate_lme:12,.0f} cmds/s")
        same_book = book_state(ex) == lme_state(lme)
        print(
            f"same work: filled qty ours={filled_ours:,} lme={filled_lme:,}; "
            f"final books identical: {same_book}"
        )
        if filled_ours != filled_lme or not same_book:
            print("WARNING: the two engines diverged; the comparison is not like for like")

    rate_eng = None
    if args.engine:
        gc.collect()
        t_eng, eng, filled_eng = run_engine(stream, args.accounts, args.batch)
        eng.exchange.ledger.check()
        rate_eng = args.n / t_eng
        print(
            f"Engine+MemoryStore (batches of {args.batch}): {t_eng:8.2f}s  "
            f"{rate_eng:12,.0f} cmds/s  (filled {filled_eng:,})"
        )

    cmdline = "python bench/engine.py " + " ".join(argv if argv is not None else sys.argv[1:])
    print()
    print("---- summary ----")
    print(f"$ {cmdline.strip()}")
    print(
        f"python {platform.python_version()} on {platform.machine()}, one core, in-process, "
        f"GC {'tuned' if args.gc_tuned else 'default'}"
    )
    print(f"ours (Exchange + ledger): {rate_ours:,.0f} cmds/s")
    if rate_lme:
        print(f"lightmatchingengine:      {rate_lme:,.0f} cmds/s")
        print(f"ratio ours/LME:           {rate_ours / rate_lme:.2f}x")
    if rate_eng:
        print(f"Engine + MemoryStore:     {rate_eng:,.0f} cmds/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
