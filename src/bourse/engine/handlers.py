"""One handler per command: what the engine does with it, as a table (``HANDLERS``).

A handler gets the engine's state, the command and the batch's clock reading, and returns the
command's result (snapshots, never live objects the next command could change). It either
succeeds or raises a ``DomainError`` before changing anything; anything it records for the
store beyond the ledger and the exchange goes to ``state.pending``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from bourse.domain.accounts import (
    DUST_DESK,
    FEE_REVENUE,
    SANDBOX_FUNDING,
    AccountKind,
    check_movement,
    check_shape,
)
from bourse.domain.dust import (
    DAY_MS,
    UNSETTLED,
    DustConversion,
    DustQuote,
    dust_prices,
    quote,
    unsettled,
)
from bourse.domain.dust import MAX_PER_DAY as MAX_DUST_PER_DAY
from bourse.domain.errors import (
    DustLimitReached,
    DustPriceUnsettled,
    InvalidParameter,
    StpGroupRefused,
)
from bourse.domain.ledger import AVAILABLE
from bourse.domain.money import Asset
from bourse.domain.mx import MX
from bourse.domain.orders import Order
from bourse.domain.reference_price import MAX_DEVIATION_PPM
from bourse.domain.stp_groups import StpGroup
from bourse.domain.symbols import Symbol
from bourse.domain.wallet import Account, Withdrawal
from bourse.engine import commands as c
from bourse.engine.changes import DepositRecord, DustRecord, TransferRecord
from bourse.engine.idempotency import fingerprint
from bourse.engine.state import EngineState

#: a handler: (state, command, now in ms) -> result
Handler = Callable[[EngineState, Any, int], object]


# --- orders -----------------------------------------------------------------------------------
def place_order(s: EngineState, cmd: c.PlaceOrder, now: int) -> Order | None:
    req = cmd.request
    ex = s.exchange
    if cmd.test:
        ex.validate(req)
        return None
    s.wallet.active(req.account)
    if not req.client_id:  # nothing to deduplicate: skip the fingerprint
        return ex.place(req, now).__copy__()
    fp = fingerprint(
        req.symbol,
        req.side,
        str(req.type),
        req.qty,
        req.price,
        req.quote_qty,
        str(req.stp or ""),
    )
    prior = s.idempotency.prior("order", req.account, req.client_id, fp, now)
    if prior is not None:
        return _order_snapshot(s, prior)
    order = ex.place(req, now)
    s.idempotency.remember(s.pending, "order", req.account, req.client_id, fp, order.id)
    return order.__copy__()  # a snapshot (``copy.copy`` finds ``__copy__``, a few calls later)


def cancel_order(s: EngineState, cmd: c.CancelOrder, now: int) -> Order:
    order_id = cmd.order_id
    if order_id is None and cmd.client_id:
        # by client id: the order id its PlaceOrder remembered (one dict lookup), not a walk
        # over every order of the book; an id never used names no order (-1: none has it).
        # An open order's key is never forgotten (``engine.idempotency``), however old
        known = s.idempotency.keys.get(("order", cmd.account, cmd.client_id))
        order_id = known[1] if known is not None else -1
    order = s.exchange.cancel(cmd.account, cmd.symbol, now, order_id, cmd.client_id)
    return copy.copy(order)


def cancel_all(s: EngineState, cmd: c.CancelAll, now: int) -> list[Order]:
    return [copy.copy(o) for o in s.exchange.cancel_all(cmd.account, cmd.symbol, now)]


def _order_snapshot(s: EngineState, order_id: int) -> Order:
    """The order a retried client id first created: open, changed in this batch, or stored."""
    order = s.exchange.open_orders.get(order_id)
    if order is not None:
        return copy.copy(order)
    for o in s.exchange.changed_orders.values():
        if o.id == order_id:
            return copy.copy(o)
    stored = s.store.get_order(order_id)
    if stored is None:  # pragma: no cover - the key and the order commit together
        raise InvalidParameter(f"order {order_id} not found")
    return stored


# --- money movements --------------------------------------------------------------------------
def transfer(s: EngineState, cmd: c.Transfer, now: int) -> int:
    initiator = cmd.initiator if cmd.initiator is not None else cmd.from_account
    fp = fingerprint(cmd.from_account, cmd.to_account, cmd.asset, cmd.amount)
    prior = s.idempotency.prior("transfer", initiator, cmd.client_id, fp)
    if prior is not None:
        return prior
    if cmd.initiator is not None:  # a master moving its sub-accounts' money: not while frozen
        s.wallet.active(cmd.initiator)
    tid = s.wallet.transfer(cmd.from_account, cmd.to_account, cmd.asset, cmd.amount)
    s.pending.transfers.append(
        TransferRecord(
            tid, cmd.from_account, cmd.to_account, cmd.asset, cmd.amount, cmd.client_id, now
        )
    )
    s.idempotency.remember(s.pending, "transfer", initiator, cmd.client_id, fp, tid)
    return tid


def credit_deposit(s: EngineState, cmd: c.CreditDeposit, now: int) -> bool:
    """Credit a confirmed deposit once; False if its tx reference was already credited."""
    fp = fingerprint(cmd.account, cmd.asset, cmd.amount)
    if s.idempotency.prior("deposit", 0, cmd.tx_ref, fp) is not None:
        return False
    ref = s.next_deposit_id
    s.wallet.credit_deposit(cmd.account, cmd.asset, cmd.amount, ref)
    s.next_deposit_id += 1
    s.pending.deposits.append(
        DepositRecord(ref, cmd.tx_ref, cmd.account, cmd.asset, cmd.amount, now)
    )
    s.idempotency.remember(s.pending, "deposit", 0, cmd.tx_ref, fp, ref)
    return True


def pay_rebates(s: EngineState, cmd: c.PayRebates, now: int) -> bool:
    """Pay a settlement's rebates out of fee revenue once; False if it was already paid."""
    fp = fingerprint(cmd.payouts)
    if s.idempotency.prior("rebate", 0, cmd.settlement_key, fp) is not None:
        return False
    wallet = s.wallet
    totals: dict[str, int] = {}
    for account, asset, amount in cmd.payouts:
        check_movement("rebate", account, wallet.account(account).kind)
        wallet.asset(asset)
        if amount <= 0:
            raise InvalidParameter("rebate amounts must be positive")
        totals[asset] = totals.get(asset, 0) + amount
    for asset, total in totals.items():  # check everything before the first posting
        if s.exchange.ledger.available(FEE_REVENUE, asset) < total:
            raise InvalidParameter(f"fee revenue cannot cover {asset} rebates")
    ref = s.next_settlement_id
    s.next_settlement_id += 1
    for account, asset, amount in cmd.payouts:
        wallet.pay_rebate(account, asset, amount, ref)
    s.idempotency.remember(s.pending, "rebate", 0, cmd.settlement_key, fp, ref)
    return True


