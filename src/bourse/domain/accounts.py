"""Account kinds and the fixed system accounts.

User, broker-master and broker-sub accounts may never hold a negative balance. System accounts
are the other side of every external flow: chain clearing goes negative as deposits come in
(it mirrors what the platform owes to the outside world), fee revenue fills up with fees, and
rebates payable holds broker rebates until they are paid.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from bourse.domain.errors import AccountShapeInvalid, SystemAccountRefused


class AccountKind(StrEnum):
    USER = "USER"
    BROKER_MASTER = "BROKER_MASTER"
    BROKER_SUB = "BROKER_SUB"
    SYSTEM = "SYSTEM"


#: the kinds a sub-account may hang under: a broker's master (broker API) or a user (MEXC's
#: normal sub-account API); never another sub-account or a system account
MAIN_KINDS = frozenset({AccountKind.USER, AccountKind.BROKER_MASTER})


def check_shape(kind: AccountKind, parent: AccountKind | None) -> None:
    """Refuse an account that cannot exist: ``parent`` is the kind of the parent account
    (``None`` for none). A ``BROKER_SUB`` needs a main account (user or broker master) as its
    parent; every other kind has none, and system accounts are fixed (never opened)."""
    if kind is AccountKind.SYSTEM:
        raise AccountShapeInvalid("system accounts are fixed")
    if kind is AccountKind.BROKER_SUB:
        if parent is None:
            raise AccountShapeInvalid("a BROKER_SUB account needs a parent account")
        if parent not in MAIN_KINDS:
            raise AccountShapeInvalid(
                f"a BROKER_SUB account's parent must be a USER or BROKER_MASTER account, "
                f"not {parent}"
            )
    elif parent is not None:
        raise AccountShapeInvalid(f"a {kind} account takes no parent (only BROKER_SUB does)")


#: how the sub-account services name a sub-account's ledger account: this prefix, then the name
#: its master gave it, so a refusal can name it as its owners know it (``named``)
SUB_ACCOUNT_PREFIX = "sub:"


def named(account_id: int, kind: AccountKind, name: str) -> str:
    """An account as a refusal names it: a sub-account by its name (``sub account
    'alice2024'``, as the sub-account services say it), any other by its id."""
    if kind is AccountKind.BROKER_SUB and name.startswith(SUB_ACCOUNT_PREFIX):
        return f"sub account {name.removeprefix(SUB_ACCOUNT_PREFIX)!r}"
    return f"account {account_id}"


#: Fixed ids of the system accounts (ids below 100 are reserved for the system).
FEE_REVENUE = 1
REBATES_PAYABLE = 2
CHAIN_CLEARING = 3
#: takes small balances and pays MX for them (``capital/convert``); funded with MX by the operator
DUST_DESK = 4
#: the other side of a sandbox reset (demo mode): takes what it removes, pays what it restores;
#: like chain clearing it mirrors money from outside, so it may be negative
SANDBOX_FUNDING = 5

SYSTEM_ACCOUNTS = {
    FEE_REVENUE: "fee revenue",
    REBATES_PAYABLE: "broker rebates payable",
    CHAIN_CLEARING: "chain deposits/withdrawals clearing",
    DUST_DESK: "dust conversion desk",
    SANDBOX_FUNDING: "sandbox resets (demo mode)",
}

FIRST_USER_ACCOUNT_ID = 100

#: a money movement that names an account: a deposit credited to it, a withdrawal from it, a
#: transfer from or to it, a rebate paid to it
Movement = Literal["deposit", "withdrawal", "transfer", "rebate"]

#: The system accounts each movement may name: only a deposit may, to the dust desk, which pays
#: MX out of what the operator funds it with (``bourse deposit 4 MX <amount>``). A deposit to
#: chain clearing would post from that account to itself, one to sandbox funding would move
#: outside money between its two mirrors, fee revenue and rebates payable hold only what fees
#: put there, and withdrawals and transfers move customers' money. The engine's own flows
#: (fees, settled withdrawals, dust, sandbox resets, rebates out of fee revenue) post to system
#: accounts directly, never as one of these movements.
SYSTEM_TARGETS: dict[Movement, frozenset[int]] = {"deposit": frozenset({DUST_DESK})}


def check_movement(movement: Movement, account_id: int, kind: AccountKind) -> None:
    """Refuse a ``movement`` that names a system account it may not (``SYSTEM_TARGETS``)."""
    if kind is AccountKind.SYSTEM and account_id not in SYSTEM_TARGETS.get(movement, ()):
        name = SYSTEM_ACCOUNTS.get(account_id, "reserved")
        raise SystemAccountRefused(
            f"account {account_id}, {name}, is a system account and takes no {movement}"
        )


def may_go_negative(account_id: int) -> bool:
    """Only the accounts mirroring outside money (chain clearing, sandbox funding) may be
    negative."""
    return account_id in (CHAIN_CLEARING, SANDBOX_FUNDING)
