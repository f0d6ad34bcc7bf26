"""The ledger as stored: balances rebuilt from the postings alone must equal the stored
balances, and every asset must sum to zero over all accounts (system accounts included)."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select

from bourse.store import tables as t
from bourse.store.db import make_engine


def assert_ledger_balanced(url: str) -> dict[tuple[int, str], list[int]]:
    """Check the stored ledger of the database at ``url``; returns its balances."""
    db = make_engine(url)
    try:
        with db.connect() as conn:
            sums: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
            p = t.postings.c
            for fa, fb, ta, tb, asset, amount in conn.execute(
                select(p.from_account, p.from_bucket, p.to_account, p.to_bucket, p.asset, p.amount)
            ):
                assert amount > 0
                sums[(fa, asset)][fb] -= amount
                sums[(ta, asset)][tb] += amount
            b = t.balances.c
            stored = {
                (r[0], r[1]): [r[2], r[3]]
                for r in conn.execute(select(b.account_id, b.asset, b.available, b.locked))
            }
    finally:
        db.dispose()
    nonzero = {k: v for k, v in stored.items() if v != [0, 0]}
    assert nonzero == {k: v for k, v in sums.items() if v != [0, 0]}
    totals: dict[str, int] = defaultdict(int)
    for (_, asset), (avail, locked) in stored.items():
        totals[asset] += avail + locked
    assert all(v == 0 for v in totals.values()), totals
    return stored
