"""Wallet errors. Each is a ``DomainError`` subclass and carries the MEXC code and HTTP status
the wire layer should answer with (``MEXC_CODES``; ``bourse.api.mexc.errors.TABLE`` takes them
in, falling back to the parent class's code when it does not)."""

from __future__ import annotations

from bourse.domain.errors import (
    AmountOutOfRange,
    DomainError,
    InvalidParameter,
    MissingParameter,
    TransferNotAllowed,
)
from bourse.sandbox.chain import InvalidAddress, NetworkNotSupported


class MemoRequired(MissingParameter):
    """This network needs a memo."""


class AddressNotWhitelisted(InvalidParameter):
    """The withdrawal address is not in the account's withdraw address book."""


class WithdrawDisabled(DomainError):
    """Withdrawals of this coin on this network are suspended."""


class WithdrawAmountOutOfRange(AmountOutOfRange):
    """The withdrawal amount is below the minimum (or the fee) or above the maximum."""


class WithdrawalNotFound(DomainError):
    """The withdrawal does not exist."""


class WithdrawalNotCancelable(DomainError):
    """The withdrawal was already broadcast or is final and cannot be cancelled."""


class RemarkTooLong(InvalidParameter):
    """The remark is too long."""


class AccountTypeNotSupported(TransferNotAllowed):
    """This account transfer is not supported."""


class TransferNotFound(DomainError):
    """The transfer does not exist."""


#: error class -> (MEXC code, HTTP status)
MEXC_CODES: dict[type[DomainError], tuple[int, int]] = {
    NetworkNotSupported: (33333, 400),  # param is error
    InvalidAddress: (10212, 400),  # address not in the common-address list, or invalid
    AddressNotWhitelisted: (10212, 400),
    MemoRequired: (44444, 400),  # param cannot be null
    WithdrawDisabled: (10206, 400),  # disabled
    WithdrawAmountOutOfRange: (10097, 400),  # amount is error
    WithdrawalNotFound: (22222, 400),  # record does not exist
    WithdrawalNotCancelable: (730003, 400),  # unsupported operation
    RemarkTooLong: (10268, 400),  # remark too long
    AccountTypeNotSupported: (10103, 400),  # this account transfer is not supported
    TransferNotFound: (22222, 400),
}

__all__ = [
    "AccountTypeNotSupported",
    "AddressNotWhitelisted",
    "InvalidAddress",
    "MEXC_CODES",
    "MemoRequired",
    "NetworkNotSupported",
    "RemarkTooLong",
    "TransferNotFound",
    "WithdrawAmountOutOfRange",
    "WithdrawDisabled",
    "WithdrawalNotCancelable",
    "WithdrawalNotFound",
]
