"""Every operator action, declared once and used by the operator API and the ``bourse`` command.

    @operation("keys.delete")
    def delete(svc: Services, *, api_key: str) -> dict[str, Any]: ...

``registry`` holds ``@operation`` and ``OPERATIONS``; one module per group declares its
operations (``accounts``, ``keys``, ``brokers``, ``broker_oauth``, ``referrals``, ``demo``,
``audit``, ``sandbox``, ``db``, ``listings``, ``withdrawals``, ``ledger``); ``dispatch.invoke`` runs
one and writes its audit row; ``http`` serves them at ``POST /admin/v1/<group>/<verb>``;
``home`` knows ``$BOURSE_HOME`` (the operator credential and the runtime file of a running
server). Importing this package registers every operation.
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
from bourse.operations.dispatch import invoke
from bourse.operations.registry import OPERATIONS, Operation, OperationError, get, operation

__all__ = [
    "OPERATIONS",
    "Operation",
    "OperationError",
    "accounts",
    "audit",
    "broker_oauth",
    "brokers",
    "db",
    "demo",
    "get",
    "invoke",
    "keys",
    "ledger",
    "listings",
    "operation",
    "referrals",
    "sandbox",
    "withdrawals",
]
