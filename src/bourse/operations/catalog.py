"""Every group of operations, imported: importing this module registers every operation.

``dispatch`` imports it, so whatever can invoke an operation finds them all.
"""

from bourse.operations import (
    accounts,
    audit,
    broker_oauth,
    brokers,
    db,
    demo,
    keys,
    ledger,
    listings,
    referrals,
    sandbox,
    withdrawals,
)

__all__ = [
    "accounts",
    "audit",
    "broker_oauth",
    "brokers",
    "db",
    "demo",
    "keys",
    "ledger",
    "listings",
    "referrals",
    "sandbox",
    "withdrawals",
]
