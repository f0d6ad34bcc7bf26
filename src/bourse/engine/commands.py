"""Commands the engine accepts. Each is a plain, immutable value; ``apply`` lives in the engine.

Commands a client may retry carry a client id (``client_id``); the engine makes them idempotent:
the same id with the same parameters returns the first result, with different parameters it is
refused with ``IdempotencyConflict``. Commands that move money without a client id carry the
signed request's ``replay`` key instead, and the engine accepts each key once
(``engine.replays``).
"""

from __future__ import annotations

from dataclasses import dataclass

from bourse.domain.accounts import AccountKind
from bourse.domain.errors import DomainError
from bourse.domain.money import Asset
from bourse.domain.orders import OrderRequest
from bourse.domain.symbols import Symbol

__all__ = [
    "Command",
    "OpenAccount",
    "SetAccountFrozen",
    "PlaceOrder",
    "CancelOrder",
    "CancelAll",
    "Transfer",
    "CreditDeposit",
    "ReserveWithdrawal",
    "MarkWithdrawalProcessing",
    "ApproveWithdrawal",
    "RejectWithdrawal",
    "SettleWithdrawal",
    "VoidWithdrawal",
    "SetFees",
    "SetMxDeduct",
    "ConvertDust",
    "CreateStpGroup",
    "DeleteStpGroup",
    "SetStpGroupMembers",
    "AddAsset",
    "AddSymbol",
    "PayRebates",
    "ResetBalances",
    "ClaimReplayKey",
]


class Command:
    """Marker base class."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class OpenAccount(Command):
    kind: AccountKind
    parent: int | None = None
    name: str = ""


@dataclass(frozen=True, slots=True)
class SetAccountFrozen(Command):
    """Freeze (cancelling every open order) or unfreeze an account."""

    account: int
    frozen: bool
    #: who asks, when not the operator: a master for its sub-account, refused while frozen
    initiator: int | None = None


@dataclass(frozen=True, slots=True)
class PlaceOrder(Command):
    request: OrderRequest
    #: only validate (``order/test``): nothing is locked, matched or stored
    test: bool = False
    #: the signed request's replay key (``engine.replays``); "" for none
    replay: str = ""


@dataclass(frozen=True, slots=True)
class ClaimReplayKey(Command):
    """Accept a signed request's replay key once, and do nothing else: the claim of a request
    whose JSON body was outside its signature (``bourse.api.mexc.replay.claim``), made before
    it does anything, so that signature serves one request whatever the body says."""

    replay: str


@dataclass(frozen=True, slots=True)
class CancelOrder(Command):
    account: int
    symbol: str
    order_id: int | None = None
    client_id: str | None = None


@dataclass(frozen=True, slots=True)
class CancelAll(Command):
    account: int
    symbol: str


@dataclass(frozen=True, slots=True)
class Transfer(Command):
    from_account: int
    to_account: int
    asset: str
    amount: int
    client_id: str = ""
    #: the account whose client-id namespace ``client_id`` lives in (defaults to from_account)
    initiator: int | None = None
    #: the signed request's replay key (``engine.replays``); "" for none
    replay: str = ""


@dataclass(frozen=True, slots=True)
class CreditDeposit(Command):
    """Credit a confirmed chain deposit; ``tx_ref`` (tx id + output) makes it idempotent."""

    account: int
    asset: str
    amount: int
    tx_ref: str


@dataclass(frozen=True, slots=True)
class ReserveWithdrawal(Command):
    """Reserve ``amount + fee`` for a withdrawal, or, for a ``client_id`` already used, answer
    the withdrawal it reserved (``handlers.reserve_withdrawal``). ``amount``, ``fee``,
    ``network`` and ``memo`` are what the wallet made of the request under the network's
    current settings; a retry is matched on what the client sent (``handlers.
    withdraw_fingerprint``), which those settings cannot change."""

    account: int
    asset: str
    amount: int
    fee: int
    address: str
    network: str
    memo: str = ""
    client_id: str = ""
    review: bool = False
    #: the signed request's replay key (``engine.replays``); "" for none
    replay: str = ""
    #: who asks, when not ``account`` itself: a master for its sub-account, refused while
    #: frozen (a new request only: a retry still answers the first withdrawal)
    initiator: int | None = None
    #: the request's remark: kept with the withdrawal (committed in the reserve's batch), and
    #: one of the parameters a retry of ``client_id`` must repeat (``handlers.reserve_withdrawal``)
    remark: str = ""
    #: the token contract the request named (``contractAddress``) as sent, an EVM hex one in
    #: lower case (any case names it), "" for none: the engine keeps it only in the fingerprint
    contract: str = ""
    #: the network as the request named it (upper case: names match in any case), "" when left
    #: out (the coin's default network, which the operator may change): fingerprint only
    sent_network: str = ""
    #: the memo as sent (``memo`` drops one the network does not use): fingerprint only
    sent_memo: str = ""
    #: the wallet's refusal of the request if ``client_id`` is new: the first check it failed
    #: against what may change between a request and its retry (the network and its settings,
    #: the whitelist), None if it passed. The engine raises it only after its lookup found no
    #: withdrawal under ``client_id``, so an identical retry gets the first withdrawal whatever
    #: changed since, and a differing one the conflict
    refusal: DomainError | None = None


@dataclass(frozen=True, slots=True)
class MarkWithdrawalProcessing(Command):
    withdrawal_id: int
    txid: str


@dataclass(frozen=True, slots=True)
class ApproveWithdrawal(Command):
    withdrawal_id: int


@dataclass(frozen=True, slots=True)
class RejectWithdrawal(Command):
    """An operator refuses a withdrawal still in review (``VoidWithdrawal`` would also cancel
    one approved meanwhile)."""

    withdrawal_id: int


@dataclass(frozen=True, slots=True)
class SettleWithdrawal(Command):
    withdrawal_id: int
    txid: str = ""


@dataclass(frozen=True, slots=True)
class VoidWithdrawal(Command):
    withdrawal_id: int
    failed: bool = False


@dataclass(frozen=True, slots=True)
class SetFees(Command):
    """Override an account's maker/taker rates (ppm); both ``None`` restores the default."""

    account: int
    maker: int | None
    taker: int | None


