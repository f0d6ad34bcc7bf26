"""Self-trade prevention: what happens when a taker meets a resting order of its own account.

One table says it for the match loop and for the dry run that sizes MARKET and FOK orders:
``(cancel_taker, cancel_maker)``. With neither, the two orders simply trade.

* the match loop stops the taker (CANCELED, or PARTIALLY_CANCELED after fills) when
  ``cancel_taker``, and cancels the resting order (reason ``stp_cancel``) when ``cancel_maker``;
* the dry run stops counting where the taker would be stopped, and skips a resting order that
  would be cancelled.
"""

from __future__ import annotations

from collections import deque
from typing import Final

from bourse.domain.matching.state import ExchangeState
from bourse.domain.orderbook import OrderBook
from bourse.domain.orders import Order, OrderStatus, StpMode
from bourse.domain.symbols import Symbol

#: mode -> (cancel the taker, cancel the resting maker)
ACTIONS: dict[StpMode, tuple[bool, bool]] = {
    StpMode.NONE: (False, False),
    StpMode.CANCEL_TAKER: (True, False),
    StpMode.CANCEL_MAKER: (False, True),
    StpMode.CANCEL_BOTH: (True, True),
}

REASON: Final = "stp_cancel"
_CANCELED: Final = OrderStatus.CANCELED
_PART_CANCELED: Final = OrderStatus.PARTIALLY_CANCELED


def prevent(
    state: ExchangeState,
    book: OrderBook,
    sym: Symbol,
    taker: Order,
    level: deque[Order],
    now: int,
) -> tuple[bool, int]:
    """Apply the taker's mode to the own order at the head of ``level``.

    Returns whether the taker is stopped, and the quantity taken off the level."""
    cancel_taker, cancel_maker = ACTIONS[taker.stp]
    if cancel_taker:
        taker.status = _PART_CANCELED if taker.filled_qty else _CANCELED
        taker.cancel_reason = REASON
    removed = 0
    if cancel_maker:
        maker = level.popleft()
        removed = maker.remaining
        state.close_resting(book, maker, sym, now, REASON)
    return cancel_taker, removed
