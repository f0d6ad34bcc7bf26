"""THE mapping from domain errors to MEXC error codes and HTTP statuses.

Every error leaves the API as ``{"code": <int>, "msg": "<text>"}`` with the HTTP status below.
Client errors are 400; authentication and permission problems are 401 (the CN doc's rule);
rate limiting is 429; a busy store or engine (the request did not take effect: retry) is 503
with ``Retry-After``. Codes are MEXC's, chosen so ccxt's ``mexc.exceptions`` table raises the
closest exception class (for example 30004 -> InsufficientFunds, 700002 -> AuthenticationError,
-1121 -> BadSymbol, 30002 -> InvalidOrder).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from starlette.responses import Response

from bourse.domain import brokers as b
from bourse.domain import errors as d
from bourse.domain import referrals as rf
from bourse.engine.engine import EngineUnavailable
from bourse.services.subaccounts import errors as sa
from bourse.services.throttle import Throttled
from bourse.store.transaction import RETRY_AFTER_S, unavailable

log = logging.getLogger("bourse.api")


class ApiError(Exception):
    """An error with its MEXC code, message and HTTP status."""

    def __init__(
        self, code: int, msg: str, status: int = 400, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.status = status
        self.headers = headers or {}

    def response(self) -> Response:
        body = json.dumps({"code": self.code, "msg": self.msg}, separators=(",", ":"))
        return Response(body, self.status, self.headers, media_type="application/json")


# --- codes the wire layer raises itself --------------------------------------------------------
API_KEY_REQUIRED = 400  # "api key required"
KEY_EXPIRED = 402  # ccxt: AuthenticationError ("API Key expired")
INVALID_KEY = 10072  # "invalid access key"
BAD_SIGNATURE = 700002
BAD_TIMESTAMP = 700003
MANDATORY_PARAM = 700004  # signature/timestamp or orderId/origClientOrderId missing
RECV_WINDOW_TOO_LARGE = 700005
IP_NOT_WHITELISTED = 700006
NO_PERMISSION = 700007
ILLEGAL_CHARACTERS = 700008
SYMBOL_NOT_ALLOWED = 70011  # pair not enabled for this API key
PARAM_ERROR = 33333
PARAM_NULL = 44444
INVALID_SYMBOL = -1121
TOO_MANY_REQUESTS = 429
NOT_FOUND = 404
SERVICE_UNAVAILABLE = 503  # "service not available, please try again" (with Retry-After)

#: domain error class -> (MEXC code, HTTP status); the most specific class wins (MRO order).
TABLE: dict[type[d.DomainError], tuple[int, int]] = {
    d.DomainError: (PARAM_ERROR, 400),
    d.InvalidParameter: (PARAM_ERROR, 400),
    d.ApiKeyLimit: (PARAM_ERROR, 400),  # the operator API answers it 409 (operations.refusals)
    d.KeyTooManyIps: (730703, 400),  # MEXC's key-creation codes (sub-account and user keys)
    d.KeyBadIp: (730704, 400),
    d.MissingParameter: (PARAM_NULL, 400),
    d.PrecisionError: (10096, 400),  # amount decimal places is too long
    d.AmountOutOfRange: (10097, 400),  # amount is error
    d.UnknownSymbol: (INVALID_SYMBOL, 400),
    d.UnknownAsset: (10232, 400),  # currency does not exist
    d.SymbolNotTrading: (30000, 400),  # trading suspended for the symbol
    d.BelowMinQuantity: (30002, 400),
    d.AboveMaxQuantity: (30003, 400),
    d.BelowMinNotional: (30002, 400),  # "...cannot be less than:5USDT"
    d.AboveMaxNotional: (30003, 400),
    d.OrderTypeNotAllowed: (30041, 400),
    d.InsufficientFunds: (30004, 400),  # "Insufficient position"
    d.InsufficientBalance: (10101, 400),
    d.PriceOutOfBand: (-1013, 400),  # "Filter failure: PERCENT_PRICE_BY_SIDE"
    d.OrderNotFound: (-2013, 400),  # "Order does not exist."
    d.PostOnlyWouldTake: (30041, 400),
    d.NoLiquidity: (30025, 400),
    d.TooManyOpenOrders: (30029, 400),
    d.IdempotencyConflict: (PARAM_ERROR, 400),
    d.UnknownClientId: (PARAM_ERROR, 400),  # never sent: a lookup's answer (wallet.withdrawals)
    d.ReplayedRequest: (26, 400),  # operation not allowed (ccxt: ExchangeError, not retried)
    d.AccountNotFound: (10001, 401),
    d.RecipientNotFound: (10001, 400),  # user does not exist (a client error, not auth)
    d.AccountShapeInvalid: (PARAM_ERROR, 400),  # only an operator or the services open accounts
    d.AccountFrozen: (30018, 400),  # ccxt: AccountSuspended
    d.TransferNotAllowed: (10103, 400),
    d.SystemAccountRefused: (10103, 400),  # the account transfer is not supported
    d.LedgerImbalance: (500, 500),
    # broker program
    b.BrokerError: (PARAM_ERROR, 400),
    b.BrokerNotFound: (22222, 400),  # record does not exist
    b.BrokerExists: (730101, 400),  # already exists
    b.BrokerStateError: (730100, 400),  # unusual user status
    b.KeyAlreadyBound: (730003, 400),  # unsupported operation
    b.KeyNotBound: (22222, 400),
    b.NotKeyOwner: (730706, 400),  # API key not found
    b.KeyOutOfScope: (NO_PERMISSION, 401),  # No permission to access the endpoint
    b.SubAccountCannotApply: (NO_PERMISSION, 401),  # No permission to access the endpoint
    b.OAuthClientInvalid: (PARAM_ERROR, 400),
    b.OAuthClientNotFound: (22222, 400),  # record does not exist
    b.OAuthClientLimit: (730003, 400),  # unsupported operation
    # independent brokers: sub-accounts and their keys
    sa.SubAccountError: (33333, 400),
    sa.NotABroker: (401, 401),  # No authority
    sa.BrokerNotActive: (730100, 400),  # unusual user status
    sa.SubAccountNameEmpty: (730600, 400),
    sa.SubAccountNameInvalid: (730601, 400),
    sa.SubAccountNoteEmpty: (730602, 400),
    sa.SubAccountExists: (730101, 400),  # user name already exists
    sa.SubAccountNotFound: (140001, 400),  # sub account does not exist
    sa.SubAccountFrozen: (140002, 400),  # sub account is forbidden
    sa.SubAccountQuotaExceeded: (730003, 400),  # unsupported operation
    sa.SubAccountOnly: (700007, 401),  # No permission to access the endpoint
    sa.KeyNoteEmpty: (730700, 400),
    sa.KeyPermissionEmpty: (730701, 400),
    sa.KeyPermissionUnknown: (730702, 400),
    sa.KeyLimitReached: (730705, 400),
    sa.KeyNotFound: (730706, 400),
    sa.KeyAccessKeyEmpty: (730707, 400),
    sa.WrongFundPassword: (730002, 400),  # invalid param
    sa.MarkupOutOfRange: (33333, 400),
    sa.MarginNotSupported: (730003, 400),  # unsupported operation: a spot-only venue
    sa.OnceTokenInvalid: (PARAM_ERROR, 400),
    # wallet and chain
    d.NetworkNotSupported: (PARAM_ERROR, 400),  # param is error
    d.ContractMismatch: (PARAM_ERROR, 400),  # param is error
    d.InvalidAddress: (10212, 400),  # address not in the common-address list, or invalid
    d.AddressNotWhitelisted: (10212, 400),
    d.MemoRequired: (PARAM_NULL, 400),  # param cannot be null
    d.WithdrawDisabled: (10206, 400),  # disabled
    d.WithdrawAmountOutOfRange: (10097, 400),  # amount is error
    d.WithdrawalNotFound: (22222, 400),  # record does not exist
    d.WithdrawalNotCancelable: (730003, 400),  # unsupported operation
    d.RemarkTooLong: (10268, 400),  # remark too long
    d.AccountTypeNotSupported: (10103, 400),  # this account transfer is not supported
    d.TransferNotFound: (22222, 400),
    d.DustLimitReached: (26, 400),  # operation not allowed
    d.DustPriceUnsettled: (26, 400),
    d.StpGroupNotFound: (22222, 400),  # record does not exist
    d.StpGroupRefused: (26, 400),  # operation not allowed
    # user referrals
    rf.ReferralError: (PARAM_ERROR, 400),
    rf.UnknownReferCode: (22222, 400),  # record does not exist
    rf.AlreadyInvited: (730003, 400),  # unsupported operation
    rf.SelfReferral: (730003, 400),
}

#: MEXC's message text where clients match on it (the domain's own messages are plain English);
#: a callable builds the text from the error's attributes. The most specific class wins.
_MESSAGES: dict[type[d.DomainError], str | Callable[[Any], str]] = {
    d.InsufficientFunds: "Insufficient position",
    d.OrderNotFound: "Order does not exist.",
    d.PriceOutOfBand: "Filter failure: PERCENT_PRICE_BY_SIDE",
    d.InsufficientBalance: "Insufficient balance",
    d.BelowMinNotional: lambda e: f"minimum transaction volume cannot be less than:{e.minimum}",
    d.AboveMaxNotional: lambda e: f"maximum transaction volume cannot be greater than:{e.maximum}",
    sa.NotABroker: "No authority",
}


def code_for(exc: d.DomainError) -> tuple[int, int]:
    for cls in type(exc).__mro__:
        hit = TABLE.get(cls)
        if hit is not None:
            return hit
    return PARAM_ERROR, 400


def from_domain(exc: d.DomainError) -> ApiError:
    code, status = code_for(exc)
    msg = exc.message or str(exc)
    for cls in type(exc).__mro__:
        text = _MESSAGES.get(cls)
        if text is not None:
            msg = text if isinstance(text, str) else text(exc)
            break
    return ApiError(code, msg, status)


def to_response(exc: BaseException) -> Response:
    """The MEXC error response for any exception raised while handling a request."""
    if isinstance(exc, ApiError):
        return exc.response()
    if isinstance(exc, d.DomainError):
        return from_domain(exc).response()
    if isinstance(exc, Throttled):  # a credential check over its budget (a fund password)
        return ApiError(
            TOO_MANY_REQUESTS,
            "Too Many Requests",
            429,
            {"Retry-After": str(exc.retry_after)},
        ).response()
    if isinstance(exc, EngineUnavailable) or unavailable(exc):
        return busy().response()
    log.exception("unhandled error", exc_info=exc)
    return ApiError(500, "Internal error", 500).response()


def busy() -> ApiError:
    """HTTP 503 with ``Retry-After``: the engine or the database could not take the request
    now (nothing was written); the same request may be sent again."""
    return ApiError(
        SERVICE_UNAVAILABLE,
        "service not available, please try again",
        503,
        {"Retry-After": str(RETRY_AFTER_S)},
    )


def missing(name: str, code: int = PARAM_NULL) -> ApiError:
    return ApiError(
        code, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def invalid(name: str, why: str = "") -> ApiError:
    return ApiError(PARAM_ERROR, f"Parameter '{name}' is invalid" + (f": {why}" if why else "."))