def convert_dust(s: EngineState, cmd: c.ConvertDust, now: int) -> DustConversion:
    """Each asset converts on its own (``domain.dust.quote``) while the desk has the MX; every
    check is made before the first posting, so nothing is ever half-converted. A price the
    conversion needs that strays from its reference refuses the whole request
    (``DustPriceUnsettled``): the account learns why, and nothing counts against its day."""
    account = cmd.account
    acc = s.wallet.active(account)
    if acc.kind is AccountKind.SYSTEM:
        raise InvalidParameter("system accounts convert nothing")
    done = s.store.dust_conversions_since(account, now - DAY_MS)
    done += len({d.id for d in s.pending.dust if d.account == account})
    if done >= MAX_DUST_PER_DAY:
        raise DustLimitReached(f"at most {MAX_DUST_PER_DAY} conversions in 24 hours")
    ex, ledger = s.exchange, s.exchange.ledger
    wanted = [a for a in dict.fromkeys(cmd.assets) if a in s.wallet.assets]
    bands = dust_prices(wanted, ex.references, ex.last_prices, now)
    quotes = {
        a: quote(a, ledger.available(account, a), ex.symbols, bands, s.wallet.assets)
        for a in wanted
    }
    moving = sorted(
        {p for a, q in quotes.items() if q.refusal == UNSETTLED for p in unsettled(a, bands)}
    )
    if moving:
        raise DustPriceUnsettled(
            f"the last price of {', '.join(moving)} is more than {MAX_DEVIATION_PPM // 10_000} % "
            "from its reference price; dust converts again when it settles",
            tuple(moving),
        )
    cid = s.next_dust_id
    desk_mx = ledger.available(DUST_DESK, MX)
    converted: list[DustQuote] = []
    failed: list[str] = []
    for asset in dict.fromkeys(cmd.assets):
        q = quotes.get(asset)
        if q is None or q.refusal is not None or q.mx > desk_mx:
            failed.append(asset)
            continue
        desk_mx -= q.mx
        ledger.post(account, AVAILABLE, DUST_DESK, AVAILABLE, asset, q.amount, "dust", cid)
        ledger.post(DUST_DESK, AVAILABLE, account, AVAILABLE, MX, q.net, "dust", cid)
        ledger.post(DUST_DESK, AVAILABLE, FEE_REVENUE, AVAILABLE, MX, q.fee, "dust_fee", cid)
        s.pending.dust.append(
            DustRecord(cid, len(converted), account, asset, q.amount, q.net, q.fee, now)
        )
        converted.append(q)
    if not converted:
        return DustConversion(0, now, (), tuple(failed))
    s.next_dust_id += 1
    return DustConversion(cid, now, tuple(converted), tuple(failed))