@dataclass(frozen=True, slots=True)
class SetMxDeduct(Command):
    """Have an account pay its trading fees in MX (at a discount, when it holds enough MX), or
    stop; applies from the next fill."""

    account: int
    enabled: bool


@dataclass(frozen=True, slots=True)
class ConvertDust(Command):
    """Convert the account's whole available balance of each of ``assets`` into MX
    (``domain.dust``): each asset converts or fails on its own, all in one command."""

    account: int
    assets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CreateStpGroup(Command):
    """A new STP group of master account ``owner`` (``domain.stp_groups``)."""

    owner: int
    name: str


@dataclass(frozen=True, slots=True)
class DeleteStpGroup(Command):
    owner: int
    group_id: int


@dataclass(frozen=True, slots=True)
class SetStpGroupMembers(Command):
    """Put ``accounts`` into the group (``add``) or take them out."""

    owner: int
    group_id: int
    accounts: tuple[int, ...]
    add: bool


@dataclass(frozen=True, slots=True)
class AddAsset(Command):
    """Register an asset, or update its display name; its scale can never change."""

    asset: Asset


@dataclass(frozen=True, slots=True)
class AddSymbol(Command):
    """List a symbol, or replace its limits and trading flag (scales can never change)."""

    symbol: Symbol


@dataclass(frozen=True, slots=True)
class PayRebates(Command):
    """Pay accrued broker rebates out of fee revenue, once per ``settlement_key``.

    ``payouts`` is a tuple of (broker account, asset, amount). A retry with the same key and
    the same payouts returns the first result and pays nothing twice.
    """

    settlement_key: str
    payouts: tuple[tuple[int, str, int], ...]


@dataclass(frozen=True, slots=True)
class ResetBalances(Command):
    """Put the sandbox back to its seed in one batch: cancel every open order of every
    customer account, then move each customer balance's available part to its target (one of
    ``targets``: (account, asset, available units); every other one to 0) against the sandbox
    funding account. Funds locked by withdrawals in flight stay locked."""

    targets: tuple[tuple[int, str, int], ...]
