"""The engine's in-memory state, and how it is rebuilt from the store.

``EngineState`` is everything the command handlers read and change: the exchange (books,
matching, the ledger), the wallet, the id counters the engine hands out, the idempotency and replay
keys, and ``pending``, the changes of the current batch that are not in the ledger or the exchange's
own change record. It is only ever touched by the engine's single writer.
"""

from __future__ import annotations

from bourse.domain.accounts import SYSTEM_ACCOUNTS, AccountKind
from bourse.domain.fees import FeeSchedule
from bourse.domain.matching import Exchange
from bourse.domain.orders import StpMode
from bourse.domain.stp_groups import StpGroups
from bourse.domain.wallet import Account, Wallet
from bourse.engine.changes import BatchChanges, EngineStore
from bourse.engine.clock import Clock
from bourse.engine.idempotency import DEFAULT_RETENTION_MS, Idempotency
from bourse.engine.replays import Replays

#: the sequences' key of the last applied command stream sequence (``EngineState.command_seq``)
COMMAND_SEQ = "command_stream"


class EngineState:
    """What one engine holds in memory between batches."""

    def __init__(
        self,
        store: EngineStore,
        exchange: Exchange,
        wallet: Wallet,
        idempotency: Idempotency,
        sequences: dict[str, int],
        replays: Replays | None = None,
    ) -> None:
        self.store = store
        self.exchange = exchange
        self.wallet = wallet
        self.idempotency = idempotency
        self.replays = replays or Replays({})
        self.next_account_id = max(sequences.get("account", 100), 100)
        self.next_deposit_id = sequences.get("deposit", 1)
        self.next_settlement_id = sequences.get("settlement", 1)
        self.next_dust_id = sequences.get("dust", 1)
        #: the command stream's sequence of the last command applied (``engine.trace``)
        self.command_seq = sequences.get(COMMAND_SEQ, 0)
        self.stp_groups = StpGroups(exchange.stp_peers)
        self.pending = BatchChanges()

    def sequences(self) -> dict[str, int]:
        """The next free id of everything the engine numbers (committed with each batch)."""
        ex, wallet = self.exchange, self.wallet
        seqs = {
            "order": ex.next_order_id,
            "trade": ex.next_trade_id,
            "withdrawal": wallet.next_withdrawal_id,
            "transfer": wallet.next_transfer_id,
            "account": self.next_account_id,
            "deposit": self.next_deposit_id,
            "settlement": self.next_settlement_id,
            "dust": self.next_dust_id,
        }
        if self.command_seq:
            seqs[COMMAND_SEQ] = self.command_seq
        return seqs


def load_state(
    store: EngineStore,
    fees: tuple[int, int],
    stp_default: StpMode,
    clock: Clock,
    order_id_retention_ms: int = DEFAULT_RETENTION_MS,
) -> EngineState:
    """Rebuild books, balances, accounts and counters from the store's last committed batch.

    ``fees`` is the platform's default (maker, taker) rate pair; an order's client id is kept
    ``order_id_retention_ms`` after the order closed (``engine.idempotency``)."""
    snap = store.load()
    ex = Exchange(
        fees=FeeSchedule(*fees, overrides=dict(snap.fee_overrides)), stp_default=stp_default
    )
    wallet = Wallet(ex.ledger)
    for asset in snap.assets:
        wallet.assets[asset.code] = asset
    for sym in snap.symbols:
        ex.add_symbol(sym)
    for acc in snap.accounts:
        wallet.accounts[acc.id] = acc
        if acc.mx_deduct:
            ex.mx_deduct.add(acc.id)
    ex.last_prices.update(snap.last_prices)
    ex.references.update(snap.references)
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
    idempotency = Idempotency.loaded(
        dict(snap.idempotency), snap.idempotency_closed, clock, order_id_retention_ms
    )
    now = clock()
    replays = Replays({k: v for k, v in snap.replays.items() if v > now})
    state = EngineState(store, ex, wallet, idempotency, seq, replays)
    for group in snap.stp_groups:
        state.stp_groups.restore(group)
    return state
