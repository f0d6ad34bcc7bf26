"""The double-entry ledger.

Each account holds two buckets per asset, *available* and *locked*. Every change to any bucket
is a posting: ``amount`` moves from one (account, bucket) to another within one asset, so the
sum over all buckets of all accounts, system accounts included, is zero for every asset at all
times. Locking funds for an order is itself a posting (available -> locked of the same account),
which is what keeps locked balances reconcilable with the journal (peatio #151 is the classic
drift this rules out).

The ledger refuses a posting that would take a non-system bucket below zero. Callers check
balances before they start posting, so a command never fails half-way; the check here is the
last line of defence and signals a bug.
"""

from __future__ import annotations

from typing import Final, TypeAlias

from mypy_extensions import mypyc_attr

from bourse.domain.accounts import may_go_negative
from bourse.domain.errors import InsufficientBalance, LedgerImbalance

AVAILABLE: Final = 0
LOCKED: Final = 1


@mypyc_attr(native_class=False)  # an exception: a regular Python class when compiled
class LedgerCorrupted(RuntimeError):
    """An invariant broke mid-command (a bug): not a DomainError, so the engine reloads its
    state from the store instead of treating the command as cleanly refused."""


#: One movement of ``amount`` of ``asset`` between two buckets, a plain tuple laid out as
#: ``(from_account, from_bucket, to_account, to_bucket, asset, amount, kind, ref)`` (the column
#: order of the ``postings`` table, which the store and the bus codec rely on), read by the
#: positions below. Not a NamedTuple on purpose: the garbage collector untracks a plain tuple of
#: ints and strs at its first collection, never a tuple subclass, and the journal holds about
#: 1.6 postings per command until the engine drains it, so full collections walked them all
#: (14-18% of ``bench/engine.py``'s run). ``Final`` lets mypy type ``p[P_ASSET]`` as ``str``.
Posting: TypeAlias = tuple[int, int, int, int, str, int, str, int]
P_FROM_ACCOUNT: Final = 0
P_FROM_BUCKET: Final = 1
P_TO_ACCOUNT: Final = 2
P_TO_BUCKET: Final = 3
P_ASSET: Final = 4
P_AMOUNT: Final = 5
P_KIND: Final = 6
P_REF: Final = 7


class Ledger:
    """Balances plus the journal of postings not yet handed to the store."""

    __slots__ = ("balances", "journal", "touched", "pairs")

    def __init__(self) -> None:
        #: (account, asset) -> [available, locked]; the list is mutated in place.
        self.balances: dict[tuple[int, str], list[int]] = {}
        #: postings since the engine last drained them (one batch).
        self.journal: list[Posting] = []
        #: (account, asset) keys changed since the last drain.
        self.touched: set[tuple[int, str]] = set()
        #: (base, quote) -> account -> its base and quote buckets: the match loop's look-up
        #: (``matching.settlement.buckets``). Every key behind it is in ``touched``, so it is
        #: emptied with ``touched``; a bucket list is mutated in place, never replaced, by
        #: everything that writes balances while matching runs.
        self.pairs: dict[tuple[str, str], dict[int, tuple[list[int], list[int]]]] = {}

    # --- reads -------------------------------------------------------------------------------
    def available(self, account: int, asset: str) -> int:
        bal = self.balances.get((account, asset))
        return bal[0] if bal else 0

    def locked(self, account: int, asset: str) -> int:
        bal = self.balances.get((account, asset))
        return bal[1] if bal else 0

    def account_balances(self, account: int) -> dict[str, tuple[int, int]]:
        return {a: (b[0], b[1]) for (acc, a), b in self.balances.items() if acc == account}

    # --- writes ------------------------------------------------------------------------------
    def post(
        self,
        from_account: int,
        from_bucket: int,
        to_account: int,
        to_bucket: int,
        asset: str,
        amount: int,
        kind: str,
        ref: int = 0,
    ) -> None:
        """Move ``amount`` (> 0) between two buckets; zero amounts are ignored."""
        if amount <= 0:
            if amount == 0:
                return
            raise LedgerImbalance(f"negative posting {amount} {asset} ({kind})")
        balances = self.balances
        src_key = (from_account, asset)
        src = balances.get(src_key)
        if src is None:
            src = balances[src_key] = [0, 0]
        if src[from_bucket] < amount and not may_go_negative(from_account):
            raise InsufficientBalance(
                f"posting {kind} would overdraw account {from_account} {asset}"
            )
        dst_key = (to_account, asset)
        dst = balances.get(dst_key)
        if dst is None:
            dst = balances[dst_key] = [0, 0]
        src[from_bucket] -= amount
        dst[to_bucket] += amount
        self.journal.append(
            (from_account, from_bucket, to_account, to_bucket, asset, amount, kind, ref)
        )
        touched = self.touched
        touched.add(src_key)
        touched.add(dst_key)

    def lock(self, account: int, asset: str, amount: int, kind: str, ref: int) -> None:
        """available -> locked of one account (``post`` flattened: it is on every order)."""
        self._move(account, AVAILABLE, LOCKED, asset, amount, kind, ref)

    def unlock(self, account: int, asset: str, amount: int, kind: str, ref: int) -> None:
        """locked -> available of one account."""
        self._move(account, LOCKED, AVAILABLE, asset, amount, kind, ref)

    def _move(
        self, account: int, src: int, dst: int, asset: str, amount: int, kind: str, ref: int
    ) -> None:
        if amount <= 0:
            if amount == 0:
                return
            raise LedgerImbalance(f"negative posting {amount} {asset} ({kind})")
        key = (account, asset)
        bal = self.balances.get(key)
        if bal is None:
            bal = self.balances[key] = [0, 0]
        if bal[src] < amount and not may_go_negative(account):
            raise InsufficientBalance(f"posting {kind} would overdraw account {account} {asset}")
        bal[src] -= amount
        bal[dst] += amount
        self.journal.append((account, src, account, dst, asset, amount, kind, ref))
        self.touched.add(key)

    def drain(self) -> tuple[list[Posting], set[tuple[int, str]]]:
        """Hand the journal and touched keys to the caller and start afresh."""
        journal, touched = self.journal, self.touched
        self.journal, self.touched, self.pairs = [], set(), {}
        return journal, touched

    # --- invariants --------------------------------------------------------------------------
    def totals(self) -> dict[str, int]:
        """Sum of available + locked over all accounts per asset: zero when balanced."""
        out: dict[str, int] = {}
        for (_, asset), (avail, locked) in self.balances.items():
            out[asset] = out.get(asset, 0) + avail + locked
        return out

    def check(self) -> None:
        """Raise if any asset does not sum to zero or a non-system bucket is negative."""
        for asset, total in self.totals().items():
            if total != 0:
                raise LedgerImbalance(f"{asset} sums to {total}, not zero")
        for (account, asset), (avail, locked) in self.balances.items():
            if (avail < 0 or locked < 0) and not may_go_negative(account):
                raise LedgerImbalance(f"account {account} {asset} is negative")