# --- withdrawals ------------------------------------------------------------------------------
def withdraw_fingerprint(cmd: c.ReserveWithdrawal) -> str:
    """What a retry of ``withdrawOrderId`` must repeat (version 2): what the client sent, and
    nothing the exchange derives from its settings, so that a retry matches whatever changed
    since: the coin, the amount requested (fee included, ``amount + fee``, not the split of
    the network's current fee), the address, the network as named ("" if left out, not the
    default it resolved to), the memo as sent, the remark and the ``contractAddress``.
    Version 1 (``withdraw_fingerprint_v1``) digested the resolved split, network and memo."""
    return fingerprint(
        "withdraw/2",
        cmd.asset,
        cmd.amount + cmd.fee,
        cmd.address,
        cmd.sent_network,
        cmd.sent_memo,
        cmd.remark,
        cmd.contract,
    )


def withdraw_fingerprint_v1(cmd: c.ReserveWithdrawal) -> str:
    """The fingerprint the keys of withdrawals reserved before version 2 hold: a retry of one
    of them still matches it while the network resolves and splits the amount as it did
    (their remark and contract were never part of it, so they cannot be compared)."""
    return fingerprint(cmd.asset, cmd.amount, cmd.fee, cmd.address, cmd.network, cmd.memo)


def reserve_withdrawal(s: EngineState, cmd: c.ReserveWithdrawal, now: int) -> Withdrawal:
    """The lookup of ``client_id`` and the reservation are one step of the single writer: a
    retry (however many race) answers the first withdrawal, or the conflict, before the
    account's state or the wallet's ``refusal`` is looked at; only a new request is refused
    by them, a frozen account (``AccountFrozen``, decided here, so a freeze racing the request
    is seen) before what the request itself got wrong."""
    fp = withdraw_fingerprint(cmd)
    prior = s.idempotency.prior(
        "withdraw", cmd.account, cmd.client_id, fp, legacy=withdraw_fingerprint_v1(cmd)
    )
    if prior is not None:
        return _withdrawal_snapshot(s, prior)
    s.wallet.active(cmd.account)
    if cmd.initiator is not None:
        s.wallet.active(cmd.initiator)
    if cmd.refusal is not None:
        raise cmd.refusal
    w = s.wallet.reserve_withdrawal(
        cmd.account,
        cmd.asset,
        cmd.amount,
        cmd.fee,
        cmd.address,
        cmd.network,
        cmd.memo,
        cmd.client_id,
        now,
        cmd.review,
        cmd.remark,
    )
    s.idempotency.remember(s.pending, "withdraw", cmd.account, cmd.client_id, fp, w.id)
    s.pending.withdrawals.append(copy.copy(w))
    return copy.copy(w)


def mark_withdrawal_processing(
    s: EngineState, cmd: c.MarkWithdrawalProcessing, now: int
) -> Withdrawal:
    return _withdrawal_changed(s, s.wallet.mark_processing(cmd.withdrawal_id, cmd.txid, now))


def approve_withdrawal(s: EngineState, cmd: c.ApproveWithdrawal, now: int) -> Withdrawal:
    return _withdrawal_changed(s, s.wallet.approve(cmd.withdrawal_id, now))


def reject_withdrawal(s: EngineState, cmd: c.RejectWithdrawal, now: int) -> Withdrawal:
    return _withdrawal_changed(s, s.wallet.reject(cmd.withdrawal_id, now))


def settle_withdrawal(s: EngineState, cmd: c.SettleWithdrawal, now: int) -> Withdrawal:
    return _withdrawal_changed(s, s.wallet.settle_withdrawal(cmd.withdrawal_id, cmd.txid, now))


