"""What ``SqlStore.load`` reads: the engine's ``Snapshot`` (``engine.state`` rebuilds from it).

Only what the engine keeps in memory is read: assets, symbols, accounts, balances, open orders
and open withdrawals, fee overrides, client ids (an order's with when its order closed), replay
keys, sequences, the last price and the reference price of each symbol and self-trade-prevention
groups. The caller runs it in one transaction (on PostgreSQL a repeatable-read one), so every
table is read as of the same commit.
"""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from bourse.domain.accounts import AccountKind
from bourse.domain.money import Asset
from bourse.domain.reference_price import SCALE, Reference, start
from bourse.domain.stp_groups import StpGroup
from bourse.domain.symbols import Symbol
from bourse.domain.wallet import FINAL_WITHDRAWAL, Account
from bourse.engine.changes import Snapshot
from bourse.store import tables as t
from bourse.store.rows import order_from_row, withdrawal_from_row

#: meta row counting committed batches: how a new writer sees that its loaded state is stale
COMMITS = "commits"

_FINAL_WITHDRAWAL = tuple(s.value for s in FINAL_WITHDRAWAL)


def read_snapshot(conn: Connection) -> tuple[Snapshot, int]:
    """The snapshot on ``conn``, and the count of batches committed so far (``COMMITS``, kept
    out of the snapshot's sequences: it is the store's, not the engine's)."""
    assets = [
        Asset(r.code, r.scale, r.name)
        for r in conn.execute(select(t.assets).order_by(t.assets.c.code))
    ]
    by_code = {a.code: a for a in assets}
    symbols = [
        Symbol(
            name=r.name,
            base=by_code[r.base],
            quote=by_code[r.quote],
            price_scale=r.price_scale,
            qty_scale=r.qty_scale,
            min_qty=r.min_qty,
            max_qty=r.max_qty,
            min_notional=r.min_notional,
            max_notional=r.max_notional,
            trading=bool(r.trading),
            order_types=tuple(x for x in r.order_types.split(",") if x),
        )
        for r in conn.execute(select(t.symbols).order_by(t.symbols.c.name))
    ]
    accounts = [
        Account(r.id, AccountKind(r.kind), r.parent_id, bool(r.frozen), r.name, bool(r.mx_deduct))
        for r in conn.execute(select(t.accounts).order_by(t.accounts.c.id))
    ]
    b = t.balances.c
    balances = {
        (r[0], r[1]): (r[2], r[3])
        for r in conn.execute(select(b.account_id, b.asset, b.available, b.locked))
    }
    open_orders = [
        order_from_row(r)
        for r in conn.execute(
            select(t.orders).where(t.OPEN_ORDER).order_by(t.orders.c.id)  # ix_orders_open
        ).mappings()
    ]
    f = t.fee_overrides.c
    fee_overrides = {
        r[0]: (r[1], r[2]) for r in conn.execute(select(f.account_id, f.maker, f.taker))
    }
    open_withdrawals = [
        withdrawal_from_row(r)
        for r in conn.execute(
            select(t.withdrawals)
            .where(t.withdrawals.c.status.not_in(_FINAL_WITHDRAWAL))
            .order_by(t.withdrawals.c.id)
        ).mappings()
    ]
    idempotency, idempotency_closed = _idempotency(conn)
    rp = t.replays.c
    replays = {r[0]: r[1] for r in conn.execute(select(rp.key, rp.expires))}
    sequences = {r[0]: r[1] for r in conn.execute(select(t.meta.c.key, t.meta.c.value))}
    commits = int(sequences.pop(COMMITS, 0))  # the store's, not an engine sequence
    references = _references(conn)
    snapshot = Snapshot(
        assets=assets,
        symbols=symbols,
        accounts=accounts,
        balances=balances,
        open_orders=open_orders,
        fee_overrides=fee_overrides,
        open_withdrawals=open_withdrawals,
        idempotency=idempotency,
        idempotency_closed=idempotency_closed,
        sequences=sequences,
        last_prices={name: ref.last for name, ref in references.items()},
        references=references,
        stp_groups=[
            StpGroup(
                r.id,
                r.owner_account,
                r.name,
                {int(x) for x in r.members.split(",") if x},
                r.created,
                r.updated,
                bool(r.deleted),
            )
            for r in conn.execute(select(t.stp_groups).order_by(t.stp_groups.c.id))
        ],
        replays=replays,
    )
    return snapshot, commits


def _idempotency(
    conn: Connection,
) -> tuple[dict[tuple[str, int, str], tuple[str, int]], dict[tuple[str, int, str], int]]:
    """Every client id kept, and when the order of each order key closed (its ``updated``),
    for those whose order is closed: one join on the orders' primary key, for the order keys
    only (the engine forgets their rows a while after the order closed, so they stay few)."""
    i, o = t.idempotency.c, t.orders.c
    with_orders = t.idempotency.outerjoin(t.orders, (i.scope == "order") & (o.id == i.result_id))
    query = select(
        i.scope, i.account_id, i.client_id, i.fingerprint, i.result_id, o.status, o.updated
    ).select_from(with_orders)
    keys: dict[tuple[str, int, str], tuple[str, int]] = {}
    closed: dict[tuple[str, int, str], int] = {}
    for scope, account, client_id, fp, result_id, status, updated in conn.execute(query):
        key = (scope, account, client_id)
        keys[key] = (fp, result_id)
        if status is not None and status not in t.OPEN_ORDER_STATUSES:
            closed[key] = updated
    return keys, closed


def _references(conn: Connection) -> dict[str, Reference]:
    """Each traded symbol's reference price as last committed, which holds its last trade price
    too (the engine's: its newest trade by id). A symbol that traded before references were
    kept (migration 0022) starts at its newest trade, its history dating from its first (two
    index lookups). A row from before ``since`` was kept (migration 0023) has 0: settled."""
    r, tr = t.reference_prices.c, t.trades.c
    out = {
        name: Reference(price * SCALE + fraction, last, time, since)
        for name, price, fraction, last, time, since in conn.execute(
            select(r.symbol, r.price, r.fraction, r.last, r.time, r.since)
        )
    }
    for (name,) in conn.execute(select(t.symbols.c.name)):
        if name in out:
            continue
        row = conn.execute(
            select(tr.price, tr.time)
            .where(tr.symbol == name)
            .order_by(tr.time.desc(), tr.id.desc())
            .limit(1)
        ).first()
        if row is not None:
            first = conn.execute(select(func.min(tr.time)).where(tr.symbol == name)).scalar_one()
            out[name] = start(row[0], row[1])._replace(since=first)
    return out
