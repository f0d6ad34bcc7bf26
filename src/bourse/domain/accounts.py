"""Account kinds and the fixed system accounts.

User, broker-master and broker-sub accounts may never hold a negative balance. System accounts
are the other side of every external flow: chain clearing goes negative as deposits come in
(it mirrors what the platform owes to the outside world), fee revenue fills up with fees, and
rebates payable holds broker rebates until they are paid.
"""

from __future__ import annotations

from enum import StrEnum


class AccountKind(StrEnum):
    USER = "USER"
    BROKER_MASTER = "BROKER_MASTER"
    BROKER_SUB = "BROKER_SUB"
    SYSTEM = "SYSTEM"


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


def may_go_negative(account_id: int) -> bool:
    """Only the accounts mirroring outside money (chain clearing, sandbox funding) may be
    negative."""
    return account_id in (CHAIN_CLEARING, SANDBOX_FUNDING)