def void_withdrawal(s: EngineState, cmd: c.VoidWithdrawal, now: int) -> Withdrawal:
    return _withdrawal_changed(s, s.wallet.void_withdrawal(cmd.withdrawal_id, now, cmd.failed))


def _withdrawal_changed(s: EngineState, w: Withdrawal) -> Withdrawal:
    snap = copy.copy(w)
    s.pending.withdrawals.append(snap)
    return snap


def _withdrawal_snapshot(s: EngineState, wid: int) -> Withdrawal:
    """The withdrawal a retried client id first created: open, pending, or stored."""
    w = s.wallet.withdrawals.get(wid)
    if w is not None:
        return copy.copy(w)
    for pending in s.pending.withdrawals:
        if pending.id == wid:
            return copy.copy(pending)
    stored = s.store.get_withdrawal(wid)
    if stored is None:  # pragma: no cover
        raise InvalidParameter(f"withdrawal {wid} not found")
    return stored


# --- accounts and fees ------------------------------------------------------------------------
def open_account(s: EngineState, cmd: c.OpenAccount, now: int) -> Account:
    parent = None if cmd.parent is None else s.wallet.account(cmd.parent).kind
    check_shape(cmd.kind, parent)
    acc = Account(s.next_account_id, cmd.kind, cmd.parent, False, cmd.name)
    s.next_account_id += 1
    s.wallet.accounts[acc.id] = acc
    s.pending.accounts.append(copy.copy(acc))
    return copy.copy(acc)


def set_account_frozen(s: EngineState, cmd: c.SetAccountFrozen, now: int) -> Account:
    """Freeze (cancelling every open order of the account) or unfreeze an account."""
    acc = s.wallet.account(cmd.account)
    if acc.kind is AccountKind.SYSTEM:
        raise InvalidParameter("system accounts cannot be frozen")
    if cmd.initiator is not None:  # a frozen master neither freezes nor unfreezes
        s.wallet.active(cmd.initiator)
    acc.frozen = cmd.frozen
    if cmd.frozen:
        s.exchange.cancel_account(acc.id, now, reason="account_frozen")
    s.pending.accounts.append(copy.copy(acc))
    return copy.copy(acc)


def set_fees(s: EngineState, cmd: c.SetFees, now: int) -> tuple[int, int]:
    s.wallet.account(cmd.account)
    fees = s.exchange.fees
    fees.set_account(cmd.account, cmd.maker, cmd.taker)
    rates = fees.overrides.get(cmd.account)
    s.pending.fees.append((cmd.account, rates[0], rates[1]) if rates else (cmd.account, None, None))
    return fees.rates(cmd.account)


def set_mx_deduct(s: EngineState, cmd: c.SetMxDeduct, now: int) -> bool:
    acc = s.wallet.account(cmd.account)
    if acc.kind is AccountKind.SYSTEM:
        raise InvalidParameter("system accounts pay no fees")
    acc.mx_deduct = cmd.enabled
    if cmd.enabled:
        s.exchange.mx_deduct.add(acc.id)
    else:
        s.exchange.mx_deduct.discard(acc.id)
    s.pending.accounts.append(copy.copy(acc))
    return acc.mx_deduct


# --- STP groups -------------------------------------------------------------------------------
def _stp_master(s: EngineState, owner: int) -> None:
    acc = s.wallet.account(owner)
    if acc.kind is AccountKind.SYSTEM or acc.parent is not None:
        raise StpGroupRefused("only a master account may manage STP groups")


def _stp_changed(s: EngineState, group: StpGroup) -> StpGroup:
    snap = copy.copy(group)
    snap.members = set(group.members)
    s.pending.stp_groups.append(snap)
    return snap


def create_stp_group(s: EngineState, cmd: c.CreateStpGroup, now: int) -> StpGroup:
    _stp_master(s, cmd.owner)
    return _stp_changed(s, s.stp_groups.create(cmd.owner, cmd.name, now))


def delete_stp_group(s: EngineState, cmd: c.DeleteStpGroup, now: int) -> StpGroup:
    _stp_master(s, cmd.owner)
    return _stp_changed(s, s.stp_groups.delete(cmd.owner, cmd.group_id, now))


