"""Matching with full accounting: the spot exchange's state machine.

``Exchange`` (``exchange``) places and cancels orders through a fixed pipeline: ``validation``
(stateless checks), ``locking`` (what an order locks, refusals that need the book or balances),
``loop`` (the one match loop for both sides), ``settlement`` (every fill posted to the ledger
with its fees as it happens) and ``stp`` (self-trade prevention). ``state`` holds the books,
open orders and ledger, and the moves that put an order on a book or take it off.
"""

from bourse.domain.matching.exchange import Exchange
from bourse.domain.matching.state import MAX_OPEN_ORDERS

__all__ = ["MAX_OPEN_ORDERS", "Exchange"]
