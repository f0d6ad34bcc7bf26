"""Orders and trades as the matching core sees them (integers only)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final, NamedTuple

BUY: Final = 0
SELL: Final = 1


class OrderType(StrEnum):
    LIMIT = "LIMIT"
    MARKET = "MARKET"
    LIMIT_MAKER = "LIMIT_MAKER"
    IMMEDIATE_OR_CANCEL = "IMMEDIATE_OR_CANCEL"
    FILL_OR_KILL = "FILL_OR_KILL"


class OrderStatus(StrEnum):
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    PARTIALLY_CANCELED = "PARTIALLY_CANCELED"


OPEN_STATUSES = frozenset({OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED})
_NEW: Final = OrderStatus.NEW


class StpMode(StrEnum):
    """Self-trade prevention: what happens when an order would trade with its own account."""

    NONE = "none"  # allow self-trades
    CANCEL_TAKER = "cancel_taker"
    CANCEL_MAKER = "cancel_maker"
    CANCEL_BOTH = "cancel_both"


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A validated request to place an order; amounts already in integer units.

    ``qty`` is in quantity units, ``price`` in price units, ``quote_qty`` in quote ledger
    units. MARKET orders give ``qty`` or ``quote_qty``; every other type gives price and qty.
    ``type`` may be its plain string (``matching.validation.admit`` converts it): compiled by
    mypyc, the class checks its fields' types when built.
    """

    account: int
    symbol: str
    side: int
    type: OrderType | str
    qty: int = 0
    price: int = 0
    quote_qty: int = 0
    client_id: str = ""
    stp: StpMode | None = None
    source: str = ""
    broker_id: int | None = None


#: an ``Order``'s fields, in order (compiled by mypyc, the class has no ``__slots__``)
ORDER_FIELDS: Final = (
    "id",
    "account",
    "symbol",
    "side",
    "type",
    "price",
    "qty",
    "quote_qty",
    "remaining",
    "filled_qty",
    "filled_quote",
    "locked",
    "status",
    "client_id",
    "stp",
    "source",
    "broker_id",
    "created",
    "updated",
    "cancel_reason",
)


class Order:
    """A live or finished order. Mutable: the matcher updates it in place."""

    __slots__ = ORDER_FIELDS

    def __init__(
        self,
        id: int,
        account: int,
        symbol: str,
        side: int,
        type: OrderType,
        price: int,
        qty: int,
        quote_qty: int,
        client_id: str,
        stp: StpMode,
        source: str,
        broker_id: int | None,
        created: int,
    ) -> None:
        self.id = id
        self.account = account
        self.symbol = symbol
        self.side = side
        self.type = type
        self.price = price
        self.qty = qty
        self.quote_qty = quote_qty
        self.remaining = qty
        self.filled_qty = 0
        self.filled_quote = 0
        self.locked = 0
        self.status = _NEW
        self.client_id = client_id
        self.stp = stp
        self.source = source
        self.broker_id = broker_id
        self.created = created
        self.updated = created
        self.cancel_reason = ""

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def __copy__(self) -> Order:
        """A snapshot (the engine copies every changed order; ``copy.copy``'s generic
        reduce/reconstruct path is several times slower than this)."""
        o = Order(
            self.id, self.account, self.symbol, self.side, self.type, self.price, self.qty,
            self.quote_qty, self.client_id, self.stp, self.source, self.broker_id, self.created,
        )  # fmt: skip
        o.remaining = self.remaining
        o.filled_qty = self.filled_qty
        o.filled_quote = self.filled_quote
        o.locked = self.locked
        o.status = self.status
        o.updated = self.updated
        o.cancel_reason = self.cancel_reason
        return o

    def field_values(
        self,
    ) -> tuple[
        int, int, str, int, str, int, int, int, int, int, int, int, str, str, str, str,
        int | None, int, int, str,
    ]:  # fmt: skip
        """The fields in ``ORDER_FIELDS`` order, the enums as their plain values: the row the
        store writes (``store.batch_writes``), read here in compiled code (a compiled object's
        attribute read from Python goes through a descriptor each)."""
        return (
            self.id, self.account, self.symbol, self.side, str(self.type), self.price, self.qty,
            self.quote_qty, self.remaining, self.filled_qty, self.filled_quote, self.locked,
            str(self.status), self.client_id, str(self.stp), self.source, self.broker_id,
            self.created, self.updated, self.cancel_reason,
        )  # fmt: skip

    def __repr__(self) -> str:
        side = "BUY" if self.side == BUY else "SELL"
        return (
            f"Order({self.id} {self.symbol} {side} {self.type} p={self.price} q={self.qty} "
            f"rem={self.remaining} filled={self.filled_qty} {self.status})"
        )


class Trade(NamedTuple):
    """One fill between a taker and a maker order, with everything rebates need later.

    A tuple (immutable, of ints and strings only): the match loop builds one per fill with
    ``tuple.__new__``, and the cyclic GC stops tracking it at its first collection, where a
    ``__slots__`` object would be walked by every collection until the engine drained it.
    """

    id: int
    symbol: str
    price: int
    qty: int
    quote_qty: int
    buyer_order: int
    seller_order: int
    buyer_account: int
    seller_account: int
    taker_side: int
    #: in base ledger units (the buyer receives base)
    buyer_fee: int
    #: in quote ledger units (the seller receives quote)
    seller_fee: int
    buyer_broker: int | None
    seller_broker: int | None
    time: int
    #: the asset a side paid its fee in when not the usual one ("": base / quote); "MX"
    #: when the account pays fees in MX (``domain.mx``)
    buyer_fee_asset: str = ""
    seller_fee_asset: str = ""

    def fee_asset(self, buyer: bool, base: str, quote: str) -> str:
        """The asset one side paid its fee in."""
        if buyer:
            return self.buyer_fee_asset or base
        return self.seller_fee_asset or quote

    @property
    def is_buyer_maker(self) -> bool:
        return self.taker_side == SELL
