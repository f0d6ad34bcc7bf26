"""``audit.*``: read the operator audit log."""

from __future__ import annotations

from typing import Any

from bourse.operations.registry import operation
from bourse.services.bundle import Services
from bourse.store.repositories.audit import AuditLog


@operation("audit.list", mutates=False)
def list_audit(
    svc: Services, *, limit: int = 50, operation: str | None = None
) -> list[dict[str, Any]]:
    """The newest operator actions: who, what, when, from where, and how each ended."""
    return AuditLog(svc.db).recent(max(1, min(limit, 1000)), operation)
