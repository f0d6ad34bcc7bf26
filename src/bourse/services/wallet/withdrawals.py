"""Withdrawals, two-phase: ``withdraw`` reserves amount + fee (``ReserveWithdrawal``,
idempotent by ``withdrawOrderId``); above a per-coin threshold it waits in review until an
operator calls ``approve_withdrawal``; the chain broadcasts, then settles or (only when the
chain says the transaction failed) voids. ``cancel_withdrawal`` works until the broadcast.
The wire ``amount`` includes the fee (MEXC): the chain receives ``amount - fee``. The checks of
the network's settings and of the whitelist decide a new ``withdrawOrderId`` only: the engine
looks the id up first (``withdrawal_command``), so a retry is answered whatever changed since;
``check_withdrawal`` asks it without reserving (the console, before its step-up).

An account with entries in its withdraw address book (the whitelist) can only withdraw to them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from bourse.domain.errors import (
    AddressNotWhitelisted,
    DomainError,
    InvalidAddress,
    InvalidParameter,
    MemoRequired,
    MissingParameter,
    RemarkTooLong,
    UnknownClientId,
    WithdrawalNotCancelable,
    WithdrawalNotFound,
    WithdrawAmountOutOfRange,
    WithdrawDisabled,
)
from bourse.domain.wallet import Withdrawal, WithdrawalStatus
from bourse.engine import commands as c
from bourse.services.wallet import statuses as st
from bourse.services.wallet.base import WalletBase
from bourse.services.wallet.chain import Network, valid_address

MAX_REMARK = 200
MAX_CLIENT_ID = 64


@dataclass(frozen=True, slots=True)
class WithdrawalView:
    """A withdrawal with what the wire needs around it."""

    withdrawal: Withdrawal
    network: Network | None
    in_block: bool
    confirmations: int | None

    @property
    def remark(self) -> str:
        return self.withdrawal.remark

    @property
    def mexc_status(self) -> int:
        return st.withdraw_code(self.withdrawal.status, self.in_block)


@dataclass(frozen=True, slots=True)
class WithdrawalRequest:
    """A withdrawal as asked for: ``amount`` in units, fee included (MEXC's ``amount``);
    ``network`` None for the coin's default; ``contract`` MEXC's ``contractAddress``;
    ``skip_whitelist`` when the caller proved more than the key (a sub-account's fund
    password)."""

    account: int
    coin: str
    network: str | None
    address: str
    amount: int
    memo: str = ""
    client_id: str = ""
    remark: str = ""
    contract: str = ""
    skip_whitelist: bool = False
    #: who asks, when not ``account`` itself (a master for its sub-account)
    initiator: int | None = None


class Withdrawals(WalletBase):
    def check_withdrawal(self, req: WithdrawalRequest) -> Withdrawal | None:
        """What the console asks before the step-up, so that neither a typo nor a form sent
        again spends a 2FA code (a code is good once): for a ``client_id`` already used, what
        ``withdraw`` answers its retry (the first withdrawal whatever changed since,
        ``IdempotencyConflict`` for other parameters); for a new request its refusal, raised
        (the balance is left to ``withdraw``), else None. The engine looks the id up, with
        ``UnknownClientId`` as the refusal of a new request that passes: nothing is reserved."""
        cmd = self.withdrawal_command(req)
        if not cmd.client_id:
            if cmd.refusal is not None:
                raise cmd.refusal
            return None
        try:
            first: Withdrawal = self.engine.execute(
                replace(cmd, refusal=cmd.refusal or UnknownClientId(cmd.client_id))
            )
        except UnknownClientId:
            return None
        return first

    def withdrawal_command(self, req: WithdrawalRequest) -> c.ReserveWithdrawal:
        """The ``ReserveWithdrawal`` of a request. What the request alone decides (an address,
        lengths, integer units) is refused here. The checks against what may change between a
        request and its retry (the network and its settings: enabled, address format, memo,
        limits, fee, contract; the whitelist) are not raised: the first that fails travels as
        the command's ``refusal``, which the engine raises only for a ``client_id`` it has not
        seen, in the same step as its lookup, so an identical retry of an accepted withdrawal
        gets it back whatever changed since. ``contract`` (MEXC ``contractAddress``), when
        sent, must be the coin's token contract on the network, and picks the network when
        none is named."""
        asset = self.asset(req.coin)
        address = (req.address or "").strip()
        if not address:
            raise MissingParameter("address cannot be null")
        memo = (req.memo or "").strip()
        remark = req.remark or ""
        if len(remark) > MAX_REMARK:
            raise RemarkTooLong(f"remark is longer than {MAX_REMARK} characters")
        client_id = (req.client_id or "").strip()
        if len(client_id) > MAX_CLIENT_ID:
            raise InvalidParameter(f"withdrawOrderId is longer than {MAX_CLIENT_ID} characters")
        amount = req.amount
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise InvalidParameter("amount must be integer units")
        contract = (req.contract or "").strip()
        named = (req.network or "").strip().upper()  # matched in any case (Network.matches)
        threshold = self.review_threshold(asset)
        cmd = c.ReserveWithdrawal(
            req.account,
            asset.code,
            amount,
            0,
            address,
            named,
            memo,
            client_id,
            threshold is not None and amount > threshold,
            remark=remark,
            initiator=req.initiator,
            contract=contract.lower() if valid_address("evm", contract) else contract,
            sent_network=named,
            sent_memo=memo,
        )
        try:
            net = self.network(asset, req.network, contract)
            cmd = replace(
                cmd,
                amount=amount - net.withdraw_fee,
                fee=net.withdraw_fee,
                network=net.id,
                memo=memo if net.memo_required else "",
            )
            self._check_network(
                req.account, asset.code, net, address, cmd.memo, amount, req.skip_whitelist
            )
        except DomainError as refusal:
            return replace(cmd, refusal=refusal)
        return cmd

    def _check_network(
        self,
        account: int,
        coin: str,
        net: Network,
        address: str,
        memo: str,
        amount: int,
        skip_whitelist: bool,
    ) -> None:
        """Refuse a withdrawal the network's current settings or the account's whitelist do
        not allow (``memo``: the one kept, "" on a network that takes none)."""
        if not net.withdraw_enable:
            raise WithdrawDisabled(f"withdrawals of {coin} on {net.id} are suspended")
        if not valid_address(net.style, address):
            raise InvalidAddress(f"address is not a valid {net.name} address")
        if net.memo_required and not memo:
            raise MemoRequired(f"{net.name} withdrawals need a memo")
        if net.memo_required and len(memo) > 128:
            raise InvalidParameter("memo is too long")
        if amount < net.withdraw_min or amount <= net.withdraw_fee:
            raise WithdrawAmountOutOfRange("amount is below the minimum withdrawal of this network")
        if amount > net.withdraw_max:
            raise WithdrawAmountOutOfRange("amount is above the maximum withdrawal")
        if self.settings.whitelist and not skip_whitelist:
            self._check_whitelist(account, coin, net, address, memo)

    def withdraw(
        self,
        account: int,
        coin: str,
        network: str | None,
        address: str,
        amount: int,
        *,
        memo: str = "",
        client_id: str = "",
        remark: str = "",
        contract: str = "",
        skip_whitelist: bool = False,
        replay: str = "",
        initiator: int | None = None,
    ) -> Withdrawal:
        """Reserve a withdrawal of ``amount`` units (fee included); returns it as stored.
        A retry with the same ``client_id`` and parameters returns the first withdrawal and
        reserves nothing, whatever the network's settings or the whitelist say now; without
        one, the signed request's ``replay`` key is accepted once (``engine.replays``).
        ``initiator``: who asks, when not ``account`` itself (refused while frozen)."""
        req = WithdrawalRequest(
            account, coin, network, address, amount, memo, client_id, remark, contract,
            skip_whitelist, initiator,
        )  # fmt: skip
        cmd = self.withdrawal_command(req)
        if cmd.refusal is not None and not cmd.client_id:
            raise cmd.refusal  # no withdrawOrderId to look up: nothing for the engine to answer
        w: Withdrawal = self.engine.execute(replace(cmd, replay=replay))
        return w

    def _check_whitelist(
        self, account: int, coin: str, net: Network, address: str, memo: str
    ) -> None:
        entries = self.repo.whitelist(account)
        if not entries:
            return
        for e in entries:
            if (e["coin"], e["network"], e["address"], e["memo"]) == (coin, net.id, address, memo):
                return
        raise AddressNotWhitelisted("withdrawal address is not in the common-address list")

    def get_withdrawal(self, account: int, withdrawal_id: int) -> Withdrawal:
        w = self.engine.read(lambda e: e.wallet.withdrawals.get(withdrawal_id))
        if w is None:
            w = self.engine.store.get_withdrawal(withdrawal_id)
        if w is None or w.account != account:
            raise WithdrawalNotFound(f"withdrawal {withdrawal_id} does not exist")
        return w

    def cancel_withdrawal(self, account: int, withdrawal_id: int) -> Withdrawal:
        """Cancel before the broadcast (PENDING or in REVIEW): the reserve is released."""
        w = self.get_withdrawal(account, withdrawal_id)
        if w.status not in (WithdrawalStatus.PENDING, WithdrawalStatus.REVIEW):
            raise WithdrawalNotCancelable(f"withdrawal {withdrawal_id} is {w.status}")
        try:
            voided: Withdrawal = self.engine.execute(c.VoidWithdrawal(withdrawal_id, failed=False))
        except InvalidParameter as exc:  # broadcast or finished in the meantime
            raise WithdrawalNotCancelable(str(exc)) from exc
        return voided

    def _in_review(self, withdrawal_id: int) -> None:
        """Refuse an operator's review of a withdrawal that does not exist
        (``WithdrawalNotFound``) or is not in review (``WithdrawalNotCancelable``): open ones
        are in memory, final ones only in the store."""
        w = self.engine.read(lambda e: e.wallet.withdrawals.get(withdrawal_id))
        if w is None:
            w = self.engine.store.get_withdrawal(withdrawal_id)
        if w is None:
            raise WithdrawalNotFound(f"withdrawal {withdrawal_id} does not exist")
        if w.status is not WithdrawalStatus.REVIEW:
            raise WithdrawalNotCancelable(
                f"withdrawal {withdrawal_id} is {w.status}, not in review"
            )

    def approve_withdrawal(self, withdrawal_id: int) -> Withdrawal:
        """Operator: release a withdrawal from review to the broadcast queue."""
        return self._review(withdrawal_id, c.ApproveWithdrawal(withdrawal_id))

    def reject_withdrawal(self, withdrawal_id: int) -> Withdrawal:
        """Operator: refuse a withdrawal in review (it ends CANCELED, the reserve released)."""
        return self._review(withdrawal_id, c.RejectWithdrawal(withdrawal_id))

    def _review(self, withdrawal_id: int, decision: c.Command) -> Withdrawal:
        """An operator's ``decision`` on a withdrawal in review; the engine checks the review
        again with it, and one approved or rejected in the meantime is refused as final."""
        self._in_review(withdrawal_id)
        try:
            decided: Withdrawal = self.engine.execute(decision)
        except InvalidParameter as exc:  # approved or rejected in the meantime
            raise WithdrawalNotCancelable(str(exc)) from exc
        return decided

    def withdraw_history(
        self,
        account: int,
        *,
        coin: str | None = None,
        status: str | int | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int = 1000,
        withdrawal_ids: list[int] | None = None,
    ) -> list[WithdrawalView]:
        """Newest first."""
        asset = self.asset(coin.partition("-")[0]).code if coin else None
        code = st.parse_code(status, st.WITHDRAW_STATUS_CODES)
        statuses = None
        if code is not None:
            wanted = st.WITHDRAW_BY_CODE.get(code, ())
            if not wanted:
                return []
            statuses = [str(s) for s in wanted]
        s = e = None
        if withdrawal_ids is None:
            s, e = self.window(start, end)
        items = self.repo.withdrawals(
            account,
            asset=asset,
            statuses=statuses,
            ids=withdrawal_ids,
            start=s,
            end=e,
            limit=limit,
        )
        chain = self.chain.withdrawal_info(x.id for x in items)
        nets = self.networks_of({x.asset for x in items})
        out = []
        for wd in items:
            ch = chain.get(wd.id)
            view = WithdrawalView(
                wd,
                nets.get((wd.asset, wd.network)),
                bool(ch and ch.block is not None),
                ch.confirmations if ch else None,
            )
            if code is None or view.mexc_status == code:
                out.append(view)
        return out

    # --- whitelist -----------------------------------------------------------------------------
    def add_whitelist(
        self,
        account: int,
        coin: str,
        network: str | None,
        address: str,
        memo: str = "",
        label: str = "",
    ) -> None:
        asset = self.asset(coin)
        net = self.network(asset, network)
        address = (address or "").strip()
        if not valid_address(net.style, address):
            raise InvalidAddress(f"address is not a valid {net.name} address")
        memo = (memo or "").strip() if net.memo_required else ""
        self.repo.add_whitelist(
            account, asset.code, net.id, address, memo, label[:128], self.clock()
        )

    def remove_whitelist(self, account: int, coin: str, network: str | None, address: str) -> int:
        asset = self.asset(coin)
        net = self.network(asset, network)
        return self.repo.remove_whitelist(account, asset.code, net.id, address)

    def whitelist(self, account: int, coin: str | None = None) -> list[dict[str, Any]]:
        return self.repo.whitelist(account, coin.upper() if coin else None)
