"""The HTTP status of each domain refusal on the operator API, in one table.

400: the request could never succeed (a bad amount, an impossible account shape, a movement
that names a system account); 404: it names something that does not exist (an account, asset,
symbol, broker, key, withdrawal, refer code...); 409: it conflicts with the current state (a
balance too small, a withdrawal no longer in review, a frozen account, a broker whose state
refuses the transition, a key already bound). The most specific class wins (MRO order); a
``DomainError`` the table does not name is a 409. The MEXC API has its own table
(``bourse.api.mexc.errors``): MEXC answers 400 for nearly all of these.
"""

from __future__ import annotations

from bourse.domain import brokers as b
from bourse.domain import errors as d
from bourse.domain import referrals as rf
from bourse.services.subaccounts import errors as sa

#: the request could never succeed as sent
INVALID = 400
#: it names something that does not exist
NOT_FOUND = 404
#: the current state refuses it
CONFLICT = 409

#: domain error class -> HTTP status of the operator API
STATUS: dict[type[d.DomainError], int] = {
    d.DomainError: CONFLICT,
    # input that could never succeed
    d.InvalidParameter: INVALID,  # amounts, precisions, account shapes, scales that never change
    d.MissingParameter: INVALID,
    d.OrderTypeNotAllowed: INVALID,
    d.TransferNotAllowed: INVALID,
    d.SystemAccountRefused: INVALID,  # a system account takes no such movement, ever
    b.SubAccountCannotApply: INVALID,
    b.OAuthClientInvalid: INVALID,
    b.NotOAuthBroker: INVALID,  # a broker's type never changes
    rf.SelfReferral: INVALID,
    sa.SubAccountNameEmpty: INVALID,
    sa.SubAccountNameInvalid: INVALID,
    sa.SubAccountNoteEmpty: INVALID,
    sa.SubAccountOnly: INVALID,
    sa.KeyNoteEmpty: INVALID,
    sa.KeyPermissionEmpty: INVALID,
    sa.KeyPermissionUnknown: INVALID,
    sa.KeyAccessKeyEmpty: INVALID,
    sa.WrongFundPassword: INVALID,
    sa.MarginNotSupported: INVALID,
    sa.OnceTokenInvalid: INVALID,
    # an id that names nothing
    d.UnknownSymbol: NOT_FOUND,
    d.UnknownAsset: NOT_FOUND,
    d.OrderNotFound: NOT_FOUND,
    d.AccountNotFound: NOT_FOUND,
    d.WithdrawalNotFound: NOT_FOUND,
    d.TransferNotFound: NOT_FOUND,
    d.StpGroupNotFound: NOT_FOUND,
    b.BrokerNotFound: NOT_FOUND,
    b.NotKeyOwner: NOT_FOUND,  # "the API key does not exist or is not yours"
    b.OAuthClientNotFound: NOT_FOUND,
    b.RedirectUriNotRegistered: NOT_FOUND,
    rf.UnknownReferCode: NOT_FOUND,
    sa.SubAccountNotFound: NOT_FOUND,
    sa.KeyNotFound: NOT_FOUND,
    # a conflict with the current state
    d.PriceOutOfBand: CONFLICT,  # relative to the last trade
    d.ApiKeyLimit: CONFLICT,  # the keys the account has now
    d.AddressNotWhitelisted: CONFLICT,  # the account's address book as it is
    d.SymbolNotTrading: CONFLICT,
    d.InsufficientFunds: CONFLICT,
    d.InsufficientBalance: CONFLICT,
    d.PostOnlyWouldTake: CONFLICT,
    d.NoLiquidity: CONFLICT,
    d.TooManyOpenOrders: CONFLICT,
    d.IdempotencyConflict: CONFLICT,
    d.ReplayedRequest: CONFLICT,
    d.AccountFrozen: CONFLICT,
    d.WithdrawDisabled: CONFLICT,
    d.WithdrawalNotCancelable: CONFLICT,  # no longer in review, broadcast, final
    d.DustLimitReached: CONFLICT,
    d.StpGroupRefused: CONFLICT,
    b.BrokerError: CONFLICT,
    b.BrokerStateError: CONFLICT,
    b.BrokerExists: CONFLICT,
    b.KeyAlreadyBound: CONFLICT,
    b.KeyNotBound: CONFLICT,
    b.OAuthClientLimit: CONFLICT,
    b.RedirectUriRegistered: CONFLICT,
    rf.ReferralError: CONFLICT,
    rf.AlreadyInvited: CONFLICT,
    sa.SubAccountError: CONFLICT,
    sa.NotABroker: CONFLICT,
    sa.BrokerNotActive: CONFLICT,
    sa.SubAccountExists: CONFLICT,
    sa.SubAccountFrozen: CONFLICT,
    sa.SubAccountQuotaExceeded: CONFLICT,
    sa.KeyLimitReached: CONFLICT,
    # a bug, never the operator's doing
    d.LedgerImbalance: 500,
}


def status_of(exc: d.DomainError) -> int:
    """The operator API's HTTP status for the refusal ``exc``."""
    for cls in type(exc).__mro__:
        status = STATUS.get(cls)
        if status is not None:
            return status
    return CONFLICT
