"""The wallet service: what the wallet endpoints (and the broker ones) call.

It validates requests against the chain's network config, turns them into engine commands and
reads history back from the database. Amounts are integer units throughout; parsing wire strings
is the caller's job (``bourse.domain.money.to_units`` with ``WalletService.asset(coin).scale``).

* **Deposit addresses**: ``deposit_address`` creates (once) and returns the address of an
  account for a coin and network; ``deposit_addresses`` lists them.
* **Deposits**: credited by the chain (``bourse.sandbox.chain``) after their confirmations;
  ``deposit_history`` reads them with MEXC's status codes.
* **Withdrawals** are two-phase: ``withdraw`` reserves amount + fee (``ReserveWithdrawal``,
  idempotent by ``withdrawOrderId``); above a per-coin threshold it waits in review until an
  operator calls ``approve_withdrawal``; the chain broadcasts, then settles or (only when the
  chain says the transaction failed) voids. ``cancel_withdrawal`` works until the broadcast.
  The wire ``amount`` includes the fee (MEXC): the chain receives ``amount - fee``.
* **Address whitelist**: an account with entries can only withdraw to them.
* **Universal transfer** (SPOT <-> FUTURES of one user): the FUTURES wallet is a ledger account
  of its own, opened on first use and mapped in ``account_wallets``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine as SAEngine
from sqlalchemy import and_, func, insert, select
from sqlalchemy.exc import IntegrityError

from bourse.domain.accounts import AccountKind
from bourse.domain.errors import InvalidParameter, MissingParameter
from bourse.domain.money import Asset, to_units
from bourse.domain.wallet import Withdrawal, WithdrawalStatus
from bourse.engine import commands as c
from bourse.sandbox.chain import Chain, ChainDeposit, DepositAddress, Network, valid_address
from bourse.services.wallet import statuses as st
from bourse.services.wallet.errors import (
    AccountTypeNotSupported,
    AddressNotWhitelisted,
    InvalidAddress,
    MemoRequired,
    RemarkTooLong,
    TransferNotFound,
    WithdrawalNotCancelable,
    WithdrawalNotFound,
    WithdrawAmountOutOfRange,
    WithdrawDisabled,
)
from bourse.store import tables as t
from bourse.store import wallet_tables as wt
from bourse.store.sql import withdrawal_from_row

DAY_MS = 86_400_000
MAX_REMARK = 200
MAX_CLIENT_ID = 64
#: MEXC account types of the universal transfer; SPOT is the account itself
ACCOUNT_TYPES = ("SPOT", "FUTURES")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(slots=True)
class WalletSettings:
    """Operator settings.

    * ``review_above``: per coin, a decimal amount; a withdrawal whose amount (fee included)
      is above it waits for review (``approve_withdrawal``);
    * ``whitelist``: enforce the withdraw address book of accounts that have entries;
    * ``history_max_days``: how far back history goes (MEXC: 90 days);
    * ``history_window_days``: the default window when no start is given (MEXC: 7 days);
    * ``sandbox``: allow the unsigned ``/sandbox/...`` endpoints (off by default: turn it on
      for sandbox and demo servers only).
    """

    review_above: dict[str, str] = field(default_factory=dict)
    whitelist: bool = True
    history_max_days: int = 90
    history_window_days: int = 7
    sandbox: bool = False


@dataclass(frozen=True, slots=True)
class WithdrawalView:
    """A withdrawal with what the wire needs around it."""

    withdrawal: Withdrawal
    remark: str
    network: Network | None
    in_block: bool
    confirmations: int | None

    @property
    def mexc_status(self) -> int:
        return st.withdraw_code(self.withdrawal.status, self.in_block)


@dataclass(frozen=True, slots=True)
class DepositView:
    deposit: ChainDeposit
    network: Network | None

    @property
    def mexc_status(self) -> int:
        return st.DEPOSIT_CODE.get(self.deposit.status, 4)


@dataclass(frozen=True, slots=True)
class TransferView:
    id: int
    from_account: int
    to_account: int
    asset: str
    amount: int
    client_id: str
    time: int
    from_type: str = "SPOT"
    to_type: str = "SPOT"


def format_id(value: int) -> str:
    """Withdrawal and transfer ids on the wire: the engine's integer as a decimal string."""
    return str(value)


def parse_id(text: str | int | None, what: str = "id") -> int:
    s = str(text or "").strip()
    if not s.isdigit() or len(s) > 18:
        raise WithdrawalNotFound(f"{what} {s[:40]!r} does not exist")
    return int(s)


