"""The ledger audit (``bourse check``): what must hold between the journal, the balances and
the reservations, as pure rules over figures the store reads in one consistent snapshot.

1. Every posting moves a positive amount between two existing accounts' buckets
   (available or locked), and not from a bucket to itself.
2. Every balance bucket equals what the postings put in minus what they took out.
3. For every asset the balances of all accounts, system accounts included, sum to zero (the
   double-entry rule: chain clearing goes negative as outside money comes in).
4. No balance is negative, except chain clearing's and the sandbox resets' (they mirror money
   owed to the outside).
5. An account's locked balance equals what its open orders reserve plus what its pending
   withdrawals (amount and fee) hold.
6. Every stored account has a shape that can exist (``domain.accounts.check_shape``): a known
   kind, a ``BROKER_SUB`` under an existing user or broker master, every other kind under
   nothing, no stored system account and no id reserved for one. A database written before
   the engine refused impossible shapes may hold one.

``audit`` returns one line per discrepancy, empty when the ledger is sound.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from bourse.domain.accounts import (
    FIRST_USER_ACCOUNT_ID,
    SYSTEM_ACCOUNTS,
    AccountKind,
    check_shape,
    may_go_negative,
)
from bourse.domain.errors import AccountShapeInvalid
from bourse.domain.ledger import AVAILABLE, LOCKED

_BUCKETS = {AVAILABLE: "available", LOCKED: "locked"}

#: (account, asset) -> amount
Amounts = dict[tuple[int, str], int]


@dataclass(frozen=True, slots=True)
class PostingFault:
    """A posting that breaks rule 1 (only the faulty ones are loaded)."""

    id: int
    from_account: int
    from_bucket: int
    to_account: int
    to_bucket: int
    asset: str
    amount: int


@dataclass(slots=True)
class LedgerFigures:
    """What the store holds, summed; see the module docstring for the rules."""

    accounts: set[int]
    #: (account, asset) -> (available, locked) as stored
    balances: dict[tuple[int, str], tuple[int, int]]
    #: (account, asset) -> (available, locked) as the postings sum them
    posted: dict[tuple[int, str], tuple[int, int]]
    #: (account, asset) -> what open orders reserve
    order_holds: Amounts = field(default_factory=dict)
    #: (account, asset) -> what pending withdrawals hold (amount + fee)
    withdrawal_holds: Amounts = field(default_factory=dict)
    suspect_postings: list[PostingFault] = field(default_factory=list)
    #: stored account id -> (kind as stored, parent id); system accounts have no row
    shapes: dict[int, tuple[str, int | None]] = field(default_factory=dict)


def audit(f: LedgerFigures) -> list[str]:
    """One line per discrepancy (none: the ledger is sound)."""
    out = [_posting_fault(p, f.accounts) for p in f.suspect_postings]
    out += filter(None, (_shape_fault(acc, f.shapes) for acc in sorted(f.shapes)))
    keys = sorted(set(f.balances) | set(f.posted) | set(f.order_holds) | set(f.withdrawal_holds))
    totals: dict[str, int] = {}
    for key in keys:
        account, asset = key
        avail, locked = f.balances.get(key, (0, 0))
        p_avail, p_locked = f.posted.get(key, (0, 0))
        totals[asset] = totals.get(asset, 0) + avail + locked
        where = f"balance {account} {asset}"
        if avail != p_avail:
            out.append(f"{where} available: {avail} stored, {p_avail} by the postings")
        if locked != p_locked:
            out.append(f"{where} locked: {locked} stored, {p_locked} by the postings")
        if not may_go_negative(account):
            for name, value in (("available", avail), ("locked", locked)):
                if value < 0:
                    out.append(f"{where} {name} is negative: {value}")
        held = f.order_holds.get(key, 0) + f.withdrawal_holds.get(key, 0)
        if locked != held:
            out.append(
                f"{where} locked: {locked} stored, {held} reserved by open orders "
                f"({f.order_holds.get(key, 0)}) and pending withdrawals "
                f"({f.withdrawal_holds.get(key, 0)})"
            )
    for asset, total in sorted(totals.items()):
        if total != 0:
            out.append(f"asset {asset}: balances of all accounts sum to {total}, not 0")
    return out


def _posting_fault(p: PostingFault, accounts: Iterable[int]) -> str:
    known = set(accounts)
    why = []
    if p.amount <= 0:
        why.append(f"amount {p.amount} is not positive")
    for side, bucket in (("from", p.from_bucket), ("to", p.to_bucket)):
        if bucket not in _BUCKETS:
            why.append(f"{side} bucket {bucket} is unknown")
    for side, acc in (("from", p.from_account), ("to", p.to_account)):
        if acc not in known:
            why.append(f"{side} account {acc} does not exist")
    if (p.from_account, p.from_bucket) == (p.to_account, p.to_bucket):
        why.append("moves a bucket to itself")
    return f"posting {p.id} ({p.asset}): " + "; ".join(why or ["inconsistent"])


def _shape_fault(account: int, shapes: dict[int, tuple[str, int | None]]) -> str | None:
    """What is impossible about stored ``account``'s shape (rule 6), or None."""
    raw, parent = shapes[account]
    where = f"account {account} ({raw})"
    kind = _kind(raw)
    if kind is None:
        return f"account {account}: kind {raw!r} is unknown"
    if account < FIRST_USER_ACCOUNT_ID and kind is not AccountKind.SYSTEM:
        return f"{where}: id {account} is reserved for system accounts"
    parent_kind = None
    if parent is not None:
        if parent in shapes:
            parent_kind = _kind(shapes[parent][0])
            if parent_kind is None:
                return f"{where}: its parent {parent} has an unknown kind"
        elif parent in SYSTEM_ACCOUNTS:
            parent_kind = AccountKind.SYSTEM
        else:
            return f"{where}: its parent {parent} does not exist"
    try:
        check_shape(kind, parent_kind)
    except AccountShapeInvalid as exc:
        return f"{where}: {exc.message}"
    return None


def _kind(raw: str) -> AccountKind | None:
    try:
        return AccountKind(raw)
    except ValueError:
        return None
