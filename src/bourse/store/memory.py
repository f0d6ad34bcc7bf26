"""An in-memory ``EngineStore`` for domain tests and benchmarks (no durability)."""

from __future__ import annotations

import copy
from typing import Any

from bourse.domain.orders import OPEN_STATUSES, Order
from bourse.domain.reference_price import Reference
from bourse.domain.wallet import FINAL_WITHDRAWAL, Account, Withdrawal
from bourse.engine.changes import BatchChanges, Snapshot


class MemoryStore:
    def __init__(self) -> None:
        self.assets: dict[Any, Any] = {}
        self.symbols: dict[Any, Any] = {}
        self.accounts: dict[int, Account] = {}
        self.balances: dict[tuple[int, str], tuple[int, int]] = {}
        self.orders: dict[int, Order] = {}
        self.trades: list[Any] = []
        self.postings: list[Any] = []
        self.fees: dict[int, tuple[int, int]] = {}
        self.withdrawals: dict[int, Withdrawal] = {}
        self.idempotency: dict[Any, Any] = {}
        self.replays: dict[str, int] = {}
        self.sequences: dict[str, int] = {}
        self.transfers: list[Any] = []
        self.deposits: list[Any] = []
        self.keep_history = True
        self.commits = 0
        self.last_prices: dict[str, int] = {}
        self.references: dict[str, Reference] = {}
        self.stp_groups: dict[int, Any] = {}
        self.dust: list[Any] = []

    def load(self) -> Snapshot:
        return Snapshot(
            assets=list(self.assets.values()),
            symbols=list(self.symbols.values()),
            accounts=[copy.copy(a) for a in self.accounts.values()],
            balances=dict(self.balances),
            open_orders=[
                copy.copy(o) for _, o in sorted(self.orders.items()) if o.status in OPEN_STATUSES
            ],
            fee_overrides=dict(self.fees),
            open_withdrawals=[
                copy.copy(w) for w in self.withdrawals.values() if w.status not in FINAL_WITHDRAWAL
            ],
            idempotency=dict(self.idempotency),
            idempotency_closed={
                k: o.updated
                for k, (_, rid) in self.idempotency.items()
                if k[0] == "order"
                and (o := self.orders.get(rid)) is not None
                and o.status not in OPEN_STATUSES
            },
            sequences=dict(self.sequences),
            last_prices=dict(self.last_prices),
            references=dict(self.references),
            stp_groups=[copy.deepcopy(g) for g in self.stp_groups.values()],
            replays=dict(self.replays),
        )

    def commit(self, ch: BatchChanges) -> None:
        self.commits += 1
        for a in ch.assets:
            self.assets[a.code] = a
        for s in ch.symbols:
            self.symbols[s.name] = s
        for acc in ch.accounts:
            self.accounts[acc.id] = acc
        self.balances.update(ch.balances)
        for tr in ch.trades:
            self.last_prices[tr.symbol] = tr.price
        self.references.update(ch.references)
        for g in ch.stp_groups:
            self.stp_groups[g.id] = g
        self.dust.extend(ch.dust)
        for o in ch.orders:
            if self.keep_history or o.status in OPEN_STATUSES:
                self.orders[o.id] = o
            else:
                self.orders.pop(o.id, None)
        if self.keep_history:
            self.trades.extend(ch.trades)
            self.postings.extend(ch.postings)
            self.transfers.extend(ch.transfers)
            self.deposits.extend(ch.deposits)
        for account, maker, taker in ch.fees:
            if maker is None or taker is None:
                self.fees.pop(account, None)
            else:
                self.fees[account] = (maker, taker)
        for w in ch.withdrawals:
            self.withdrawals[w.id] = w
        for k, until in ch.replays:
            self.replays[k] = until
        for f in ch.idempotency_forgotten:
            key = (f.scope, f.account, f.client_id)
            if self.idempotency.get(key, ("", None))[1] == f.result_id:
                del self.idempotency[key]
        for r in ch.idempotency:
            self.idempotency[(r.scope, r.account, r.client_id)] = (r.fingerprint, r.result_id)
        self.sequences.update(ch.sequences)

    def get_order(self, order_id: int) -> Order | None:
        o = self.orders.get(order_id)
        return copy.copy(o) if o else None

    def dust_conversions_since(self, account: int, since: int) -> int:
        return len({d.id for d in self.dust if d.account == account and d.time >= since})

    def get_withdrawal(self, withdrawal_id: int) -> Withdrawal | None:
        w = self.withdrawals.get(withdrawal_id)
        return copy.copy(w) if w else None
