"""Every operator action, declared once and used by the operator API and the ``bourse`` command.

    @operation("keys.delete")
    def delete(svc: Services, *, api_key: str) -> dict[str, Any]: ...

``registry`` holds ``@operation`` and ``OPERATIONS``; one module per group declares its
operations, and ``catalog`` lists the groups (the one list of them); ``dispatch.invoke`` runs
one and writes its audit row; ``http`` serves them at ``POST /admin/v1/<group>/<verb>``, a
domain refusal with the status ``refusals`` gives it; ``home`` knows ``$BOURSE_HOME`` (the
operator credential and the runtime file of a running server) and ``dburl`` reads database URLs
for it.

Importing the package itself imports nothing: the ``bourse`` command reads ``home`` on every
run, and a command that a running server serves never needs the platform. ``catalog`` imports
every group and ``dispatch`` imports it, so whatever can run an operation sees them all; the
names below (``invoke``, ``OPERATIONS``, ...) load it on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bourse.operations.dispatch import invoke
    from bourse.operations.registry import OPERATIONS, Operation, OperationError, get, operation

__all__ = ["OPERATIONS", "Operation", "OperationError", "get", "invoke", "operation"]


def __getattr__(name: str) -> Any:
    """``invoke``, ``OPERATIONS``, ...: from the whole catalogue, loaded now. (A group is a
    submodule: ``from bourse.operations import accounts`` imports it.)"""
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from bourse.operations import dispatch, registry

    for where in (vars(dispatch), vars(registry)):
        if name in where:
            return where[name]
    raise AttributeError(name)
