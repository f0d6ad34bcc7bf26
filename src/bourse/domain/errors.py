"""One hierarchy of domain errors.

Every message here is plain English for people (logs, the console, the CLI). The wire layer
(``bourse.api.mexc.errors``) maps each class to a MEXC code, an HTTP status and, where clients
match on MEXC's exact wording, MEXC's message text, in one table; nothing here knows about
HTTP, MEXC codes or MEXC texts. Errors that the wire text needs data from carry it as
attributes (``BelowMinNotional.minimum``), not baked into a wire-shaped message.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base class: a command was refused and nothing was changed."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.__class__.__doc__ or self.__class__.__name__)
        self.message = message or (self.__class__.__doc__ or "").strip()


# --- input / validation -------------------------------------------------------------------
class InvalidParameter(DomainError):
    """A parameter has an invalid value."""


class MissingParameter(DomainError):
    """A mandatory parameter was not sent."""


class PrecisionError(InvalidParameter):
    """An amount has more decimals than allowed."""


class AmountOutOfRange(InvalidParameter):
    """An amount is zero, negative or too large."""


class UnknownSymbol(DomainError):
    """The symbol does not exist."""


class UnknownAsset(DomainError):
    """The asset does not exist."""


class SymbolNotTrading(DomainError):
    """Trading is suspended for this symbol."""


class BelowMinQuantity(InvalidParameter):
    """The order quantity is below the symbol minimum."""


class AboveMaxQuantity(InvalidParameter):
    """The order quantity is above the symbol maximum."""


class PriceOutOfBand(InvalidParameter):
    """A priced order strays too far from the last trade price (``domain.price_band``)."""


class BelowMinNotional(InvalidParameter):
    """The order value is below the symbol minimum."""

    def __init__(self, message: str = "", minimum: str = "") -> None:
        super().__init__(message)
        #: the limit as a decimal string with the quote asset appended, e.g. "5USDT"
        self.minimum = minimum


class AboveMaxNotional(InvalidParameter):
    """The order value is above the symbol maximum."""

    def __init__(self, message: str = "", maximum: str = "") -> None:
        super().__init__(message)
        #: the limit as a decimal string with the quote asset appended, e.g. "1000000USDT"
        self.maximum = maximum


class OrderTypeNotAllowed(DomainError):
    """This order type cannot be placed with these parameters."""


# --- balances -------------------------------------------------------------------------------
class InsufficientFunds(DomainError):
    """Not enough available balance for the order."""


class InsufficientBalance(DomainError):
    """Not enough available balance for the transfer or withdrawal."""


class LedgerImbalance(DomainError):
    """A set of postings does not balance; this is a bug, never a user error."""


# --- orders ---------------------------------------------------------------------------------
class OrderNotFound(DomainError):
    """Unknown order sent."""


class PostOnlyWouldTake(DomainError):
    """A LIMIT_MAKER order would immediately match and take liquidity."""


class NoLiquidity(DomainError):
    """There is no opposing order to match against."""


class TooManyOpenOrders(DomainError):
    """The account has reached the maximum number of open orders."""


# --- idempotency ----------------------------------------------------------------------------
class IdempotencyConflict(DomainError):
    """A client id was reused with different parameters."""


class UnknownClientId(DomainError):
    """No result is kept under the client id: what a command sent only to fetch the first
    result of a retry is refused with, nothing done (the ``refusal`` of a ``ReserveWithdrawal``
    that ``Withdrawals.check_withdrawal`` sends). Never a client's answer."""


# --- accounts -------------------------------------------------------------------------------
class ReplayedRequest(DomainError):
    """The same signed request was already accepted (a replay within its recvWindow)."""


class AccountNotFound(DomainError):
    """The account does not exist."""


class AccountShapeInvalid(InvalidParameter):
    """This kind of account cannot have this parent (``domain.accounts.check_shape``)."""


class AccountFrozen(DomainError):
    """The account is frozen."""

    def __init__(self, message: str = "", account: int | None = None) -> None:
        super().__init__(message)
        #: the frozen account, when the refusal names one (a master acting for a sub-account
        #: learns which of the two is frozen)
        self.account = account


class TransferNotAllowed(DomainError):
    """This transfer is not allowed between these accounts."""


class SystemAccountRefused(TransferNotAllowed):
    """A system account cannot take part in this money movement (``domain.accounts``)."""


class RecipientNotFound(AccountNotFound):
    """No user is known by the account named as a transfer's recipient."""


# --- wallet and chain -----------------------------------------------------------------------
class NetworkNotSupported(InvalidParameter):
    """This network is not supported for the coin."""


class InvalidAddress(InvalidParameter):
    """The address is not valid for the network."""


class ContractMismatch(InvalidParameter):
    """A withdrawal's ``contractAddress`` is not the token contract of its coin on the network
    (or of any network of the coin, when no network was named)."""


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


class ApiKeyLimit(InvalidParameter):
    """The account has as many API keys as it may (MEXC answers it as a bad parameter)."""


class KeyTooManyIps(InvalidParameter):
    """An API key's IP whitelist has more entries than such a key may have."""


class KeyBadIp(InvalidParameter):
    """An entry of an API key's IP whitelist is not an IP address or network."""


class TransferNotFound(DomainError):
    """The transfer does not exist."""


class DustLimitReached(DomainError):
    """The account converted dust as often as a day allows."""


class DustPriceUnsettled(DomainError):
    """A price a dust conversion needs strays too far from its reference price
    (``domain.reference_price``); ``pairs`` names the symbols."""

    def __init__(self, message: str, pairs: tuple[str, ...]) -> None:
        super().__init__(message)
        self.pairs = pairs


class StpGroupNotFound(DomainError):
    """No such STP group among the account's."""


class StpGroupRefused(DomainError):
    """The STP group operation is not allowed (a sub-account, the group limit, a name taken, an
    account that is not the master's or is in another group)."""
