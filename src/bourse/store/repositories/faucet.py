"""What the sandbox faucet has credited: its deposits carry ``faucet:`` references."""

from __future__ import annotations

from sqlalchemy import func, select

from bourse.store.repositories.base import Repository
from bourse.store.tables import deposits

#: the ``tx_ref`` prefix of every faucet credit
FAUCET_REF = "faucet:"


class FaucetLedger(Repository):
    def credited_since(self, account: int, asset: str, since_ms: int) -> int:
        """Units of ``asset`` the faucet credited to ``account`` at or after ``since_ms``."""
        q = select(func.coalesce(func.sum(deposits.c.amount), 0)).where(
            deposits.c.account_id == account,
            deposits.c.asset == asset,
            deposits.c.time >= since_ms,
            deposits.c.tx_ref.startswith(FAUCET_REF, autoescape=True),
        )
        with self.db.connect() as conn:
            return int(conn.execute(q).scalar_one())
