"""``ledger.check``: the audit ``bourse check`` runs (``bourse.domain.ledger_check``), on the
running platform's database, read in one consistent snapshot."""

from __future__ import annotations

from typing import Any

from bourse.domain.ledger_check import audit
from bourse.operations.registry import operation
from bourse.services.bundle import Services
from bourse.store.ledger_check import ledger_figures


@operation("ledger.check", mutates=False)
def check(svc: Services) -> dict[str, Any]:
    """Audit the ledger: postings balanced, balances equal to the postings, locked funds equal
    to open orders and pending withdrawals, no negative balance."""
    figures = ledger_figures(svc.db)
    problems = audit(figures)
    return {
        "ok": not problems,
        "problems": problems,
        "balances": len(figures.balances),
        "accounts": len(figures.accounts),
    }
