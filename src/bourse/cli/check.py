"""``bourse check``: audit the ledger of a live or stopped database (``bourse.domain.ledger_check``).

Prints one line per discrepancy and exits 1 when there is any, else prints a one-line summary
and exits 0. It only reads (one consistent snapshot), so it is safe while a server runs.
"""

from __future__ import annotations

import typer

from bourse.cli.common import DbOption, console, db_url, err, fail, require_database, safe_url


def check(db: DbOption = None) -> None:
    """Audit the ledger: postings balanced, balances equal to the postings, locked funds equal
    to open orders and pending withdrawals, no negative balance, every account of a possible
    shape (kind and parent). Exits 1 on any discrepancy."""
    from bourse.domain.ledger_check import audit
    from bourse.store.db import make_engine
    from bourse.store.ledger_check import ledger_figures

    url = db_url(db)
    require_database(url)
    engine = make_engine(url)
    try:
        figures = ledger_figures(engine)
    except Exception as exc:  # database down, not migrated: one line, not a traceback
        raise fail(f"cannot read {safe_url(url)}: {str(exc).splitlines()[0]}") from exc
    finally:
        engine.dispose()
    problems = audit(figures)
    for line in problems:
        err.print(line, markup=False, highlight=False, soft_wrap=True)
    if problems:
        raise typer.Exit(1)
    console.print(
        f"ledger sound: {len(figures.balances)} balances of {len(figures.accounts)} accounts "
        "match their postings and reservations",
        highlight=False,
    )
