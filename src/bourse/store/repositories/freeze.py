"""A frozen account, decided inside the transaction that would give it something new.

The engine decides a frozen account's orders, transfers and withdrawals in the step that
applies them. What it gets outside the engine (an API key, a renewal, a listenKey or a longer
life for one, a broker binding, an OAuth token) is written by a transaction here, and
``refuse_frozen`` reads the freeze in that transaction: on PostgreSQL under a share lock on the
account's row, which the engine's commit of a freeze (an upsert of that row) waits for; on
SQLite the transaction's write lock (``BEGIN IMMEDIATE``) already keeps the engine's commit
out. So a freeze either committed before the check, which refuses, or commits after the new
thing is stored: nothing is stored for an account after its freeze was acknowledged. Rows are
locked one at a time by ascending id, the order the engine writes changed accounts in
(``batch_writes``), so a check of two accounts (a master acting for its sub-account) and a
batch changing both never wait on each other.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from bourse.domain.accounts import AccountKind, named
from bourse.domain.errors import AccountFrozen
from bourse.store import tables as t

_a = t.accounts.c


def refuse_frozen(conn: Connection, *accounts: int) -> None:
    """Raise ``AccountFrozen`` (naming the account) if one of ``accounts`` is frozen, in the
    caller's write transaction ``conn``; an account the database does not hold is left to the
    caller's other checks."""
    lock = conn.dialect.name == "postgresql"
    for account in sorted(set(accounts)):  # one row at a time, in the engine's order
        q = select(_a.frozen, _a.kind, _a.name).where(_a.id == account)
        if lock:
            q = q.with_for_update(read=True)
        row = conn.execute(q).first()
        if row is not None and row.frozen:
            who = named(account, AccountKind(row.kind), row.name or "")
            raise AccountFrozen(f"{who} is frozen", account)
