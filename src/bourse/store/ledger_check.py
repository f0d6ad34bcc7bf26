"""The figures of the ledger audit (``bourse.domain.ledger_check``), read in ONE consistent snapshot,
so a live database (a server committing meanwhile) is audited as of one instant.

Sums are computed by the database (``GROUP BY``); only postings that break the per-posting
rules are loaded one by one.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, and_, func, or_, select

from bourse.domain.accounts import SYSTEM_ACCOUNTS
from bourse.domain.ledger import AVAILABLE, LOCKED
from bourse.domain.ledger_check import LedgerFigures, PostingFault
from bourse.domain.orders import BUY
from bourse.domain.wallet import FINAL_WITHDRAWAL
from bourse.store import tables as t

_FINAL = tuple(str(s) for s in FINAL_WITHDRAWAL)
#: how many faulty postings are loaded at most (each is one line of the report)
MAX_FAULTS = 1000


def ledger_figures(db: Engine) -> LedgerFigures:
    """Everything ``domain.audit.audit`` needs, from one snapshot of ``db``."""
    with db.connect() as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        return _figures(conn)


def _figures(conn: Connection) -> LedgerFigures:
    # system accounts exist without a row (the engine creates them in memory)
    a = t.accounts.c
    shapes = {
        int(r[0]): (str(r[1]), None if r[2] is None else int(r[2]))
        for r in conn.execute(select(a.id, a.kind, a.parent_id))
    }
    accounts = set(shapes) | set(SYSTEM_ACCOUNTS)
    b = t.balances.c
    balances = {
        (int(r[0]), r[1]): (int(r[2]), int(r[3]))
        for r in conn.execute(select(b.account_id, b.asset, b.available, b.locked))
    }
    p = t.postings.c
    posted: dict[tuple[int, str], list[int]] = {}
    for account, bucket, sign in (
        (p.to_account, p.to_bucket, 1),
        (p.from_account, p.from_bucket, -1),
    ):
        q = select(account, bucket, p.asset, func.sum(p.amount)).group_by(account, bucket, p.asset)
        for acc, bkt, asset, total in conn.execute(q):
            if bkt in (AVAILABLE, LOCKED):
                posted.setdefault((int(acc), asset), [0, 0])[bkt] += sign * int(total)
    o, s = t.orders.c, t.symbols.c
    holds = (
        select(o.account_id, o.side, s.base, s.quote, func.sum(o.locked))
        .join_from(t.orders, t.symbols, o.symbol == s.name)
        .where(t.OPEN_ORDER)  # ix_orders_open
        .group_by(o.account_id, o.side, s.base, s.quote)
    )
    order_holds: dict[tuple[int, str], int] = {}
    for acc, side, base, quote, total in conn.execute(holds):
        key = (int(acc), quote if int(side) == BUY else base)
        order_holds[key] = order_holds.get(key, 0) + int(total or 0)
    w = t.withdrawals.c
    wq = (
        select(w.account_id, w.asset, func.sum(w.amount + w.fee))
        .where(w.status.not_in(_FINAL))
        .group_by(w.account_id, w.asset)
    )
    withdrawal_holds = {(int(r[0]), r[1]): int(r[2] or 0) for r in conn.execute(wq)}
    bad = (
        select(t.postings)
        .where(
            or_(
                p.amount <= 0,
                p.from_bucket.not_in((AVAILABLE, LOCKED)),
                p.to_bucket.not_in((AVAILABLE, LOCKED)),
                *(
                    and_(side.not_in(select(t.accounts.c.id)), side.not_in(list(SYSTEM_ACCOUNTS)))
                    for side in (p.from_account, p.to_account)
                ),
                and_(p.from_account == p.to_account, p.from_bucket == p.to_bucket),
            )
        )
        .order_by(p.id)
        .limit(MAX_FAULTS)
    )
    faults = [
        PostingFault(
            int(r.id), r.from_account, r.from_bucket, r.to_account, r.to_bucket, r.asset, r.amount
        )
        for r in conn.execute(bad)
    ]
    return LedgerFigures(
        accounts=accounts,
        balances=balances,
        posted={k: (v[0], v[1]) for k, v in posted.items()},
        order_holds=order_holds,
        withdrawal_holds=withdrawal_holds,
        suspect_postings=faults,
        shapes=shapes,
    )
