"""Run one operation for an operator and write its audit row.

``invoke`` is what both the operator API and the ``bourse`` command on a stopped server call:
it finds the operation, refuses demo-only ones outside demo mode, runs it, and records who
asked what, when, from where and how it ended in ``operator_audit`` (refusals and failures
included). Parameters are audited; results never are (they may hold a new key's secret).
It imports ``catalog``: whatever can invoke an operation finds them all.
"""

from __future__ import annotations

from typing import Any

from bourse.engine import CommandFailed, EngineUnavailable, trace
from bourse.engine.clock import now_ms
from bourse.engine.trace import set_origin
from bourse.operations import catalog  # noqa: F401 - registers every operation
from bourse.operations.registry import OperationError, get
from bourse.services.bundle import Services
from bourse.store.repositories.audit import AuditLog

#: what an engine failure that is not the command's own most likely means here: another process
#: holds the database's writer lock, or keeps it busy
_ANOTHER_SERVER = (
    ": is a server running on this database? Start it with its BOURSE_HOME, or stop it"
)


def is_demo(svc: Services) -> bool:
    """Whether the platform runs in demo mode (sandbox wallet endpoints and controls on)."""
    return bool(svc.wallet.settings.sandbox)


def invoke(svc: Services, name: str, params: dict[str, Any], *, actor: str, source: str) -> Any:
    """The result of operation ``name`` with ``params`` (JSON-typed), audited."""
    before = trace.current.get()
    set_origin(f"operator:{actor}")  # recorded with every money movement the operation makes
    try:
        return _invoke(svc, name, params, actor=actor, source=source)
    finally:  # the caller's thread acts as itself again (a test, a CLI process)
        trace.current.set(before)


def _invoke(svc: Services, name: str, params: dict[str, Any], *, actor: str, source: str) -> Any:
    audit = AuditLog(svc.db)
    try:
        op = get(name)
        if op.demo_only and not is_demo(svc):
            raise OperationError(
                f"{name} is available only in demo mode (bourse serve --demo)", 403
            )
        result = op(svc, params)
    except OperationError as exc:
        _record(audit, actor, source, name, params, "refused", str(exc))
        raise
    except EngineUnavailable as exc:
        _record(audit, actor, source, name, params, "error", str(exc))
        # a command that failed alone (the store refused it) says nothing of another server
        hint = "" if isinstance(exc, CommandFailed) else _ANOTHER_SERVER
        raise OperationError(f"{exc}{hint}", 503) from exc
    except Exception as exc:
        _record(audit, actor, source, name, params, "error", f"{type(exc).__name__}: {exc}")
        raise
    _record(audit, actor, source, name, params, "ok", "")
    return result


def _record(
    audit: AuditLog,
    actor: str,
    source: str,
    name: str,
    params: dict[str, Any],
    outcome: str,
    detail: str,
) -> None:
    try:
        audit.record(
            time=now_ms(),
            actor=actor,
            source=source,
            operation=name,
            params=params,
            outcome=outcome,
            detail=detail,
        )
    except Exception:  # the database is gone: the caller's own error says more
        if outcome == "ok":
            raise
