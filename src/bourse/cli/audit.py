"""``bourse audit``: the operator audit log (operation ``audit.list``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from bourse.cli.common import DbOption, JsonOption, print_json, table
from bourse.cli.runner import run


def audit_cmd(
    limit: Annotated[int, typer.Option(help="How many of the newest rows.")] = 50,
    operation: Annotated[str | None, typer.Option(help="Only this operation.")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Who did what, when and from where, through the operator API or this command."""
    rows = run(db, "audit.list", {"limit": limit, "operation": operation}, quiet=as_json)
    if as_json:
        print_json(rows)
        return
    table(
        "Operator audit log",
        ("time (UTC)", "actor", "from", "operation", "outcome", "detail"),
        [
            (
                datetime.fromtimestamp(r["time"] / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S"),
                r["actor"],
                r["source"],
                r["operation"],
                r["outcome"],
                r["detail"],
            )
            for r in rows
        ],
        keep=("time (UTC)", "actor", "operation"),
    )
