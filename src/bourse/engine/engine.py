"""The single-writer engine with group commit.

One thread owns all mutable exchange state. Callers ``submit`` commands from any thread (or
``await engine.run(cmd)`` from asyncio); the engine takes everything queued, applies it in
order in memory, commits the whole batch in ONE store transaction, and only then resolves the
callers' futures. While a batch commits, the next one queues up, so throughput grows with load
(group commit) while every acknowledged command is durable.

If a command fails with a ``DomainError`` nothing was changed (the domain checks before it
posts) and only that caller sees the error. Any other exception, or a failed commit, means the
in-memory state may have diverged from the store: the engine fails the whole batch and reloads
its state from the store, which still holds exactly the last committed batch.

Readers that need a consistent view (balances, depth) call ``engine.read(fn)``, which runs
``fn`` under the same lock the engine holds while applying and committing a batch, so they only
ever see committed state.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import hashlib
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from bourse.domain.accounts import FEE_REVENUE, SYSTEM_ACCOUNTS, AccountKind
from bourse.domain.errors import DomainError, IdempotencyConflict, InvalidParameter
from bourse.domain.fees import FeeSchedule
from bourse.domain.matching import Exchange
from bourse.domain.orders import OrderStatus, StpMode
from bourse.domain.wallet import FINAL_WITHDRAWAL, Account, Wallet
from bourse.engine import commands as c
from bourse.engine.changes import (
    BatchChanges,
    DepositRecord,
    EngineStore,
    IdempotencyRecord,
    TransferRecord,
)
from bourse.engine.clock import now_ms

log = logging.getLogger("bourse.engine")

T = TypeVar("T")
_STOP = object()


class EngineUnavailable(Exception):
    """The batch could not be committed; the command did not take effect."""


def _fingerprint(*parts: Any) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


class Engine:
    def __init__(
        self,
        store: EngineStore,
        *,
        fees: FeeSchedule | None = None,
        stp_default: StpMode = StpMode.CANCEL_TAKER,
        max_batch: int = 2000,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.store = store
        self._default_fees = (fees or FeeSchedule()).maker, (fees or FeeSchedule()).taker
        self.stp_default = stp_default
        self.max_batch = max_batch
        self.clock = clock
        self.lock = threading.RLock()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._listeners: list[Callable[[BatchChanges], None]] = []
        self.batches = 0
        self._load()

    # --- state -------------------------------------------------------------------------------
    def _load(self) -> None:
        snap = self.store.load()
        fees = FeeSchedule(*self._default_fees, overrides=dict(snap.fee_overrides))
        ex = Exchange(fees=fees, stp_default=self.stp_default)
        wallet = Wallet(ex.ledger)
        for asset in snap.assets:
            wallet.assets[asset.code] = asset
        for sym in snap.symbols:
            ex.add_symbol(sym)
        for acc in snap.accounts:
            wallet.accounts[acc.id] = acc
        for sid, name in SYSTEM_ACCOUNTS.items():
            wallet.accounts.setdefault(sid, Account(sid, AccountKind.SYSTEM, name=name))
        for key, (avail, locked) in snap.balances.items():
            ex.ledger.balances[key] = [avail, locked]
        for order in snap.open_orders:
            ex.restore_order(order)
        for w in snap.open_withdrawals:
            wallet.withdrawals[w.id] = w
        seq = snap.sequences
        ex.next_order_id = max(ex.next_order_id, seq.get("order", 1))
        ex.next_trade_id = max(ex.next_trade_id, seq.get("trade", 1))
        wallet.next_withdrawal_id = seq.get("withdrawal", 1)
        wallet.next_transfer_id = seq.get("transfer", 1)
        self.next_account_id = max(seq.get("account", 100), 100)
        self.next_deposit_id = seq.get("deposit", 1)
        self.next_settlement_id = seq.get("settlement", 1)
        self.idempotency = dict(snap.idempotency)
        self.exchange = ex
        self.wallet = wallet
        self._pending = BatchChanges()

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> Engine:
        if self._thread is None:
            # the loaded books and balances live for the whole run: keep them out of the
            # cyclic GC's generations so full collections do not rescan them
            gc.freeze()
            self._thread = threading.Thread(target=self._loop, name="bourse-engine", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None

    def subscribe(self, listener: Callable[[BatchChanges], None]) -> None:
        """Call ``listener(changes)`` on the engine thread after every committed batch."""
        self._listeners.append(listener)

    # --- submitting --------------------------------------------------------------------------
    def submit(self, command: c.Command) -> Future[Any]:
        fut: Future[Any] = Future()
        self._queue.put((command, fut))
        return fut

    def execute(self, command: c.Command, timeout: float | None = 30.0) -> Any:
        """Submit and wait (blocking); raises the command's error."""
        if self._thread is None:
            return self.apply_batch_now([command])[0]
        return self.submit(command).result(timeout)

    async def run(self, command: c.Command) -> Any:
        return await asyncio.wrap_future(self.submit(command))

    def read(self, fn: Callable[[Engine], T]) -> T:
        """Run ``fn(engine)`` against committed state."""
        with self.lock:
            return fn(self)

    def apply_batch_now(self, commands: list[c.Command]) -> list[Any]:
        """Apply and commit ``commands`` on the calling thread (tests, tools, recovery-free use).

        Returns each result or raises the first error after the batch is committed.
        """
        futs: list[Future[Any]] = [Future() for _ in commands]
        self._run_batch(list(zip(commands, futs, strict=True)))
        return [f.result() for f in futs]

    # --- the loop ----------------------------------------------------------------------------
    def _loop(self) -> None:
        q = self._queue
        while True:
            item = q.get()
            if item is _STOP:
                return
            batch = [item]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    nxt = q.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                batch.append(nxt)
            self._run_batch(batch)
            if stop:
                return

    def _run_batch(self, batch: list[tuple[c.Command, Future[Any]]]) -> None:
        outcomes: list[tuple[Future[Any], Any, BaseException | None]] = []
        with self.lock:
            try:
                # one writer per database: if another process wrote since we loaded, reload
                ensure_writer = getattr(self.store, "ensure_writer", None)
                if ensure_writer is not None and not ensure_writer():
                    self._load()
                for command, fut in batch:
                    try:
                        outcomes.append((fut, self._apply(command), None))
                    except DomainError as exc:
                        outcomes.append((fut, None, exc))
                changes = self._collect()
                if not changes.is_empty():
                    self.store.commit(changes)
                self.batches += 1
            except Exception as exc:  # a bug or a failed commit: state may have diverged
                log.exception("batch of %d commands failed; reloading state", len(batch))
                err = EngineUnavailable(f"batch not committed: {exc}")
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(err)
                try:
                    self._load()
                except Exception:
                    log.exception("reload after failed batch failed")
                return
            for listener in self._listeners:
                try:
                    listener(changes)
                except Exception:
                    log.exception("listener failed")
        for fut, result, exc in outcomes:
            if exc is not None:
                fut.set_exception(exc)
            else:
                fut.set_result(result)

    def _collect(self) -> BatchChanges:
        ex, wallet = self.exchange, self.wallet
        changes = self._pending
        self._pending = BatchChanges()
        postings, touched = ex.ledger.drain()
        balances = ex.ledger.balances
        changes.postings = postings
        changes.balances = {k: (balances[k][0], balances[k][1]) for k in touched}
        orders, trades = ex.drain()
        changes.orders = [copy.copy(o) for o in orders.values()]
        changes.trades = trades
        changes.sequences = {
            "order": ex.next_order_id,
            "trade": ex.next_trade_id,
            "withdrawal": wallet.next_withdrawal_id,
            "transfer": wallet.next_transfer_id,
            "account": self.next_account_id,
            "deposit": self.next_deposit_id,
            "settlement": self.next_settlement_id,
        }
        return changes

    # --- applying ----------------------------------------------------------------------------
    def _idempotent(self, scope: str, account: int, client_id: str, fingerprint: str) -> int | None:
        """The stored result id for a retried client id, or None if it is new."""
        if not client_id:
            return None
        hit = self.idempotency.get((scope, account, client_id))
        if hit is None:
            return None
        if hit[0] != fingerprint:
            raise IdempotencyConflict(
                f"client id {client_id!r} was already used with different parameters"
            )
        return hit[1]

    def _remember(
        self, scope: str, account: int, client_id: str, fingerprint: str, result_id: int
    ) -> None:
        if not client_id:
            return
        self.idempotency[(scope, account, client_id)] = (fingerprint, result_id)
        self._pending.idempotency.append(
            IdempotencyRecord(scope, account, client_id, fingerprint, result_id, self.clock())
        )

    def _apply(self, cmd: c.Command) -> Any:
        ex, wallet, now = self.exchange, self.wallet, self.clock()
        if isinstance(cmd, c.PlaceOrder):
            req = cmd.request
            if cmd.test:
                ex.validate(req)
                return None
            wallet.active(req.account)
            if not req.client_id:  # nothing to deduplicate: skip the fingerprint
                return copy.copy(ex.place(req, now))
            fp = _fingerprint(
                req.symbol,
                req.side,
                str(req.type),
                req.qty,
                req.price,
                req.quote_qty,
                str(req.stp or ""),
            )
            prior = self._idempotent("order", req.account, req.client_id, fp)
            if prior is not None:
                return self._order_snapshot(prior)
            order = ex.place(req, now)
            self._remember("order", req.account, req.client_id, fp, order.id)
            return copy.copy(order)
        if isinstance(cmd, c.CancelOrder):
            order = ex.cancel(cmd.account, cmd.symbol, now, cmd.order_id, cmd.client_id)
            return copy.copy(order)
        if isinstance(cmd, c.CancelAll):
            return [copy.copy(o) for o in ex.cancel_all(cmd.account, cmd.symbol, now)]
        if isinstance(cmd, c.Transfer):
            initiator = cmd.initiator if cmd.initiator is not None else cmd.from_account
            fp = _fingerprint(cmd.from_account, cmd.to_account, cmd.asset, cmd.amount)
            prior = self._idempotent("transfer", initiator, cmd.client_id, fp)
            if prior is not None:
                return prior
            tid = wallet.transfer(cmd.from_account, cmd.to_account, cmd.asset, cmd.amount)
            self._pending.transfers.append(
                TransferRecord(
                    tid,
                    cmd.from_account,
                    cmd.to_account,
                    cmd.asset,
                    cmd.amount,
                    cmd.client_id,
                    now,
                )
            )
            self._remember("transfer", initiator, cmd.client_id, fp, tid)
            return tid
        if isinstance(cmd, c.CreditDeposit):
            fp = _fingerprint(cmd.account, cmd.asset, cmd.amount)
            prior = self._idempotent("deposit", 0, cmd.tx_ref, fp)
            if prior is not None:
                return False
            ref = self.next_deposit_id
            wallet.credit_deposit(cmd.account, cmd.asset, cmd.amount, ref)
            self.next_deposit_id += 1
            self._pending.deposits.append(
                DepositRecord(ref, cmd.tx_ref, cmd.account, cmd.asset, cmd.amount, now)
            )
            self._remember("deposit", 0, cmd.tx_ref, fp, ref)
            return True
        if isinstance(cmd, c.ReserveWithdrawal):
            fp = _fingerprint(cmd.asset, cmd.amount, cmd.fee, cmd.address, cmd.network, cmd.memo)
            prior = self._idempotent("withdraw", cmd.account, cmd.client_id, fp)
            if prior is not None:
                return self._withdrawal_snapshot(prior)
            w = wallet.reserve_withdrawal(
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
            )
            self._remember("withdraw", cmd.account, cmd.client_id, fp, w.id)
            self._pending.withdrawals.append(copy.copy(w))
            return copy.copy(w)
        if isinstance(cmd, c.MarkWithdrawalProcessing):
            return self._withdrawal_changed(
                wallet.mark_processing(cmd.withdrawal_id, cmd.txid, now)
            )
        if isinstance(cmd, c.ApproveWithdrawal):
            return self._withdrawal_changed(wallet.approve(cmd.withdrawal_id, now))
        if isinstance(cmd, c.SettleWithdrawal):
            return self._withdrawal_changed(
                wallet.settle_withdrawal(cmd.withdrawal_id, cmd.txid, now)
            )
        if isinstance(cmd, c.VoidWithdrawal):
            return self._withdrawal_changed(
                wallet.void_withdrawal(cmd.withdrawal_id, now, cmd.failed)
            )
        if isinstance(cmd, c.PayRebates):
            fp = _fingerprint(cmd.payouts)
            prior = self._idempotent("rebate", 0, cmd.settlement_key, fp)
            if prior is not None:
                return False
            totals: dict[str, int] = {}
            for account, asset, amount in cmd.payouts:
                wallet.account(account)
                wallet.asset(asset)
                if amount <= 0:
                    raise InvalidParameter("rebate amounts must be positive")
                totals[asset] = totals.get(asset, 0) + amount
            for asset, total in totals.items():  # check everything before the first posting
                if ex.ledger.available(FEE_REVENUE, asset) < total:
                    raise InvalidParameter(f"fee revenue cannot cover {asset} rebates")
            ref = self.next_settlement_id
            self.next_settlement_id += 1
            for account, asset, amount in cmd.payouts:
                wallet.pay_rebate(account, asset, amount, ref)
            self._remember("rebate", 0, cmd.settlement_key, fp, ref)
            return True
        if isinstance(cmd, c.OpenAccount):
            if cmd.kind is AccountKind.SYSTEM:
                raise InvalidParameter("system accounts are fixed")
            if cmd.parent is not None:
                wallet.account(cmd.parent)
            acc = Account(self.next_account_id, cmd.kind, cmd.parent, False, cmd.name)
            self.next_account_id += 1
            wallet.accounts[acc.id] = acc
            self._pending.accounts.append(copy.copy(acc))
            return copy.copy(acc)
        if isinstance(cmd, c.SetAccountFrozen):
            acc = wallet.account(cmd.account)
            if acc.kind is AccountKind.SYSTEM:
                raise InvalidParameter("system accounts cannot be frozen")
            acc.frozen = cmd.frozen
            if cmd.frozen:
                ex.cancel_account(acc.id, now, reason="account_frozen")
            self._pending.accounts.append(copy.copy(acc))
            return copy.copy(acc)
        if isinstance(cmd, c.SetFees):
            wallet.account(cmd.account)
            ex.fees.set_account(cmd.account, cmd.maker, cmd.taker)
            rates = ex.fees.overrides.get(cmd.account)
            self._pending.fees.append(
                (cmd.account, rates[0], rates[1]) if rates else (cmd.account, None, None)
            )
            return ex.fees.rates(cmd.account)
        if isinstance(cmd, c.AddAsset):
            old = wallet.assets.get(cmd.asset.code)
            if old is not None and old.scale != cmd.asset.scale:
                raise InvalidParameter(f"the scale of {old.code} cannot change")
            wallet.assets[cmd.asset.code] = cmd.asset
            self._pending.assets.append(cmd.asset)
            return cmd.asset
        if isinstance(cmd, c.AddSymbol):
            sym = cmd.symbol
            for a in (sym.base, sym.quote):
                known = wallet.assets.get(a.code)
                if known is None or known.scale != a.scale:
                    raise InvalidParameter(f"asset {a.code} is not registered with that scale")
            old = ex.symbols.get(sym.name)
            if old is not None and (old.price_scale, old.qty_scale) != (
                sym.price_scale,
                sym.qty_scale,
            ):
                raise InvalidParameter(f"the scales of {sym.name} cannot change")
            ex.add_symbol(sym)
            self._pending.symbols.append(sym)
            return sym
        raise InvalidParameter(f"unknown command {type(cmd).__name__}")

    def _withdrawal_changed(self, w: Any) -> Any:
        snap = copy.copy(w)
        self._pending.withdrawals.append(snap)
        return snap

    def _order_snapshot(self, order_id: int) -> Any:
        order = self.exchange.open_orders.get(order_id)
        if order is not None:
            return copy.copy(order)
        for o in self.exchange.changed_orders.values():
            if o.id == order_id:
                return copy.copy(o)
        stored = self.store.get_order(order_id)
        if stored is None:  # pragma: no cover - the key and the order commit together
            raise InvalidParameter(f"order {order_id} not found")
        return stored

    def _withdrawal_snapshot(self, wid: int) -> Any:
        w = self.wallet.withdrawals.get(wid)
        if w is not None:
            return copy.copy(w)
        for pending in self._pending.withdrawals:
            if pending.id == wid:
                return copy.copy(pending)
        stored = self.store.get_withdrawal(wid)
        if stored is None:  # pragma: no cover
            raise InvalidParameter(f"withdrawal {wid} not found")
        return stored


__all__ = ["Engine", "EngineUnavailable", "FINAL_WITHDRAWAL", "OrderStatus"]
