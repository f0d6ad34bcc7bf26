"""The sub-account service's errors; their MEXC codes are in ``bourse.api.mexc.errors.TABLE``."""

from __future__ import annotations

from bourse.domain.errors import DomainError, InvalidParameter


class SubAccountError(DomainError):
    """Sub-account operation refused."""


class NotABroker(SubAccountError):
    """No authority: the calling account is not an independent broker's master account."""


class BrokerNotActive(SubAccountError):
    """The broker is not an approved independent broker."""


class SubAccountNameEmpty(SubAccountError):
    """sub-account name cannot be empty"""


class SubAccountNameInvalid(SubAccountError):
    """sub-account name must be 8 to 32 letters and digits"""


class SubAccountNoteEmpty(SubAccountError):
    """sub-account note cannot be empty"""


class SubAccountExists(SubAccountError):
    """user name already exists"""


class SubAccountNotFound(SubAccountError):
    """sub account does not exist"""


class SubAccountFrozen(SubAccountError):
    """sub account is forbidden"""


class SubAccountQuotaExceeded(SubAccountError):
    """the sub-account limit of this account is reached"""


class SubAccountOnly(SubAccountError):
    """this endpoint is for sub-account API keys only"""


class KeyNoteEmpty(SubAccountError):
    """note cannot be empty"""


class KeyPermissionEmpty(SubAccountError):
    """permission cannot be empty"""


class KeyPermissionUnknown(SubAccountError):
    """permission does not exist"""


class KeyLimitReached(SubAccountError):
    """at most 30 API keys per account"""


class KeyNotFound(SubAccountError):
    """API key not found"""


class KeyAccessKeyEmpty(SubAccountError):
    """apiKey cannot be empty"""


class WrongFundPassword(SubAccountError):
    """fund password is wrong"""


class MarkupOutOfRange(InvalidParameter):
    """fee markup is out of the allowed range"""


class MarginNotSupported(SubAccountError):
    """margin trading is not supported: Bourse is a spot-only venue"""


class OnceTokenInvalid(SubAccountError):
    """This login link has expired or was already used."""
