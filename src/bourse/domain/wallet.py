"""Money moving in and out of accounts: transfers, chain deposits and two-phase withdrawals.

Deposits are credited from the chain clearing account. A withdrawal is two-phase, as a ledger
should have it: *reserve* moves amount + fee from available to locked; *settle* posts the
amount to chain clearing and the fee to fee revenue; *void* releases the reserve. Nothing ever
refunds a withdrawal whose outcome is unknown: only an explicit void does.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bourse.domain.accounts import (
    CHAIN_CLEARING,
    FEE_REVENUE,
    AccountKind,
    check_movement,
    named,
)
from bourse.domain.errors import (
    AccountFrozen,
    AccountNotFound,
    AmountOutOfRange,
    InsufficientBalance,
    InvalidParameter,
    TransferNotAllowed,
    UnknownAsset,
)
from bourse.domain.ledger import AVAILABLE, LOCKED, Ledger
from bourse.domain.money import MAX_UNITS, Asset


@dataclass(slots=True)
class Account:
    id: int
    kind: AccountKind
    parent: int | None = None
    frozen: bool = False
    name: str = ""
    #: pays trading fees in MX when it holds enough (``mxDeduct``, ``domain.mx``)
    mx_deduct: bool = False


class WithdrawalStatus(StrEnum):
    """The ledger's view of a withdrawal; the wire layer maps these to MEXC's numeric codes."""

    PENDING = "PENDING"  # funds reserved, waiting for review or broadcast
    REVIEW = "REVIEW"  # above the review threshold, waiting for an operator
    PROCESSING = "PROCESSING"  # broadcast, outcome not yet known
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    CANCELED = "CANCELED"


FINAL_WITHDRAWAL = frozenset(
    {WithdrawalStatus.SUCCESS, WithdrawalStatus.FAILED, WithdrawalStatus.CANCELED}
)


@dataclass(slots=True)
class Withdrawal:
    id: int
    account: int
    asset: str
    amount: int
    fee: int
    address: str
    network: str
    memo: str
    client_id: str
    status: WithdrawalStatus
    txid: str
    created: int
    updated: int
    #: the client's ``remark``, kept with the withdrawal (committed with its reserve)
    remark: str = ""


class Wallet:
    """Account registry plus the money-moving operations on a ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.assets: dict[str, Asset] = {}
        self.accounts: dict[int, Account] = {}
        self.withdrawals: dict[int, Withdrawal] = {}  # not final ones
        self.next_withdrawal_id = 1
        self.next_transfer_id = 1

    def asset(self, code: str) -> Asset:
        asset = self.assets.get(code)
        if asset is None:
            raise UnknownAsset(f"currency {code!r} does not exist")
        return asset

    def account(self, account_id: int) -> Account:
        acc = self.accounts.get(account_id)
        if acc is None:
            raise AccountNotFound(f"account {account_id} does not exist")
        return acc

    def active(self, account_id: int) -> Account:
        acc = self.account(account_id)
        if acc.frozen:
            raise AccountFrozen(f"{named(account_id, acc.kind, acc.name)} is frozen", account_id)
        return acc

    @staticmethod
    def _positive(amount: int) -> None:
        if amount <= 0:
            raise AmountOutOfRange("amount cannot be zero or negative")
        if amount > MAX_UNITS:
            raise AmountOutOfRange("amount is too large")

    def transfer(self, src: int, dst: int, asset: str, amount: int) -> int:
        """Move available funds between two customer accounts; returns the transfer id."""
        self.asset(asset)
        self._positive(amount)
        a, b = self.active(src), self.active(dst)
        if src == dst:
            raise TransferNotAllowed("cannot transfer to the same account")
        check_movement("transfer", src, a.kind)
        check_movement("transfer", dst, b.kind)
        if self.ledger.available(src, asset) < amount:
            raise InsufficientBalance("not enough available balance")
        tid = self.next_transfer_id
        self.next_transfer_id = tid + 1
        self.ledger.post(src, AVAILABLE, dst, AVAILABLE, asset, amount, "transfer", tid)
        return tid

    def pay_rebate(self, broker_account: int, asset: str, amount: int, ref: int) -> None:
        """Move a broker's rebate from fee revenue to the broker's available balance."""
        self.asset(asset)
        self._positive(amount)
        check_movement("rebate", broker_account, self.account(broker_account).kind)
        if self.ledger.available(FEE_REVENUE, asset) < amount:
            raise InsufficientBalance("fee revenue cannot cover the rebate")
        self.ledger.post(
            FEE_REVENUE, AVAILABLE, broker_account, AVAILABLE, asset, amount, "rebate", ref
        )

    def credit_deposit(self, account: int, asset: str, amount: int, ref: int) -> None:
        self.asset(asset)
        self._positive(amount)
        check_movement("deposit", account, self.account(account).kind)
        # Every customer balance is bounded by what came in from the chain, so bounding the
        # clearing account keeps every balance inside a signed 64-bit column.
        if self.ledger.available(CHAIN_CLEARING, asset) - amount < -MAX_UNITS:
            raise AmountOutOfRange("deposit would exceed the largest supported supply")
        self.ledger.post(
            CHAIN_CLEARING, AVAILABLE, account, AVAILABLE, asset, amount, "deposit", ref
        )

    def reserve_withdrawal(
        self,
        account: int,
        asset: str,
        amount: int,
        fee: int,
        address: str,
        network: str,
        memo: str,
        client_id: str,
        now: int,
        review: bool = False,
        remark: str = "",
    ) -> Withdrawal:
        self.asset(asset)
        self._positive(amount)
        if fee < 0:
            raise InvalidParameter("fee cannot be negative")
        check_movement("withdrawal", account, self.active(account).kind)
        if self.ledger.available(account, asset) < amount + fee:
            raise InsufficientBalance("not enough available balance")
        wid = self.next_withdrawal_id
        self.next_withdrawal_id = wid + 1
        self.ledger.lock(account, asset, amount + fee, "withdraw_hold", wid)
        w = Withdrawal(
            wid,
            account,
            asset,
            amount,
            fee,
            address,
            network,
            memo,
            client_id,
            WithdrawalStatus.REVIEW if review else WithdrawalStatus.PENDING,
            "",
            now,
            now,
            remark,
        )
        self.withdrawals[wid] = w
        return w

    def _open_withdrawal(self, wid: int) -> Withdrawal:
        w = self.withdrawals.get(wid)
        if w is None:
            raise InvalidParameter(f"withdrawal {wid} is not open")
        return w

    def mark_processing(self, wid: int, txid: str, now: int) -> Withdrawal:
        w = self._open_withdrawal(wid)
        if w.status not in (WithdrawalStatus.PENDING, WithdrawalStatus.REVIEW):
            raise InvalidParameter(f"withdrawal {wid} is {w.status}")
        w.status, w.txid, w.updated = WithdrawalStatus.PROCESSING, txid, now
        return w

    def approve(self, wid: int, now: int) -> Withdrawal:
        w = self._open_withdrawal(wid)
        if w.status is not WithdrawalStatus.REVIEW:
            raise InvalidParameter(f"withdrawal {wid} is not waiting for review")
        w.status, w.updated = WithdrawalStatus.PENDING, now
        return w

    def reject(self, wid: int, now: int) -> Withdrawal:
        """Refuse a withdrawal still waiting for review (an operator's ``reject``): checked here,
        with the refusal, so a rejection that lost a race to an approval refuses instead of
        cancelling the withdrawal its approver was told went through."""
        w = self._open_withdrawal(wid)
        if w.status is not WithdrawalStatus.REVIEW:
            raise InvalidParameter(f"withdrawal {wid} is not waiting for review")
        return self.void_withdrawal(wid, now, failed=False)

    def settle_withdrawal(self, wid: int, txid: str, now: int) -> Withdrawal:
        w = self._open_withdrawal(wid)
        ledger = self.ledger
        ledger.post(
            w.account, LOCKED, CHAIN_CLEARING, AVAILABLE, w.asset, w.amount, "withdraw", wid
        )
        ledger.post(w.account, LOCKED, FEE_REVENUE, AVAILABLE, w.asset, w.fee, "withdraw_fee", wid)
        w.status, w.updated = WithdrawalStatus.SUCCESS, now
        if txid:
            w.txid = txid
        del self.withdrawals[wid]
        return w

    def void_withdrawal(self, wid: int, now: int, failed: bool) -> Withdrawal:
        """Release the reserve: the chain said it failed, or it was cancelled before broadcast."""
        w = self._open_withdrawal(wid)
        if not failed and w.status is WithdrawalStatus.PROCESSING:
            raise InvalidParameter("a broadcast withdrawal cannot be cancelled")
        self.ledger.unlock(w.account, w.asset, w.amount + w.fee, "withdraw_void", wid)
        w.status = WithdrawalStatus.FAILED if failed else WithdrawalStatus.CANCELED
        w.updated = now
        del self.withdrawals[wid]
        return w
