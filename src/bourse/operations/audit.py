"""``audit.*``: read the operator audit log and the money audit."""

from __future__ import annotations

from typing import Any

from bourse.domain.money import format_units
from bourse.operations.registry import OPERATIONS, operation
from bourse.services.bundle import Services
from bourse.store.repositories.audit import AuditLog, MoneyAudit


@operation("audit.list", mutates=False)
def list_audit(
    svc: Services, *, limit: int = 50, operation: str | None = None, reads: bool = True
) -> list[dict[str, Any]]:
    """The newest operator actions: who, what, when, from where, and how each ended
    (``reads=False``: not the operations that only read)."""
    quiet = () if reads else [name for name, op in OPERATIONS.items() if not op.mutates]
    return AuditLog(svc.db).recent(max(1, min(limit, 1000)), operation, quiet)


@operation("audit.money", mutates=False)
def money_audit(
    svc: Services, *, limit: int = 50, account: int | None = None, origin: str | None = None
) -> list[dict[str, Any]]:
    """The newest money movements with who made them (API key, OAuth client, operator,
    sandbox, system) and the request id, written with each movement: one row per account and
    asset a movement moved money in or out of (``direction``), so ``account`` finds every
    movement of that account's money."""
    rows = MoneyAudit(svc.db).recent(max(1, min(limit, 1000)), account, origin)
    assets = svc.engine.wallet.assets
    for row in rows:  # amounts as the wire writes them: decimal strings
        asset = assets.get(row["asset"])
        if row["amount"] is not None and asset is not None:
            row["amount"] = format_units(row["amount"], asset.scale)
    return rows
