"""The registry of operator actions: ``@operation("group.verb")`` declares one.

An operation is a plain function ``(services, **params) -> JSON-able`` over a running platform
(``bourse.services.bundle.Services``). The same function answers ``POST
/admin/v1/<group>/<verb>`` on the server (``bourse.operations.http``) and the ``bourse`` command
when no server runs (``bourse.cli.runner``), so both ways give the same result. Parameters are
keyword-only and JSON-typed (int, str, bool, lists of them), checked against the signature
before it runs (``params``: a value of the wrong type is a 400); an operation refuses with
``OperationError`` or a ``DomainError`` (its HTTP status from ``refusals.STATUS``), either's
message one line for the operator.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bourse.domain.errors import DomainError
from bourse.operations.params import ParamError, coerce, kinds
from bourse.operations.refusals import status_of
from bourse.services.bundle import Services

OperationFn = Callable[..., Any]


class OperationError(Exception):
    """An operation cannot proceed; ``str(exc)`` says why in one line.

    ``status`` is the HTTP status the operator API answers with: 400, a request that could
    never succeed; 403, demo-only outside demo mode; 404, no such thing; 409, a conflict with
    the current state (``refusals`` says which for each domain error); 429, over a limit; 503,
    the engine is elsewhere, or could not apply the command.
    """

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Operation:
    """One operator action: ``name`` is ``group.verb``; ``mutates`` says whether it changes
    state (read-only ones are still audited); ``demo_only`` refuses it outside demo mode."""

    name: str
    fn: OperationFn
    summary: str
    mutates: bool = True
    demo_only: bool = False

    @property
    def params(self) -> list[str]:
        return [
            p.name
            for p in inspect.signature(self.fn).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        ]

    def __call__(self, services: Services, params: dict[str, Any]) -> Any:
        unknown = sorted(set(params) - set(self.params))
        if unknown:
            raise OperationError(f"{self.name}: unknown parameter(s) {', '.join(unknown)}")
        try:
            inspect.signature(self.fn).bind(services, **params)
        except TypeError as exc:
            raise OperationError(f"{self.name}: {exc}") from None
        declared = kinds(self.fn)
        try:
            params = {k: coerce(k, v, declared[k]) for k, v in params.items()}
        except ParamError as exc:
            raise OperationError(str(exc)) from None
        try:
            result = self.fn(services, **params)
        except DomainError as exc:
            raise OperationError(exc.message or type(exc).__name__, status_of(exc)) from exc
        # the wire form: what a caller over HTTP would get (tuples become lists, ...)
        return json.loads(json.dumps(result, default=str))


OPERATIONS: dict[str, Operation] = {}


def operation(
    name: str, *, mutates: bool = True, demo_only: bool = False
) -> Callable[[OperationFn], OperationFn]:
    """Register ``fn`` as the operator action ``name`` (``group.verb``)."""
    group, _, verb = name.partition(".")
    if not group or not verb or "." in verb:
        raise ValueError(f"operation names are group.verb, not {name!r}")

    def register(fn: OperationFn) -> OperationFn:
        if name in OPERATIONS:
            raise ValueError(f"operation {name} is declared twice")
        summary = (inspect.getdoc(fn) or name).splitlines()[0]
        OPERATIONS[name] = Operation(name, fn, summary, mutates, demo_only)
        return fn

    return register


def get(name: str) -> Operation:
    """The operation ``name``; ``OperationError`` (404) when there is none."""
    op = OPERATIONS.get(name)
    if op is None:
        raise OperationError(f"no operation {name}", 404)
    return op