class WalletService:
    def __init__(
        self,
        engine: Any,
        db: SAEngine,
        chain: Chain,
        settings: WalletSettings | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.engine = engine
        self.db = db
        self.chain = chain
        self.settings = settings or WalletSettings()
        self.clock = clock
        self._wallet_lock = threading.Lock()

    # --- config --------------------------------------------------------------------------------
    def asset(self, coin: str) -> Asset:
        return self.chain.asset(coin)

    def assets(self) -> list[Asset]:
        return self.engine.read(lambda e: sorted(e.wallet.assets.values(), key=lambda a: a.code))

    def networks(self, coin: str) -> tuple[Network, ...]:
        return self.chain.networks(coin)

    def currencies(self) -> list[tuple[Asset, tuple[Network, ...]]]:
        """Every asset with its networks (``capital/config/getall``)."""
        return [(a, self.chain.config.networks(a)) for a in self.assets()]

    def review_threshold(self, asset: Asset) -> int | None:
        raw = self.settings.review_above.get(asset.code)
        return None if raw is None else to_units(raw, asset.scale, field="review threshold")

    # --- deposit addresses ---------------------------------------------------------------------
    def deposit_address(self, account: int, coin: str, network: str | None) -> DepositAddress:
        return self.chain.deposit_address(account, coin, network)

    def deposit_addresses(
        self, account: int, coin: str, network: str | None = None
    ) -> list[DepositAddress]:
        """The account's addresses for ``coin``; with ``network``, that one (created if need
        be); without, the existing ones, or the default network's if there are none yet."""
        if network:
            return [self.chain.deposit_address(account, coin, network)]
        found = self.chain.addresses(account, coin)
        return found or [self.chain.deposit_address(account, coin, None)]

    # --- history windows -----------------------------------------------------------------------
    def window(
        self, start: int | None, end: int | None, default_days: int | None = None
    ) -> tuple[int, int]:
        """(start, end) in ms: end defaults to now, start to end minus the default window;
        neither reaches further back than ``history_max_days``."""
        now = self.clock()
        s = self.settings
        end = now if end is None else end
        if start is None:
            start = end - (default_days or s.history_window_days) * DAY_MS
        floor = now - s.history_max_days * DAY_MS
        start = max(start, floor)
        if end < start:
            raise InvalidParameter("endTime must not be before startTime")
        return start, end

    # --- deposits ------------------------------------------------------------------------------
    def deposit_history(
        self,
        account: int | Iterable[int],
        *,
        coin: str | None = None,
        network: str | None = None,
        status: str | int | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int = 1000,
    ) -> list[DepositView]:
        """Newest first. ``account`` may be several accounts (a broker's sub-accounts);
        ``coin`` may be ``COIN-NETWORK`` (ccxt's form); ``status`` a MEXC code or name."""
        net_id = None
        asset = None
        if coin:
            code, _, net_part = coin.strip().upper().partition("-")
            asset = self.asset(code)
            network = network or net_part or None
            if network:
                net_id = self.chain.config.network(asset, network).id
        code_filter = st.parse_code(status, st.DEPOSIT_STATUS_CODES)
        statuses = (
            st.VISIBLE_DEPOSITS if code_filter is None else st.DEPOSIT_BY_CODE.get(code_filter, ())
        )
        if not statuses:
            return []
        start, end = self.window(start, end)
        rows = self.chain.deposits(
            account,
            coin=asset.code if asset else None,
            network=net_id,
            statuses=statuses,
            start=start,
            end=end,
            limit=limit,
        )
        nets = self._networks_of({r.coin for r in rows})
        return [DepositView(r, nets.get((r.coin, r.network))) for r in rows]

    def _networks_of(self, coins: set[str]) -> dict[tuple[str, str], Network]:
        """(coin, network id) -> Network for the given coins (one engine read)."""
        if not coins:
            return {}
        assets = self.engine.read(lambda e: [e.wallet.assets.get(x) for x in coins])
        return {
            (a.code, n.id): n
            for a in assets
            if a is not None
            for n in self.chain.config.networks(a)
        }

    # --- withdrawals ---------------------------------------------------------------------------
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
        skip_whitelist: bool = False,
    ) -> Withdrawal:
        """Reserve a withdrawal of ``amount`` units (fee included); returns it as stored.
        A retry with the same ``client_id`` returns the first withdrawal and reserves nothing."""
        asset = self.asset(coin)
        net = self.chain.config.network(asset, network)
        if not net.withdraw_enable:
            raise WithdrawDisabled(f"withdrawals of {asset.code} on {net.id} are suspended")
        address = (address or "").strip()
        if not address:
            raise MissingParameter("address cannot be null")
        if not valid_address(net.style, address):
            raise InvalidAddress(f"address is not a valid {net.name} address")
        memo = (memo or "").strip()
        if net.memo_required and not memo:
            raise MemoRequired(f"{net.name} withdrawals need a memo")
        if not net.memo_required:
            memo = ""
        if len(memo) > 128:
            raise InvalidParameter("memo is too long")
        if len(remark or "") > MAX_REMARK:
            raise RemarkTooLong(f"remark is longer than {MAX_REMARK} characters")
        client_id = (client_id or "").strip()
        if len(client_id) > MAX_CLIENT_ID:
            raise InvalidParameter(f"withdrawOrderId is longer than {MAX_CLIENT_ID} characters")
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise InvalidParameter("amount must be integer units")
        if amount < net.withdraw_min or amount <= net.withdraw_fee:
            raise WithdrawAmountOutOfRange("amount is below the minimum withdrawal of this network")
        if amount > net.withdraw_max:
            raise WithdrawAmountOutOfRange("amount is above the maximum withdrawal")
        if self.settings.whitelist and not skip_whitelist:
            self._check_whitelist(account, asset.code, net, address, memo)
        threshold = self.review_threshold(asset)
        review = threshold is not None and amount > threshold
        w: Withdrawal = self.engine.execute(
            c.ReserveWithdrawal(
                account,
                asset.code,
                amount - net.withdraw_fee,
                net.withdraw_fee,
                address,
                net.id,
                memo,
                client_id,
                review,
            )
        )
        if remark:
            try:
                with self.db.begin() as conn:
                    conn.execute(
                        insert(wt.withdrawal_info).values(withdrawal_id=w.id, remark=remark)
                    )
            except IntegrityError:
                pass  # a retry: the first request's remark stays
        return w

    def _check_whitelist(
        self, account: int, coin: str, net: Network, address: str, memo: str
    ) -> None:
        wl = wt.withdraw_address_whitelist
        with self.db.begin() as conn:
            entries = conn.execute(
                select(wl.c.coin, wl.c.network, wl.c.address, wl.c.memo).where(
                    wl.c.account_id == account
                )
            ).all()
        if not entries:
            return
        for e_coin, e_net, e_addr, e_memo in entries:
            if e_coin == coin and e_net == net.id and e_addr == address and e_memo == memo:
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
            return self.engine.execute(c.VoidWithdrawal(withdrawal_id, failed=False))
        except InvalidParameter as exc:  # broadcast or finished in the meantime
            raise WithdrawalNotCancelable(str(exc)) from exc

    def approve_withdrawal(self, withdrawal_id: int) -> Withdrawal:
        """Operator: release a withdrawal from review to the broadcast queue."""
        return self.engine.execute(c.ApproveWithdrawal(withdrawal_id))

    def reject_withdrawal(self, withdrawal_id: int) -> Withdrawal:
        """Operator: refuse a withdrawal in review (it ends CANCELED, the reserve released)."""
        w = self.engine.read(lambda e: e.wallet.withdrawals.get(withdrawal_id))
        if w is None or w.status is not WithdrawalStatus.REVIEW:
            raise WithdrawalNotCancelable(f"withdrawal {withdrawal_id} is not in review")
        return self.engine.execute(c.VoidWithdrawal(withdrawal_id, failed=False))

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
        w, info = t.withdrawals, wt.withdrawal_info
        q = (
            select(w, info.c.remark)
            .select_from(w.outerjoin(info, info.c.withdrawal_id == w.c.id))
            .where(w.c.account_id == account)
        )
        if coin:
            q = q.where(w.c.asset == self.asset(coin.partition("-")[0]).code)
        code = st.parse_code(status, st.WITHDRAW_STATUS_CODES)
        if code is not None:
            wanted = st.WITHDRAW_BY_CODE.get(code, ())
            if not wanted:
                return []
            q = q.where(w.c.status.in_([str(s) for s in wanted]))
        if withdrawal_ids is not None:
            q = q.where(w.c.id.in_(withdrawal_ids))
        else:
            s, e = self.window(start, end)
            q = q.where(w.c.created >= s, w.c.created <= e)
        limit = max(1, min(limit, 1000))
        q = q.order_by(w.c.created.desc(), w.c.id.desc()).limit(limit)
        with self.db.begin() as conn:
            rows = conn.execute(q).mappings().all()
        items = [(withdrawal_from_row(r), r["remark"] or "") for r in rows]
        chain = self.chain.withdrawal_info(x.id for x, _ in items)
        nets = self._networks_of({x.asset for x, _ in items})
        out = []
        for wd, remark in items:
            ch = chain.get(wd.id)
            view = WithdrawalView(
                wd,
                remark,
                nets.get((wd.asset, wd.network)),
                bool(ch and ch["block"] is not None),
                ch["confirmations"] if ch else None,
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
        net = self.chain.config.network(asset, network)
        address = (address or "").strip()
        if not valid_address(net.style, address):
            raise InvalidAddress(f"address is not a valid {net.name} address")
        memo = (memo or "").strip() if net.memo_required else ""
        try:
            with self.db.begin() as conn:
                conn.execute(
                    insert(wt.withdraw_address_whitelist).values(
                        account_id=account,
                        coin=asset.code,
                        network=net.id,
                        address=address,
                        memo=memo,
                        label=label[:128],
                        created=self.clock(),
                    )
                )
        except IntegrityError:
            pass  # already there

    def remove_whitelist(self, account: int, coin: str, network: str | None, address: str) -> int:
        asset = self.asset(coin)
        net = self.chain.config.network(asset, network)
        wl = wt.withdraw_address_whitelist
        with self.db.begin() as conn:
            res = conn.execute(
                wl.delete().where(
                    wl.c.account_id == account,
                    wl.c.coin == asset.code,
                    wl.c.network == net.id,
                    wl.c.address == address,
                )
            )
            return int(res.rowcount or 0)

    def whitelist(self, account: int, coin: str | None = None) -> list[dict[str, Any]]:
        wl = wt.withdraw_address_whitelist
        q = select(wl).where(wl.c.account_id == account)
        if coin:
            q = q.where(wl.c.coin == coin.upper())
        with self.db.begin() as conn:
            return [dict(r) for r in conn.execute(q.order_by(wl.c.id)).mappings()]

    # --- universal transfer --------------------------------------------------------------------
    def wallet_account(self, account: int, wallet_type: str, *, create: bool = True) -> int | None:
        """The ledger account of ``account``'s ``wallet_type`` wallet (SPOT: itself)."""
        wallet_type = (wallet_type or "").upper()
        if wallet_type == "SPOT":
            return account
        if wallet_type not in ACCOUNT_TYPES:
            raise AccountTypeNotSupported(f"account type {wallet_type!r} is not supported")
        aw = wt.account_wallets
        key = and_(aw.c.account_id == account, aw.c.wallet_type == wallet_type)
        with self.db.begin() as conn:
            found = conn.execute(select(aw.c.ledger_account).where(key)).scalar()
        if found is not None or not create:
            return found
        with self._wallet_lock:
            with self.db.begin() as conn:
                found = conn.execute(select(aw.c.ledger_account).where(key)).scalar()
            if found is not None:
                return found
            owner = self.engine.read(lambda e: e.wallet.accounts.get(account))
            if owner is None or owner.kind is AccountKind.SYSTEM:
                raise AccountTypeNotSupported(f"account {account} has no {wallet_type} wallet")
            acc = self.engine.execute(
                c.OpenAccount(AccountKind.USER, None, f"{wallet_type.lower()}:{account}")
            )
            with self.db.begin() as conn:
                conn.execute(
                    insert(aw).values(
                        account_id=account, wallet_type=wallet_type, ledger_account=acc.id
                    )
                )
            return acc.id

    def universal_transfer(
        self,
        account: int,
        from_type: str,
        to_type: str,
        asset: str,
        amount: int,
        *,
        client_id: str = "",
    ) -> TransferView:
        """Move ``amount`` units between the account's own wallets (SPOT <-> FUTURES)."""
        from_type, to_type = (from_type or "").upper(), (to_type or "").upper()
        if from_type not in ACCOUNT_TYPES or to_type not in ACCOUNT_TYPES:
            raise AccountTypeNotSupported("this account transfer is not supported")
        if from_type == to_type:
            raise AccountTypeNotSupported("fromAccountType and toAccountType must differ")
        code = self.asset(asset).code
        src = self.wallet_account(account, from_type)
        dst = self.wallet_account(account, to_type)
        assert src is not None and dst is not None
        tid = self.engine.execute(
            c.Transfer(src, dst, code, amount, client_id=client_id, initiator=account)
        )
        found = self._transfers(t.transfers.c.id == tid, 0, 1)[0]
        if not found:  # pragma: no cover - committed before the ack
            raise TransferNotFound(f"transfer {tid} not found")
        return TransferView(*found[0][:7], from_type=from_type, to_type=to_type)

    def _transfers(self, cond: Any, offset: int, limit: int) -> tuple[list[tuple], int]:
        tr = t.transfers
        with self.db.begin() as conn:
            total = conn.execute(select(func.count()).select_from(tr).where(cond)).scalar() or 0
            rows = conn.execute(
                select(
                    tr.c.id,
                    tr.c.from_account,
                    tr.c.to_account,
                    tr.c.asset,
                    tr.c.amount,
                    tr.c.client_id,
                    tr.c.time,
                )
                .where(cond)
                .order_by(tr.c.time.desc(), tr.c.id.desc())
                .offset(offset)
                .limit(limit)
            ).all()
        return [tuple(r) for r in rows], int(total)

    def transfers(
        self,
        *,
        from_accounts: Iterable[int] | None = None,
        to_accounts: Iterable[int] | None = None,
        start: int | None = None,
        end: int | None = None,
        client_id: str | None = None,
        page: int = 1,
        size: int = 500,
    ) -> tuple[list[TransferView], int]:
        """Transfers between ledger accounts (any of ``from_accounts`` to any of
        ``to_accounts``), newest first, with the total; the wallet types are resolved through
        ``account_wallets`` (a broker's universal transfer history builds on this)."""
        tr = t.transfers
        s, e = self.window(start, end)
        cond = and_(tr.c.time >= s, tr.c.time <= e)
        if from_accounts is not None:
            cond = and_(cond, tr.c.from_account.in_(list(from_accounts)))
        if to_accounts is not None:
            cond = and_(cond, tr.c.to_account.in_(list(to_accounts)))
        if client_id:
            cond = and_(cond, tr.c.client_id == client_id)
        page, size = max(1, page), max(1, min(size, 1000))
        rows, total = self._transfers(cond, (page - 1) * size, size)
        owners = self.wallet_owners({x for r in rows for x in (r[1], r[2])})
        out = [
            TransferView(
                *r,
                from_type=owners.get(r[1], (r[1], "SPOT"))[1],
                to_type=owners.get(r[2], (r[2], "SPOT"))[1],
            )
            for r in rows
        ]
        return out, total

    def wallet_owners(self, ledger_accounts: Iterable[int]) -> dict[int, tuple[int, str]]:
        """For ledger accounts that are someone's non-spot wallet: (owner, wallet type)."""
        wanted = list(ledger_accounts)
        if not wanted:
            return {}
        aw = wt.account_wallets
        with self.db.begin() as conn:
            rows = conn.execute(
                select(aw.c.ledger_account, aw.c.account_id, aw.c.wallet_type).where(
                    aw.c.ledger_account.in_(wanted)
                )
            ).all()
        return {r[0]: (r[1], r[2]) for r in rows}

    def transfer_history(
        self,
        account: int,
        from_type: str,
        to_type: str,
        *,
        start: int | None = None,
        end: int | None = None,
        page: int = 1,
        size: int = 10,
    ) -> tuple[list[TransferView], int]:
        """One direction of the account's universal transfers, newest first, and the total."""
        from_type, to_type = (from_type or "").upper(), (to_type or "").upper()
        if from_type not in ACCOUNT_TYPES or to_type not in ACCOUNT_TYPES or from_type == to_type:
            raise AccountTypeNotSupported("this account transfer is not supported")
        src = self.wallet_account(account, from_type, create=False)
        dst = self.wallet_account(account, to_type, create=False)
        if src is None or dst is None:
            return [], 0
        s, e = self.window(start, end, default_days=7)
        tr = t.transfers
        cond = and_(
            tr.c.from_account == src, tr.c.to_account == dst, tr.c.time >= s, tr.c.time <= e
        )
        page, size = max(1, page), max(1, min(size, 100))
        rows, total = self._transfers(cond, (page - 1) * size, size)
        return [TransferView(*r, from_type=from_type, to_type=to_type) for r in rows], total

    def get_transfer(self, account: int, tran_id: int) -> TransferView:
        """One of the account's universal transfers by id."""
        rows, _ = self._transfers(t.transfers.c.id == tran_id, 0, 1)
        if not rows:
            raise TransferNotFound(f"transfer {tran_id} does not exist")
        r = rows[0]
        types = {account: "SPOT"}
        aw = wt.account_wallets
        with self.db.begin() as conn:
            for wtype, ledger in conn.execute(
                select(aw.c.wallet_type, aw.c.ledger_account).where(aw.c.account_id == account)
            ):
                types[ledger] = wtype
        if r[1] not in types or r[2] not in types:
            raise TransferNotFound(f"transfer {tran_id} does not exist")
        return TransferView(*r, from_type=types[r[1]], to_type=types[r[2]])