def set_stp_group_members(s: EngineState, cmd: c.SetStpGroupMembers, now: int) -> StpGroup:
    _stp_master(s, cmd.owner)
    groups = s.stp_groups
    if cmd.add:
        accounts = s.wallet.accounts

        def parent_of(acc: int) -> int | None:
            found = accounts.get(acc)
            return found.parent if found is not None else None

        group = groups.add(cmd.owner, cmd.group_id, cmd.accounts, now, parent_of)
    else:
        group = groups.remove(cmd.owner, cmd.group_id, cmd.accounts, now)
    return _stp_changed(s, group)


# --- listings ---------------------------------------------------------------------------------
def add_asset(s: EngineState, cmd: c.AddAsset, now: int) -> Asset:
    old = s.wallet.assets.get(cmd.asset.code)
    if old is not None and old.scale != cmd.asset.scale:
        raise InvalidParameter(f"the scale of {old.code} cannot change")
    s.wallet.assets[cmd.asset.code] = cmd.asset
    s.pending.assets.append(cmd.asset)
    return cmd.asset


def add_symbol(s: EngineState, cmd: c.AddSymbol, now: int) -> Symbol:
    sym = cmd.symbol
    for a in (sym.base, sym.quote):
        known = s.wallet.assets.get(a.code)
        if known is None or known.scale != a.scale:
            raise InvalidParameter(f"asset {a.code} is not registered with that scale")
    old = s.exchange.symbols.get(sym.name)
    if old is not None and (old.price_scale, old.qty_scale) != (sym.price_scale, sym.qty_scale):
        raise InvalidParameter(f"the scales of {sym.name} cannot change")
    s.exchange.add_symbol(sym)
    s.pending.symbols.append(sym)
    return sym


# --- the sandbox (demo mode) -------------------------------------------------------------------
def reset_balances(s: EngineState, cmd: c.ResetBalances, now: int) -> dict[str, int]:
    """Cancel every customer order, then set every customer balance to its target."""
    wallet, ex = s.wallet, s.exchange
    customers = {a.id for a in wallet.accounts.values() if a.kind is not AccountKind.SYSTEM}
    targets: dict[tuple[int, str], int] = {}
    for account, asset, units in cmd.targets:
        if account not in customers or asset not in wallet.assets or units < 0:
            raise InvalidParameter(f"no reset target for account {account} {asset}")
        targets[(account, asset)] = units
    cancelled = 0
    owners = sorted({(o.account, o.symbol) for o in ex.open_orders.values()})
    for account, symbol in owners:
        if account in customers:
            cancelled += len(ex.cancel_all(account, symbol, now))
    moved = 0
    ledger = ex.ledger
    keys = sorted({k for k in ledger.balances if k[0] in customers} | set(targets))
    for key in keys:
        available = ledger.available(*key)
        want = targets.get(key, 0)
        account, asset = key
        if available > want:
            ledger.post(
                account, AVAILABLE, SANDBOX_FUNDING, AVAILABLE, asset, available - want, "reset"
            )
        elif available < want:
            ledger.post(
                SANDBOX_FUNDING, AVAILABLE, account, AVAILABLE, asset, want - available, "reset"
            )
        else:
            continue
        moved += 1
    return {"cancelled": cancelled, "balances": moved}


def claim_replay_key(s: EngineState, cmd: c.ClaimReplayKey, now: int) -> None:
    """Nothing to do: the engine checks and records the key around every handler."""
    return None


#: command type -> its handler
HANDLERS: dict[type[c.Command], Handler] = {
    c.PlaceOrder: place_order,
    c.CancelOrder: cancel_order,
    c.CancelAll: cancel_all,
    c.Transfer: transfer,
    c.CreditDeposit: credit_deposit,
    c.PayRebates: pay_rebates,
    c.ConvertDust: convert_dust,
    c.ReserveWithdrawal: reserve_withdrawal,
    c.MarkWithdrawalProcessing: mark_withdrawal_processing,
    c.ApproveWithdrawal: approve_withdrawal,
    c.RejectWithdrawal: reject_withdrawal,
    c.SettleWithdrawal: settle_withdrawal,
    c.VoidWithdrawal: void_withdrawal,
    c.OpenAccount: open_account,
    c.SetAccountFrozen: set_account_frozen,
    c.SetFees: set_fees,
    c.SetMxDeduct: set_mx_deduct,
    c.CreateStpGroup: create_stp_group,
    c.DeleteStpGroup: delete_stp_group,
    c.SetStpGroupMembers: set_stp_group_members,
    c.AddAsset: add_asset,
    c.AddSymbol: add_symbol,
    c.ResetBalances: reset_balances,
    c.ClaimReplayKey: claim_replay_key,
}
