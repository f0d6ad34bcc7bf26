"""The operator audit log and the money audit (``bourse.store.audit_tables``): append the
operator's rows and read both back (the engine writes the money audit with its batches)."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from sqlalchemy import insert, select

from bourse.store.audit_tables import money_audit, operator_audit
from bourse.store.repositories.base import Repository
from bourse.store.transaction import write


class AuditLog(Repository):
    """Rows of ``operator_audit``; each ``record`` is its own transaction."""

    def record(
        self,
        *,
        time: int,
        actor: str,
        source: str,
        operation: str,
        params: dict[str, Any],
        outcome: str,
        detail: str = "",
    ) -> None:
        with write(self.db) as conn:
            conn.execute(
                insert(operator_audit).values(
                    time=time,
                    actor=actor[:128],
                    source=source[:64],
                    operation=operation[:64],
                    params=json.dumps(params, sort_keys=True, default=str),
                    outcome=outcome,
                    detail=detail,
                )
            )

    def recent(
        self, limit: int = 100, operation: str | None = None, without: Collection[str] = ()
    ) -> list[dict[str, Any]]:
        """The newest ``limit`` rows, newest first; none of the operations in ``without``."""
        q = select(operator_audit).order_by(operator_audit.c.id.desc()).limit(limit)
        if operation:
            q = q.where(operator_audit.c.operation == operation)
        if without:
            q = q.where(operator_audit.c.operation.not_in(sorted(without)))
        with self.db.connect() as conn:
            rows = conn.execute(q).mappings().all()
        return [{**r, "params": json.loads(r["params"])} for r in rows]


class MoneyAudit(Repository):
    """Rows of ``money_audit`` (written by the engine, atomically with each movement)."""

    def recent(
        self, limit: int = 100, account: int | None = None, origin: str | None = None
    ) -> list[dict[str, Any]]:
        """The newest ``limit`` rows, newest first (a movement's rows in reverse ``leg``
        order); only ``account``'s (every movement in or out of it: one row per account
        touched, ``engine.trace.origin_records``), and only origins starting with ``origin``
        (``api_key:``, ``operator``), when given. By time, then id: the rows migration 0020
        split off the ones stored before it have later ids than their movements' times."""
        m = money_audit.c
        q = select(money_audit).order_by(m.time.desc(), m.id.desc()).limit(limit)
        if account is not None:
            q = q.where(m.account == account)
        if origin:
            q = q.where(m.origin.startswith(origin, autoescape=True))
        with self.db.connect() as conn:
            rows = conn.execute(q).mappings().all()
        return [{**r, "detail": json.loads(r["detail"])} for r in rows]
