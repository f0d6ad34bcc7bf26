"""What the console says when something is refused: one table, domain error → sentence.

The API answers the same refusals with MEXC's codes (``bourse.api.mexc.errors.TABLE`` maps each
domain error class to one); a person reading a page gets a sentence instead, saying what
happened and what to do. The most specific class wins (MRO order); an error not listed here
shows its own message, which the domain writes in plain English.
"""

from __future__ import annotations

from bourse.domain import brokers as b
from bourse.domain import errors as e

#: what a page says to an address or form holding text that cannot be stored as sent: a NUL
#: character, or bytes that are not UTF-8 text (``bourse.web.readable``; 400)
UNREADABLE = (
    "A field of the form, or the page address, holds a character that cannot be stored (NUL, "
    "or text that is not UTF-8). Nothing was changed."
)

#: what a part of a page refreshed in place (htmx), or the trade page's script, is told when
#: the server failed (500), or could not take the request now (503: the store or engine busy)
FAILED = "Something went wrong on the server. Please try again in a moment."
BUSY = "The server is busy right now. Please try again in a moment."

#: domain error class → what the console says
SENTENCES: dict[type[Exception], str] = {
    b.KeyAlreadyBound: (
        "This key is bound to a broker now, or was bound once before. A key can be bound only "
        "once: create a new key for another broker."
    ),
    b.KeyNotBound: "This key is not bound to a broker, so there is nothing to release.",
    b.NotKeyOwner: "That API key does not exist or belongs to another account.",
    b.BrokerNotFound: "That broker does not exist.",
    b.BrokerStateError: "That broker is not approved right now, so keys cannot be bound to it.",
    b.BrokerExists: (
        "This account, or that broker code, has already applied. An account applies once; "
        "choose another code if the code was taken."
    ),
    b.SubAccountCannotApply: "A sub-account cannot become a broker; its main account can.",
    e.UnknownSymbol: "That trading pair is not listed here.",
    e.InsufficientFunds: "Your available balance is too low for this order.",
    e.InsufficientBalance: "Your available balance is too low for this amount.",
    e.PriceOutOfBand: "That price is too far from the last trade price; choose a closer one.",
    e.BelowMinQuantity: "That quantity is below the smallest order this pair accepts.",
    e.AboveMaxQuantity: "That quantity is above the largest order this pair accepts.",
    e.BelowMinNotional: "The order's value is below the minimum for this pair.",
    e.AboveMaxNotional: "The order's value is above the maximum for this pair.",
    e.PrecisionError: "That number has more decimals than this pair allows.",
    e.AmountOutOfRange: "That amount is zero, negative or too large; enter a positive amount.",
    e.NoLiquidity: "There is nobody on the other side of the book to trade with right now.",
    e.OrderNotFound: "That order is no longer open (it was filled or cancelled).",
    e.SymbolNotTrading: "Trading in this pair is paused.",
    e.TooManyOpenOrders: "You have too many open orders; cancel some first.",
    e.AccountFrozen: "Your account is frozen; contact the operator.",
    e.UnknownAsset: "That asset is not listed here.",
    e.NetworkNotSupported: "That network does not carry this coin here, or it is suspended.",
    e.InvalidAddress: "That address is not valid on the chosen network; check it and the network.",
    e.MemoRequired: "This network needs a memo (tag) with the address.",
    e.AddressNotWhitelisted: "That address is not in your withdrawal address book.",
    e.WithdrawDisabled: "Withdrawals of this coin on this network are suspended for now.",
    e.WithdrawAmountOutOfRange: (
        "That amount is outside this network's limits: it must be at least the minimum, more "
        "than the fee, and at most the maximum shown."
    ),
    e.WithdrawalNotFound: "That withdrawal does not exist or belongs to another account.",
    e.WithdrawalNotCancelable: (
        "That withdrawal was already sent to the network, or has finished, so it cannot be "
        "cancelled."
    ),
    e.IdempotencyConflict: "This form was already sent with other values; reload the page.",
    e.AccountTypeNotSupported: "Money can move only between your SPOT and FUTURES accounts.",
    e.RecipientNotFound: "No user is known by that UID or e-mail.",
    e.TransferNotAllowed: "This transfer is not allowed (not to yourself, nor from a sub-account).",
}


def say(exc: Exception) -> str:
    """A sentence for a person about why ``exc`` refused the action."""
    for cls in type(exc).__mro__:
        hit = SENTENCES.get(cls)
        if hit is not None:
            return hit
    text = (getattr(exc, "message", "") or str(exc)).strip().rstrip(".")
    return (text[:1].upper() + text[1:] + ".") if text else "That did not work; please try again."
