"""``demo.*``: what a tester of the demo exchange needs from the operator."""

from __future__ import annotations

from typing import Any

from bourse.operations.registry import OperationError, operation
from bourse.sandbox.demo import demo_credentials
from bourse.services.bundle import Services


@operation("demo.credentials", mutates=False)
def credentials(svc: Services) -> dict[str, Any]:
    """The demo server's URL and its demo API keys (seeded by `bourse serve --demo`)."""
    creds = demo_credentials(svc)
    if not creds["accounts"]:  # not a demo database: its URL alone would mislead
        raise OperationError(
            "no demo credentials in this database: seed the demo by starting it once with "
            "`bourse serve --demo` (scripts/run does)",
            404,
        )
    return creds
