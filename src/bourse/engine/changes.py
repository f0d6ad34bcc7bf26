"""What the engine hands the store: one batch of changes to commit atomically, and the state it
loads back on start. These are the engine's port; ``bourse.store`` implements it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from bourse.domain.ledger import Posting
from bourse.domain.money import Asset
from bourse.domain.orders import Order, Trade
from bourse.domain.reference_price import Reference
from bourse.domain.stp_groups import StpGroup
from bourse.domain.symbols import Symbol
from bourse.domain.wallet import Account, Withdrawal


class TransferRecord(NamedTuple):
    id: int
    from_account: int
    to_account: int
    asset: str
    amount: int
    client_id: str
    time: int


class DepositRecord(NamedTuple):
    id: int
    tx_ref: str
    account: int
    asset: str
    amount: int
    time: int


class DustRecord(NamedTuple):
    """One converted asset of one dust conversion (``line`` numbers the assets)."""

    id: int
    line: int
    account: int
    asset: str
    amount: int
    convert: int  # MX paid to the account (after the fee)
    fee: int  # MX
    time: int


class OriginRecord(NamedTuple):
    """Who moved money: one account's part in one money-movement command, with the command's
    origin and request id (``engine.trace.origin_records``), committed in the same batch as
    the movement."""

    time: int
    command: str
    origin: str
    request_id: str
    account: int | None
    asset: str
    amount: int | None  # units, never negative: ``direction`` says which way
    direction: str  # "in", "out", or "" (held, released or only a state change)
    leg: int  # 0 for the movement's first row, 1, 2... for the other accounts' and assets'
    #: the id of what the command made (a transfer, withdrawal, dust conversion, deposit or
    #: rebate settlement: the ref of its ledger postings), if any
    ref: int | None
    detail: str  # the command's other fields, JSON


class IdempotencyRecord(NamedTuple):
    scope: str  # "order", "transfer", "withdraw", "deposit"
    account: int
    client_id: str
    fingerprint: str
    result_id: int
    time: int


class ForgottenKey(NamedTuple):
    """An order's client id whose retention ran out (``engine.idempotency``): its row is
    deleted if it still names ``result_id``."""

    scope: str
    account: int
    client_id: str
    result_id: int


class ReplayRecord(NamedTuple):
    key: str  # digest of the API key and the request's signature
    expires: int  # ms: refused until then


@dataclass(slots=True)
class BatchChanges:
    """Everything one batch changed; committed in ONE transaction."""

    postings: list[Posting] = field(default_factory=list)
    balances: dict[tuple[int, str], tuple[int, int]] = field(default_factory=dict)
    orders: list[Order] = field(default_factory=list)
    trades: list[Trade] = field(default_factory=list)
    accounts: list[Account] = field(default_factory=list)
    fees: list[tuple[int, int | None, int | None]] = field(default_factory=list)
    withdrawals: list[Withdrawal] = field(default_factory=list)
    transfers: list[TransferRecord] = field(default_factory=list)
    deposits: list[DepositRecord] = field(default_factory=list)
    idempotency: list[IdempotencyRecord] = field(default_factory=list)
    #: client ids forgotten (expired order keys), deleted from the store in this batch
    idempotency_forgotten: list[ForgottenKey] = field(default_factory=list)
    replays: list[ReplayRecord] = field(default_factory=list)
    #: replay keys that expired before this time (ms) may be dropped from the store
    replays_expired_before: int = 0
    assets: list[Asset] = field(default_factory=list)
    symbols: list[Symbol] = field(default_factory=list)
    stp_groups: list[StpGroup] = field(default_factory=list)
    dust: list[DustRecord] = field(default_factory=list)
    #: the reference prices this batch's trades moved, by symbol (``domain.reference_price``)
    references: dict[str, Reference] = field(default_factory=dict)
    #: money movements' origins (``engine.trace``)
    origins: list[OriginRecord] = field(default_factory=list)
    #: next free ids after this batch: "order", "trade", "withdrawal", "transfer", "account", "deposit"
    sequences: dict[str, int] = field(default_factory=dict)

    def is_empty(self) -> bool:
        return not (
            self.postings
            or self.orders
            or self.accounts
            or self.fees
            or self.withdrawals
            or self.idempotency
            or self.idempotency_forgotten
            or self.replays
            or self.assets
            or self.symbols
            or self.stp_groups
        )


@dataclass(slots=True)
class Snapshot:
    """The engine's durable state as loaded on start."""

    assets: list[Asset]
    symbols: list[Symbol]
    accounts: list[Account]
    balances: dict[tuple[int, str], tuple[int, int]]
    open_orders: list[Order]  # in id order (= time priority)
    fee_overrides: dict[int, tuple[int, int]]
    open_withdrawals: list[Withdrawal]
    idempotency: dict[tuple[str, int, str], tuple[str, int]]
    sequences: dict[str, int]
    #: when the order of each order key closed (ms), for the keys whose order is closed
    #: (``engine.idempotency`` forgets them after its retention)
    idempotency_closed: dict[tuple[str, int, str], int] = field(default_factory=dict)
    #: the last trade price of each symbol that ever traded (prices MX fees)
    last_prices: dict[str, int] = field(default_factory=dict)
    #: the reference price of each symbol that ever traded (``domain.reference_price``)
    references: dict[str, Reference] = field(default_factory=dict)
    #: every STP group ever made, deleted ones included (they keep their ids taken)
    stp_groups: list[StpGroup] = field(default_factory=list)
    #: replay key -> expiry (ms) of the keys accepted lately (``engine.replays``)
    replays: dict[str, int] = field(default_factory=dict)


class EngineStore(Protocol):
    """The store as the engine sees it."""

    def load(self) -> Snapshot: ...

    def commit(self, changes: BatchChanges) -> None: ...

    def get_order(self, order_id: int) -> Order | None: ...

    def get_withdrawal(self, withdrawal_id: int) -> Withdrawal | None: ...

    def dust_conversions_since(self, account: int, since: int) -> int:
        """How many dust conversions ``account`` made from ``since`` (ms) on."""
        ...
