"""Wallet states and MEXC's numeric status codes (reference section 2.4 and 1.4).

Deposits (the chain's view, ``chain_deposits.status``):

======== ======================================= =====
ours     meaning                                 MEXC
======== ======================================= =====
SMALL    below the network's deposit minimum     1 SMALL (never credited)
PENDING  seen on chain, waiting for confirmations 4 PENDING
SUCCESS  credited to the account                 5 SUCCESS
======== ======================================= =====

Withdrawals (the engine's ``WithdrawalStatus`` plus whether the chain included the transaction):

============================== ==================
ours                           MEXC
============================== ==================
REVIEW                         2 AUDITING
PENDING                        1 APPLY
PROCESSING, not yet in a block 4 PROCESSING
PROCESSING, in a block         6 WAIT_CONFIRM
SUCCESS                        7 SUCCESS
FAILED (the chain said so)     8 FAILED
CANCELED (before broadcast)    9 CANCEL
============================== ==================
"""

from __future__ import annotations

from bourse.domain.wallet import WithdrawalStatus

DEPOSIT_STATUS_NAMES = {
    1: "SMALL",
    2: "TIME_DELAY",
    3: "LARGE_DELAY",
    4: "PENDING",
    5: "SUCCESS",
    6: "AUDITING",
    7: "REJECTED",
    8: "REFUND",
    9: "PRE_SUCCESS",
    10: "INVALID",
    11: "RESTRICTED",
    12: "COMPLETED",
}
DEPOSIT_STATUS_CODES = {v: k for k, v in DEPOSIT_STATUS_NAMES.items()}

#: chain deposit status -> MEXC code
DEPOSIT_CODE = {"SMALL": 1, "PENDING": 4, "SUCCESS": 5}
#: MEXC code -> chain deposit statuses that show as it
DEPOSIT_BY_CODE: dict[int, tuple[str, ...]] = {1: ("SMALL",), 4: ("PENDING",), 5: ("SUCCESS",)}
#: statuses a user can see (UNKNOWN payments belong to no account)
VISIBLE_DEPOSITS = ("SMALL", "PENDING", "SUCCESS")

WITHDRAW_STATUS_NAMES = {
    1: "APPLY",
    2: "AUDITING",
    3: "WAIT",
    4: "PROCESSING",
    5: "WAIT_PACKAGING",
    6: "WAIT_CONFIRM",
    7: "SUCCESS",
    8: "FAILED",
    9: "CANCEL",
    10: "MANUAL",
}
WITHDRAW_STATUS_CODES = {v: k for k, v in WITHDRAW_STATUS_NAMES.items()}

#: MEXC code -> engine statuses that can show as it
WITHDRAW_BY_CODE: dict[int, tuple[WithdrawalStatus, ...]] = {
    1: (WithdrawalStatus.PENDING,),
    2: (WithdrawalStatus.REVIEW,),
    4: (WithdrawalStatus.PROCESSING,),
    6: (WithdrawalStatus.PROCESSING,),
    7: (WithdrawalStatus.SUCCESS,),
    8: (WithdrawalStatus.FAILED,),
    9: (WithdrawalStatus.CANCELED,),
}


def withdraw_code(status: WithdrawalStatus, in_block: bool) -> int:
    """MEXC's numeric withdraw status for an engine status."""
    if status is WithdrawalStatus.PROCESSING:
        return 6 if in_block else 4
    return {
        WithdrawalStatus.PENDING: 1,
        WithdrawalStatus.REVIEW: 2,
        WithdrawalStatus.SUCCESS: 7,
        WithdrawalStatus.FAILED: 8,
        WithdrawalStatus.CANCELED: 9,
    }[status]


def parse_code(value: str | int | None, names: dict[str, int]) -> int | None:
    """A status filter as sent: a number ("5") or a name ("SUCCESS"); ``None`` if absent.
    Unknown values give -1 (matches nothing)."""
    if value is None or value == "":
        return None
    text = str(value).strip().upper()
    if text.isascii() and text.isdigit():
        return int(text)
    return names.get(text, -1)
