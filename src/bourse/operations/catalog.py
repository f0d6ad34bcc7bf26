"""Every group of operations, imported: importing this module registers every operation.

The one list of the groups: a new group's module goes here. ``dispatch`` imports this module,
so whatever can invoke an operation finds them all.
"""

from bourse.operations import (  # noqa: F401 - each import registers its group's operations
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
