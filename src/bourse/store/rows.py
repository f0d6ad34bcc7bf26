"""Domain objects rebuilt from stored rows (mapping access), for the engine store and reads."""

from __future__ import annotations

from typing import Any

from bourse.domain.orders import Order, OrderStatus, OrderType, StpMode
from bourse.domain.wallet import Withdrawal, WithdrawalStatus


def order_from_row(row: Any) -> Order:
    """Rebuild a domain ``Order`` from an ``orders`` row (mapping access)."""
    o = Order(
        row["id"],
        row["account_id"],
        row["symbol"],
        row["side"],
        OrderType(row["type"]),
        row["price"],
        row["qty"],
        row["quote_qty"],
        row["client_id"],
        StpMode(row["stp"]),
        row["source"],
        row["broker_id"],
        row["created"],
    )
    o.remaining = row["remaining"]
    o.filled_qty = row["filled_qty"]
    o.filled_quote = row["filled_quote"]
    o.locked = row["locked"]
    o.status = OrderStatus(row["status"])
    o.updated = row["updated"]
    o.cancel_reason = row["cancel_reason"]
    return o


def withdrawal_from_row(row: Any) -> Withdrawal:
    """Rebuild a domain ``Withdrawal`` from a ``withdrawals`` row (mapping access)."""
    return Withdrawal(
        row["id"],
        row["account_id"],
        row["asset"],
        row["amount"],
        row["fee"],
        row["address"],
        row["network"],
        row["memo"],
        row["client_id"],
        WithdrawalStatus(row["status"]),
        row["txid"],
        row["created"],
        row["updated"],
        row["remark"],
    )
